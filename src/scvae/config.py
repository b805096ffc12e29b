"""Typed, frozen configuration: the only home of scvae's defaults.

Each field carries its command-line spelling in ``metadata`` (``flags``, ``help`` and,
where needed, ``nargs``, ``type`` and ``choices``); :mod:`scvae.cli.options` builds the
argparse options from these dataclasses so the CLI and the API share one set of
defaults. Configurations round-trip through JSON (``to_dict``/``from_dict``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def option(default: Any, *flags: str, help: str, **extra: Any) -> Any:
    """A dataclass field with its command-line flags and help text."""
    metadata = {"flags": flags, "help": help, **extra}
    if isinstance(default, list):
        default = tuple(default)
    return field(default=default, metadata=metadata)


class _Config:
    """Mixin: JSON round trip with unknown keys refused."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[T], values: dict[str, Any]) -> T:
        names = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = set(values) - set(names)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys: {', '.join(sorted(unknown))}")
        # options a saved configuration predates behave as they did before they existed
        absent = {key: value for key, value in ABSENT_VALUES.items() if key in names}
        converted = {
            key: tuple(value) if isinstance(value, list) else value
            for key, value in {**absent, **values}.items()
        }
        return cls(**converted)

    @classmethod
    def with_defaults(cls: type[T], profile: str, **values: Any) -> T:
        """A configuration with ``profile``'s defaults (e.g. ``"2.1.4"``) under ``values``."""
        section = next(name for name, kind in CONFIG_CLASSES.items() if kind is cls)
        return cls(**{**profile_defaults(section, profile), **values})

    def replace(self: T, **changes: Any) -> T:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


ABSENT_VALUES: dict[str, Any] = {
    "library_size": "none",
    "mixture_initialisation_epoch": 0,
    "mixture_weight_smoothing": 0.0,
    "component_revival_interval": 0,
    "dispersion": "cell",
}
"""Values of options added in this version, for configurations saved before them."""

DEFAULTS_PROFILES = ("current", "2.1.4")
"""Sets of defaults: this version's, and scVAE 2.1.4's (see :data:`ORIGINAL_DEFAULTS`)."""

ORIGINAL_DEFAULTS: dict[str, dict[str, Any]] = {
    "model": {
        "reconstruction_distribution": "poisson",
        "latent_size": 2,
        "hidden_sizes": (100,),
        "library_size": "none",
        "mixture_initialisation_epoch": 0,
        "component_revival_interval": 0,
        "prior_probabilities_method": "uniform",
        "dispersion": "cell",
    },
    "training": {"learning_rate": 1e-4, "number_of_epochs": 200},
}
"""scVAE 2.1.4's defaults where this version's differ, by configuration section."""


def profile_defaults(section: str, profile: str) -> dict[str, Any]:
    """The defaults of ``section`` (``"model"``, ``"training"``...) that ``profile`` changes."""
    if profile not in DEFAULTS_PROFILES:
        raise ValueError(
            f"unknown defaults {profile!r}; choose one of: {', '.join(DEFAULTS_PROFILES)}"
        )
    return dict(ORIGINAL_DEFAULTS.get(section, {})) if profile == "2.1.4" else {}


