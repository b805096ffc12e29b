"""The scvi-tools peer: scVI on the cells our run trained on, in the peer environment.

Run by ``suite.py`` with the peer venv's Python as
``python benchmarks/peer_scvi.py JOB.json RESULT.json``; it imports scvi-tools, anndata
and ``measures`` (NumPy and scikit-learn only), never scvae. The job names two .h5ad files
(training and test cells, raw counts in ``X``, labels in ``obs["label"]`` when known).

scVI is set up like our scVI-equivalent VAE: one hidden layer of ``n_hidden``, ``n_latent``
latent dimensions, negative-binomial likelihood, minibatches of ``batch_size``, every
training cell used for training (``train_size=1``, so no validation loop runs), Adam at
the job's learning rate and no KL warm-up (ours has none either); everything else is
scVI's default (gene-wise dispersion, observed library size, dropout 0.1, batch norm).

Seconds per epoch come from a Lightning callback: the time from the start to the end of
each training epoch, so model and data set-up, and the first batch's imports, are
outside the later epochs.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from measures import current_rss_mb, kmeans_scores, peak_rss_mb


def _timer_callback():
    from lightning.pytorch.callbacks import Callback

    class EpochTimer(Callback):
        """Seconds from ``on_train_epoch_start`` to ``on_train_epoch_end``."""

        def __init__(self) -> None:
            self.seconds: list[float] = []
            self._started = 0.0

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self._started = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            self.seconds.append(time.perf_counter() - self._started)

    return EpochTimer()


def run_job(job: dict) -> dict:
    """Train scVI as the job says and return its measurements."""
    import torch

    torch.set_num_threads(int(job["threads"]))
    import anndata
    import scvi

    scvi.settings.seed = int(job["seed"])
    torch.set_num_threads(int(job["threads"]))  # scvi's seed setting may touch torch state
    baseline = current_rss_mb()
    training = anndata.read_h5ad(job["train"])
    test = anndata.read_h5ad(job["test"])
    scvi.model.SCVI.setup_anndata(training)
    model = scvi.model.SCVI(
        training,
        n_hidden=int(job["n_hidden"]),
        n_latent=int(job["n_latent"]),
        n_layers=1,
        gene_likelihood="nb",
    )
    timer = _timer_callback()
    started = time.perf_counter()
    model.train(
        max_epochs=int(job["epochs"]),
        batch_size=int(job["batch_size"]),
        train_size=1.0,
        accelerator="cpu",
        devices=1,
        early_stopping=False,
        enable_progress_bar=False,
        callbacks=[timer],
        plan_kwargs={"lr": float(job["learning_rate"]), "n_epochs_kl_warmup": None},
    )
    wall = time.perf_counter() - started
    result = {
        "epoch_seconds": timer.seconds,
        "train_wall_seconds": wall,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak_rss_mb(),
        "train_cells": training.n_obs,
        "test_cells": test.n_obs,
        "threads": torch.get_num_threads(),
        "version": scvi.__version__,
    }
    model.module.eval()
    result["test_elbo"] = float(model.get_elbo(adata=test, batch_size=500))
    if "label" in test.obs:
        scores = kmeans_scores(
            model.get_latent_representation(training),
            model.get_latent_representation(test),
            test.obs["label"].to_numpy(),
            int(job["clusters"]),
        )
        result.update({"kmeans_ari": scores["ari"], "kmeans_nmi": scores["nmi"]})
    return result


def main(argv: list[str], runner=None) -> int:
    """``JOB.json RESULT.json``: run the job (``runner``, by default :func:`run_job`) quietly."""
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    job = json.loads(Path(argv[0]).read_text())
    Path(argv[1]).write_text(json.dumps((runner or run_job)(job), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
