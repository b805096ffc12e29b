"""What the suite measures: the model configurations and the real data sets they train on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scvae.config import DataConfig, ModelConfig, TrainingConfig

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SEED = 1


@dataclass(frozen=True)
class DataSetSpec:
    """A labelled 2,000-gene counts file under ``../shared/data``."""

    key: str
    path: str
    description: str

    @property
    def file(self) -> Path:
        return SHARED / self.path


DATA_SETS = {
    spec.key: spec
    for spec in (
        DataSetSpec(
            "pbmc4k",
            "scdeepcluster_10x_pbmc4k_top2000/10X_PBMC_top2000.h5",
            "10x PBMC 4k, 4,271 cells x 2,000 genes, 8 labels",
        ),
        DataSetSpec(
            "cbmc",
            "scdcc_cite_cbmc_top2000/CITE_CBMC_counts_top2000.h5",
            "CITE-seq CBMC, 8,617 cells x 2,000 genes, 15 labels",
        ),
    )
}


@dataclass(frozen=True)
class Configuration:
    """A named model and training set-up, with the command line it stands for."""

    key: str
    title: str
    command: str
    model: ModelConfig
    learning_rate: float = TrainingConfig().learning_rate
    minibatch_size: int = TrainingConfig().minibatch_size
    full_epochs: int = 20
    peer: bool = False

    def training(self, epochs: int, models_directory: Path, threads: int) -> TrainingConfig:
        """The training configuration for ``epochs`` epochs in a fresh run folder."""
        return TrainingConfig(
            number_of_epochs=epochs,
            minibatch_size=self.minibatch_size,
            learning_rate=self.learning_rate,
            models_directory=str(models_directory),
            seed=SEED,
            device="cpu",
            threads=threads,
            reset_training=True,
        )


CONFIGURATIONS = {
    config.key: config
    for config in (
        Configuration(
            "default",
            "default model",
            "scvae train DATA --split-data-set",
            ModelConfig(),
            full_epochs=10,
        ),
        Configuration(
            "paper_gmvae",
            "paper's PBMC GMVAE",
            "-m GMVAE -r negative_binomial -l 100 -H 100 100 -w 200 --split-data-set "
            "--defaults 2.1.4",
            ModelConfig.with_defaults(
                "2.1.4",
                model_type="GMVAE",
                reconstruction_distribution="negative_binomial",
                latent_size=100,
                hidden_sizes=(100, 100),
                number_of_warm_up_epochs=200,
            ),
            learning_rate=1e-4,
            full_epochs=6,
        ),
        Configuration(
            "scvi_equivalent",
            "scVI-equivalent VAE",
            "-r negative_binomial -l 10 -H 128 -B 100 --learning-rate 0.001 --split-data-set "
            "(observed library size, as scVI)",
            ModelConfig(
                reconstruction_distribution="negative_binomial", latent_size=10, hidden_sizes=(128,)
            ),
            learning_rate=1e-3,
            full_epochs=20,
            peer=True,
        ),
    )
}


def data_config(work: Path) -> DataConfig:
    """Split 81/9/10 (the default method); data cached under ``work/data``."""
    return DataConfig(data_directory=str(work / "data"), split_data_set=True)