@dataclass(frozen=True)
class DataConfig(_Config):
    """Where the data come from and how they are processed (reference §1.2)."""

    format: str = option(
        "infer", "--format", "-f", help="data format; 'infer' guesses it from the path"
    )
    data_directory: str = option(
        "data", "--data-directory", "-D", metavar="DIR", help="where downloaded and cached data go"
    )
    map_features: bool = option(
        False, "--map-features", help="map feature ids to names (summing counts)", action="flag"
    )
    feature_selection: tuple[str, ...] = option(
        (), "--feature-selection", "-F", nargs="+", help="method and optional parameters"
    )
    example_filter: tuple[str, ...] = option(
        (), "--example-filter", "-E", nargs="+", help="method and optional parameters"
    )
    preprocessing_methods: tuple[str, ...] = option(
        (), "--preprocessing-methods", "-p", nargs="+", help="applied in order to the network input"
    )
    noisy_preprocessing_methods: tuple[str, ...] = option(
        (),
        "--noisy-preprocessing-methods",
        "--np",
        nargs="+",
        help="re-applied to the input every epoch",
    )
    split_data_set: bool = option(
        False,
        "--split-data-set",
        help="split into training, validation and test sets",
        action="flag",
    )
    splitting_method: str = option(
        "default",
        "--splitting-method",
        help="default, random, sequential, indices or macosko",
        choices=("default", "random", "sequential", "indices", "macosko"),
    )
    splitting_fraction: float = option(
        0.9, "--splitting-fraction", type=float, help="fraction for training (and validation)"
    )
    genome: str | None = option(
        None, "--genome", help="genome to read from a multi-genome 10x file"
    )
    layer: str | None = option(
        None, "--layer", help="AnnData layer to read instead of X ('raw' for raw.X)"
    )
    labels: str | None = option(
        None, "--labels", metavar="PATH", help="a labels file for the examples"
    )
    label_key: str | None = option(
        None, "--label-key", help="obs column (h5ad) or column attribute (Loom) holding labels"
    )
    batch_key: str | None = option(
        None, "--batch-key", help="obs column (h5ad) or column attribute (Loom) holding batches"
    )
    backed: bool = option(
        False,
        "--backed",
        help="leave the values on disk and read minibatches from there (large data sets)",
        action="flag",
    )
    backed_above: float = option(
        8.0,
        "--backed-above",
        type=float,
        metavar="GB",
        help="leave the values on disk when they would take more than this many GB in "
        "memory (known for h5ad CSR files and built caches; 'inf' turns this off)",
    )


@dataclass(frozen=True)
class ModelConfig(_Config):
    """Model options (reference §1.3)."""

    model_type: str = option(
        "VAE", "--model-type", "-m", help="VAE or GMVAE", choices=("VAE", "GMVAE"), upper=True
    )
    latent_size: int = option(10, "--latent-size", "-l", type=int, help="latent dimensions")
    hidden_sizes: tuple[int, ...] = option(
        (128,), "--hidden-sizes", "-H", nargs="+", type=int, help="units per hidden layer"
    )
    number_of_importance_samples: tuple[int, ...] = option(
        (1,),
        "--number-of-importance-samples",
        nargs="+",
        type=int,
        help="one value, or training then evaluation values",
    )
    number_of_monte_carlo_samples: tuple[int, ...] = option(
        (1,),
        "--number-of-monte-carlo-samples",
        nargs="+",
        type=int,
        help="one value, or training then evaluation values",
    )
    inference_architecture: str = option(
        "MLP", "--inference-architecture", help="MLP or LFM", choices=("MLP", "LFM"), upper=True
    )
    latent_distribution: str | None = option(
        None,
        "--latent-distribution",
        "-q",
        help="latent distribution (default: the model type's own)",
    )
    number_of_classes: int | None = option(
        None,
        "--number-of-classes",
        "-K",
        type=int,
        help="GMVAE components and k-means clusters (default: from the labels)",
    )
    parameterise_latent_posterior: bool = option(
        False,
        "--parameterise-latent-posterior",
        help="parameterise the latent posterior",
        action="flag",
    )
    generative_architecture: str = option(
        "MLP", "--generative-architecture", help="MLP or LFM", choices=("MLP", "LFM"), upper=True
    )
    reconstruction_distribution: str = option(
        "negative_binomial", "--reconstruction-distribution", "-r", help="likelihood of the counts"
    )
    number_of_reconstruction_classes: int = option(
        0,
        "--number-of-reconstruction-classes",
        "-k",
        type=int,
        help="k_max of the piecewise-categorical likelihood (0: off)",
    )
    prior_probabilities_method: str = option(
        "learn",
        "--prior-probabilities-method",
        help="GMVAE mixture weights: learn (fitted with the model), uniform, infer (the "
        "training labels' shares), or kmeans (the shares of the k-means clusters the components are placed on, "
        "see --mixture-initialisation-epoch)",
        choices=("uniform", "infer", "learn", "kmeans"),
    )
    mixture_weight_smoothing: float = option(
        0.0,
        "--mixture-weight-smoothing",
        type=float,
        help="GMVAE with learned mixture weights: pull p(y) towards uniform with this "
        "weight (a symmetric Dirichlet prior on the weights; at 1, each weight settles "
        "at half its components' share of the cells plus half of 1/K); the reported "
        "bound is unchanged (0: off)",
    )
    number_of_warm_up_epochs: int = option(
        0, "--number-of-warm-up-epochs", "-w", type=int, help="epochs of linear KL warm-up"
    )
    kl_weight: float = option(1.0, "--kl-weight", type=float, help="weight on the KL terms")
    proportion_of_free_nats_for_y_kl_divergence: float = option(
        0.0,
        "--proportion-of-free-nats-for-y-kl-divergence",
        type=float,
        help="GMVAE free nats on KL_y, as a proportion of H[p(y)]",
    )
    minibatch_normalisation: bool = option(
        True,
        "--minibatch-normalisation",
        "-b",
        help="batch normalisation in hidden layers",
        action="toggle",
    )
    batch_correction: bool = option(
        False, "--batch-correction", "--bc", help="decoder sees the batch", action="flag"
    )
    dropout_keep_probabilities: tuple[float, ...] = option(
        (),
        "--dropout-keep-probabilities",
        nargs="+",
        type=float,
        help="keep probabilities: hidden, x input, z input[, y input]",
    )
    count_sum: bool = option(
        False, "--count-sum", help="decoder sees the normalised count sum", action="flag"
    )
    mixture_initialisation_epoch: int = option(
        5,
        "--mixture-initialisation-epoch",
        type=int,
        help="GMVAE: after this many epochs, place the mixture components at a k-means fit "
        "of the training cells' latent means (0: never)",
    )
    component_revival_interval: int = option(
        5,
        "--component-revival-interval",
        type=int,
        help="GMVAE: every this many epochs after the placement (while as many remain), "
        "move components that hold almost no training cells onto one half of the widest "
        "cluster (0: never)",
    )
    library_size: str = option(
        "observed",
        "--library-size",
        help="count likelihoods: 'observed' scales each cell's mean by its total count "
        "(capped there in evaluation); "
        "'proportions' makes the mean the total count times proportions that sum to one "
        "over the genes, so no mean exceeds the cell's total; 'none' leaves the model to "
        "learn the depth (as scVAE 2.1.4)",
        choices=("observed", "proportions", "none"),
    )
    dispersion: str = option(
        "gene",
        "--dispersion",
        help="negative binomials: 'gene' learns one shape r per gene, shared by all cells; "
        "'cell' makes r an output of the decoder for each cell and gene (as scVAE 2.1.4)",
        choices=("gene", "cell"),
    )


