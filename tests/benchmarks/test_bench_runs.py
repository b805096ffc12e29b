"""The training children end to end on 300 real cells (the peer only where its venv exists)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import anndata
import numpy as np
import pytest
import run_ours
import torch
from configurations import CONFIGURATIONS

from scvae.config import DataConfig

PEER_PYTHON = Path(__file__).resolve().parents[2] / ".venv-peer" / "bin" / "python"


def _job(path: Path, work: Path, key: str, epochs: int) -> dict:
    config = CONFIGURATIONS[key]
    threads = torch.get_num_threads()
    return {
        "data": str(path),
        "data_config": DataConfig(data_directory=str(work / "data"), split_data_set=True).to_dict(),
        "model_config": config.model.to_dict(),
        "training_config": config.training(epochs, work / "models", threads).to_dict(),
        "threads": threads,
        "clusters": 3,
    }


def test_scvi_equivalent_run(small_labelled_h5ad, tmp_path):
    result = run_ours.run_job(_job(small_labelled_h5ad, tmp_path, "scvi_equivalent", 2))
    # 300 cells split 90/10, then the 270 split 90/10: 243 training and 30 test cells
    assert (result["train_cells"], result["test_cells"]) == (243, 30)
    assert len(result["epoch_seconds"]) == 2 and min(result["epoch_seconds"]) > 0
    # 2,000 genes, H 128, L 10, NB with r per gene (one decoder head of 2,000):
    # 4*2000*128 + 6*(2*128*10 + 10*128 + 128*2000)
    assert result["flops_per_example"] == 2_583_040
    assert result["largest_layer"] == [100, 128, 2000]
    assert np.isfinite(result["test_elbo"]) and result["test_elbo"] < 0
    assert -1 <= result["kmeans_ari"] <= 1 and 0 <= result["kmeans_nmi"] <= 1
    assert "gmvae_ari" not in result
    assert result["peak_rss_mb"] >= result["baseline_rss_mb"] > 0


@pytest.mark.slow
@pytest.mark.skipif(not PEER_PYTHON.exists(), reason="make bench-peer has not built .venv-peer")
def test_peer_trains_scvi_on_the_given_cells(small_labelled_h5ad, tmp_path):
    adata = anndata.read_h5ad(small_labelled_h5ad)
    adata[:200].copy().write_h5ad(tmp_path / "train.h5ad")
    adata[200:].copy().write_h5ad(tmp_path / "test.h5ad")
    job = {
        "train": str(tmp_path / "train.h5ad"),
        "test": str(tmp_path / "test.h5ad"),
        "epochs": 2,
        "batch_size": 100,
        "threads": 1,
        "seed": 1,
        "n_hidden": 128,
        "n_latent": 10,
        "learning_rate": 1e-3,
        "clusters": 3,
    }
    (tmp_path / "job.json").write_text(json.dumps(job))
    script = Path(run_ours.__file__).with_name("peer_scvi.py")
    command = [str(PEER_PYTHON), str(script), str(tmp_path / "job.json"), str(tmp_path / "r.json")]
    subprocess.run(command, check=True, cwd=script.parent, capture_output=True)
    result = json.loads((tmp_path / "r.json").read_text())
    assert (result["train_cells"], result["test_cells"]) == (200, 100)
    assert len(result["epoch_seconds"]) == 2 and result["threads"] == 1
    assert np.isfinite(result["test_elbo"]) and result["test_elbo"] < 0
