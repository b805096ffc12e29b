"""The scvi-tools peer of the quality benchmark, run in the peer environment.

``python benchmarks/peer_scvi_quality.py JOB.json RESULT.json``: trains scVI with its own
defaults (one hidden layer of 128, latent 10, negative binomial... as the job says) on the
job's training cells and writes the latent means of every cell (``latent.npy``, in the
order of the job's ``.h5ad``), the test ELBO and the test importance-weighted log
likelihood. It imports scvi-tools and anndata, never scvae; the quality script computes
every clustering score for both tools with the same code.

scVI conditions on each cell's observed total count, so both of its figures are bounds on
(or estimates of) ``log p(x | total count)``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def run_job(job: dict) -> dict:
    """Train scVI on the training cells; latents of all cells, test ELBO and IW log p."""
    import numpy as np
    import torch

    torch.set_num_threads(int(job["threads"]))
    import anndata
    import scvi

    scvi.settings.seed = int(job["seed"])
    torch.set_num_threads(int(job["threads"]))
    cells = anndata.read_h5ad(job["cells"])
    training = cells[np.asarray(job["training"])].copy()
    test = cells[np.asarray(job["test"])].copy()
    scvi.model.SCVI.setup_anndata(training)
    model = scvi.model.SCVI(training, gene_likelihood="nb")
    started = time.perf_counter()
    model.train(
        max_epochs=int(job["epochs"]),
        batch_size=128,
        train_size=1.0,
        accelerator="cpu",
        devices=1,
        enable_progress_bar=False,
    )
    seconds = time.perf_counter() - started
    model.module.eval()
    latent = model.get_latent_representation(cells, batch_size=512)
    folder = Path(job["output"])
    np.save(folder / "latent.npy", np.asarray(latent, dtype=np.float32))
    # The log-likelihood of counts is negative; scvi-tools' sign conventions for these two
    # figures have changed between releases, so both are reported as -|value|.
    elbo = -abs(float(model.get_elbo(adata=test, batch_size=512)))
    marginal = float(
        np.mean(
            np.asarray(
                model.get_marginal_ll(
                    adata=test, n_mc_samples=int(job["importance_samples"]), batch_size=128
                )
            )
        )
    )
    return {
        "train_seconds": seconds,
        "test_elbo": elbo,
        "test_iw_log_likelihood": -abs(marginal),
        "version": scvi.__version__,
    }


if __name__ == "__main__":
    import peer_scvi

    sys.exit(peer_scvi.main(sys.argv[1:], run_job))