@dataclass(frozen=True)
class TrainingConfig(_Config):
    """Training options (reference §1.3-§1.4)."""

    number_of_epochs: int = option(
        60, "--number-of-epochs", "-e", type=int, help="total number of epochs"
    )
    minibatch_size: int = option(100, "--minibatch-size", "-B", type=int, help="minibatch size")
    learning_rate: float = option(1e-3, "--learning-rate", type=float, help="Adam learning rate")
    run_id: str | None = option(None, "--run-id", help="run ID ([A-Za-z0-9_]+)")
    new_run: bool = option(False, "--new-run", help="start a new run with a new ID", action="flag")
    reset_training: bool = option(
        False, "--reset-training", help="delete saved parameters first", action="flag"
    )
    models_directory: str = option(
        "models", "--models-directory", "-M", metavar="DIR", help="models directory"
    )
    caches_directory: str | None = option(
        None,
        "--caches-directory",
        "-C",
        metavar="DIR",
        help="train here and move the result at the end",
    )
    early_stopping: bool = option(
        False, "--early-stopping", help="stop after 10 epochs without improvement", action="flag"
    )
    analyses_directory: str | None = option(
        None,
        "--analyses-directory",
        "-A",
        metavar="DIR",
        help="if given, make intermediate plots here while training",
    )
    defaults: str = option(
        "current",
        "--defaults",
        help="'2.1.4' takes scVAE 2.1.4's defaults for every option not given (Poisson, "
        "latent size 2, one hidden layer of 100, learning rate 1e-4, no library size, no "
        "mixture placement), to reproduce runs of the original",
        choices=DEFAULTS_PROFILES,
    )
    seed: int | None = option(None, "--seed", type=int, help="random seed (reproducible runs)")
    device: str = option(
        "auto",
        "--device",
        help="auto (a GPU if there is one), cpu, cuda, cuda:N (GPU number N) or mps",
    )
    threads: int | None = option(None, "--threads", type=int, help="CPU threads for torch")
    processes: int = option(
        1,
        "--processes",
        type=int,
        help="train with this many processes on this machine (DistributedDataParallel); "
        "under torchrun the launcher's process count is used instead",
    )
    epoch_evaluation_cells: int = option(
        20_000,
        "--epoch-evaluation-cells",
        type=int,
        metavar="N",
        help="after each epoch, evaluate a training or validation set of more than N cells "
        "(learning curves, early stopping) on a fixed random N of its cells, the same every "
        "epoch; 0 or 'all': every cell",
    )


