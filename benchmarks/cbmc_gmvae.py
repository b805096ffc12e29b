"""GMVAE (negative binomial) on the CITE-seq CBMC set: ELBO after 5 and 50 epochs, and ARI.

Trains with the 81/9/10 split, reports the validation ELBO at epochs 5 and 50 from
learning_curves.csv, seconds per epoch, and the adjusted Rand index / AMI of the GMVAE's
own clusters (argmax q(y|x)) on the test set against the labels.
Run: .venv/bin/python benchmarks/cbmc_gmvae.py [epochs]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

from scvae import api
from scvae.config import DataConfig, ModelConfig, TrainingConfig
from scvae.data.loader import MatrixSource, minibatches
from scvae.training.checkpoints import load_checkpoint
from scvae.training.curves import read_curves
from scvae.training.session import ModelFacts, build_module_from

DATA = (
    Path(__file__).resolve().parents[2]
    / "shared/data/scdcc_cite_cbmc_top2000/CITE_CBMC_counts_top2000.h5"
)


def main(epochs: int = 50) -> None:
    work = Path(tempfile.mkdtemp(prefix="scvae-cbmc-"))
    data_config = DataConfig(data_directory=str(work / "data"), split_data_set=True)
    model = ModelConfig(
        model_type="GMVAE",
        reconstruction_distribution="negative_binomial",
        latent_size=10,
        hidden_sizes=(100, 100),
    )
    training = TrainingConfig(
        number_of_epochs=epochs, models_directory=str(work / "models"), seed=1, learning_rate=1e-3
    )
    run = api.train(str(DATA), data_config, model, training, progress=False, log=lambda *_: None)
    rows = read_curves(run / "learning_curves.csv")
    validation = {r["epoch"]: r["lower_bound"] for r in rows if r["set"] == "validation"}
    seconds = [r["seconds"] for r in rows if r["set"] == "training"]
    import json

    facts = ModelFacts.from_dict(json.loads((run / "model.json").read_text()))
    module = build_module_from(model, facts)
    module.load_state_dict(load_checkpoint(run / "checkpoint.pt")["model"])
    module.eval()
    data_set = api.load_data_set(data_config, str(DATA))
    test = api.split_data_set(data_set, data_config)[3]
    source = MatrixSource.from_data_set(test)
    clusters = []
    with torch.no_grad():
        for inputs, _ in minibatches(source, 500):
            clusters.append(module.latent_mean(inputs)[1].argmax(1).numpy())
    clusters = np.concatenate(clusters)
    print(
        f"validation ELBO epoch 5: {validation.get(5):.2f}, epoch {epochs}: {validation[epochs]:.2f}"
    )
    print(
        f"seconds per epoch (median): {np.median(seconds):.2f}; cells/s: {source.number_of_examples and 6979 / np.median(seconds):.0f}"
    )
    print(
        f"test ARI: {adjusted_rand_score(test.labels, clusters):.3f}, AMI: {adjusted_mutual_info_score(test.labels, clusters):.3f}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
