"""One scvae configuration in its own process: train, then measure speed, memory and quality.

Run by ``suite.py`` as ``python benchmarks/run_ours.py JOB.json RESULT.json``. The job holds
the data path, the three configurations (as dictionaries) and the thread count; the result
holds per-epoch training seconds (from ``learning_curves.csv``: the optimisation steps only,
not the per-epoch evaluation), peak RSS right after training, the analytic FLOPs per
example, and the test-set ELBO and clustering scores of the end-of-training model.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from flops import dense_layers, training_flops_per_example
from measures import current_rss_mb, kmeans_scores, label_scores, peak_rss_mb

from scvae import api
from scvae.config import DataConfig, ModelConfig, TrainingConfig
from scvae.data.batches import minibatches
from scvae.folders import MODEL_FACTS
from scvae.models.build import ModelFacts, build_module_from, effective_batch_size, samples_for
from scvae.training.checkpoints import load_checkpoint
from scvae.training.curves import read_curves
from scvae.training.fit import FitOptions, evaluate_terms
from scvae.workflows.data_sets import labelled


def _latent(module, source) -> tuple[np.ndarray, np.ndarray | None]:
    """Posterior means (and q(y|x) for the GMVAE) of every example of ``source``."""
    means, probabilities = [], []
    with torch.no_grad():
        for inputs, _ in minibatches(source, 500):
            value = module.latent_mean(inputs)
            if isinstance(value, tuple):
                probabilities.append(value[1].numpy())
                value = value[0]
            means.append(value.numpy())
    return np.concatenate(means), (np.concatenate(probabilities) if probabilities else None)


def evaluate_run(run: Path, data: str, configs: dict, k: int) -> dict:
    """Test ELBO and ARI/NMI of the end-of-training model of ``run``."""
    data_config, model_config = configs["data"], configs["model"]
    facts = ModelFacts.from_dict(json.loads((run / MODEL_FACTS).read_text()))
    module = build_module_from(model_config, facts)
    module.load_state_dict(load_checkpoint(run / "checkpoint.pt")["model"])
    module.eval()
    data_set = api.load_data_set(
        data_config, data, reconstruction_distribution=model_config.reconstruction_distribution
    )
    _, training, _, test = api.split_data_set(data_set, data_config)
    test_source = labelled(test, model_config, facts)
    options = FitOptions(number_of_epochs=0, training_samples=samples_for(model_config)[1])
    terms = evaluate_terms(module, test_source, options, torch.device("cpu"))
    result = {
        "test_elbo": terms["lower_bound"],
        "train_cells": training.number_of_examples,
        "test_cells": test.number_of_examples,
    }
    if not test.has_labels:
        return result
    training_latent, _ = _latent(module, labelled(training, model_config, facts).source)
    test_latent, probabilities = _latent(module, test_source.source)
    scores = kmeans_scores(training_latent, test_latent, test.labels, k)
    result.update({"kmeans_ari": scores["ari"], "kmeans_nmi": scores["nmi"]})
    if probabilities is not None:
        own = label_scores(probabilities.argmax(axis=1), test.labels)
        result.update({"gmvae_ari": own["ari"], "gmvae_nmi": own["nmi"]})
    return result


def run_job(job: dict) -> dict:
    """Train the job's configuration and return its measurements."""
    torch.set_num_threads(int(job["threads"]))
    configs = {
        "data": DataConfig.from_dict(job["data_config"]),
        "model": ModelConfig.from_dict(job["model_config"]),
        "training": TrainingConfig.from_dict(job["training_config"]),
    }
    baseline = current_rss_mb()
    started = time.perf_counter()
    run = api.train(
        job["data"],
        configs["data"],
        configs["model"],
        configs["training"],
        progress=False,
        log=lambda *_args, **_kwargs: None,
    )
    wall = time.perf_counter() - started
    peak = peak_rss_mb()
    rows = read_curves(run / "learning_curves.csv")
    facts = ModelFacts.from_dict(json.loads((run / MODEL_FACTS).read_text()))
    train_samples = samples_for(configs["model"])[0]
    batch = effective_batch_size(
        configs["model"], configs["training"].minibatch_size, train_samples
    )
    layers = dense_layers(
        configs["model"], facts.feature_size, facts.number_of_classes, 0, train_samples
    )
    largest = max(layers, key=lambda layer: layer.flops(batch))
    rows_through = batch * largest.rows_per_example + largest.rows_per_batch
    result = {
        "largest_layer": [rows_through, largest.in_size, largest.out_size],
        "epoch_seconds": [row["seconds"] for row in rows if row["set"] == "training"],
        "train_wall_seconds": wall,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak,
        "flops_per_example": training_flops_per_example(layers, batch),
        "number_of_classes": facts.number_of_classes,
        "threads": torch.get_num_threads(),
    }
    result.update(evaluate_run(run, job["data"], configs, int(job["clusters"])))
    return result


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    Path(argv[1]).write_text(json.dumps(run_job(job), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