@dataclass(frozen=True)
class EvaluationConfig(_Config):
    """Evaluation options (reference §1.6)."""

    evaluation_set_kind: str = option(
        "test",
        "--evaluation-set-kind",
        help="set to evaluate",
        choices=("training", "validation", "test", "full"),
    )
    prediction_training_set_kind: str = option(
        "training",
        "--prediction-training-set-kind",
        help="set used to fit k-means",
        choices=("training", "validation", "test", "full"),
    )
    prediction_method: str | None = option(
        None,
        "--prediction-method",
        "-P",
        help="clusters by k-means on the latent means (kmeans), or the GMVAE's own (model)",
    )
    model_versions: tuple[str, ...] = option(
        ("all",),
        "--model-versions",
        nargs="+",
        help="model versions to evaluate",
    )
    sample_size: int = option(0, "--sample-size", type=int, help="samples from the model")
    model_directory: str | None = option(
        None, "--model-directory", metavar="DIR", help="a trained model's (run) directory"
    )
    write_into: str | None = option(
        None,
        "--write-into",
        metavar="FILE",
        help="also add the results of every cell to this .h5ad file, in place",
    )


@dataclass(frozen=True)
class AnalysisConfig(_Config):
    """Analysis options (reference §1.5)."""

    analyses_directory: str = option(
        "analyses", "--analyses-directory", "-A", metavar="DIR", help="where analyses are written"
    )
    included_analyses: tuple[str, ...] = option(
        ("standard",), "--included-analyses", nargs="+", help="groups of analyses, or single ones"
    )
    analysis_level: str = option(
        "normal",
        "--analysis-level",
        help="limited, normal or extensive",
        choices=("limited", "normal", "extensive"),
    )
    decomposition_methods: tuple[str, ...] = option(
        ("pca",), "--decomposition-methods", nargs="+", help="projections for the scatter plots"
    )
    highlight_feature_indices: tuple[int, ...] = option(
        (), "--highlight-feature-indices", nargs="+", type=int, help="features to colour by"
    )
    export_options: tuple[str, ...] = option((), "--export-options", nargs="+", help="publication")


CONFIG_CLASSES: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "training": TrainingConfig,
    "evaluation": EvaluationConfig,
    "analysis": AnalysisConfig,
}


def save_configs(path: str | Path, **configs: _Config) -> None:
    """Write configurations as one JSON object ``{section: {...}}`` (atomically)."""
    from scvae.io import atomic_write_text

    payload = {name: config.to_dict() for name, config in configs.items()}
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def load_configs(path: str | Path) -> dict[str, Any]:
    """Read configurations written by :func:`save_configs`."""
    payload = json.loads(Path(path).read_text())
    return {name: CONFIG_CLASSES[name].from_dict(values) for name, values in payload.items()}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_tuple_of(check: Any) -> Any:
    return lambda value: isinstance(value, tuple) and all(check(item) for item in value)


def _is_int(value: Any) -> bool:
    return type(value) is int


_SAVED_TYPE_CHECKS: dict[str, Any] = {
    "bool": lambda value: isinstance(value, bool),
    "int": _is_int,
    "float": _is_number,
    "str": lambda value: isinstance(value, str),
    "int | None": lambda value: value is None or _is_int(value),
    "str | None": lambda value: value is None or isinstance(value, str),
    "tuple[int, ...]": _is_tuple_of(_is_int),
    "tuple[float, ...]": _is_tuple_of(_is_number),
    "tuple[str, ...]": _is_tuple_of(lambda value: isinstance(value, str)),
}


def check_loaded_config(config: Any) -> None:
    """Check that every value of a loaded configuration has its field's type.

    Raises
    ------
    ValueError
        Naming the first field whose saved value has another type.
    """
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        check = _SAVED_TYPE_CHECKS.get(str(item.type))
        if check is not None and not check(value):
            shown = repr(value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise ValueError(f"{item.name} has the value {shown}, which is not a {item.type}")
