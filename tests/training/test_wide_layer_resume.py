"""Wide data (the sparse first layer): resuming, also from checkpoints of the earlier layout."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from scvae import api
from scvae.config import DataConfig, ModelConfig, TrainingConfig
from scvae.nn.sparse import SPARSE_INPUT_FEATURES
from scvae.training.checkpoints import save_checkpoint
from scvae.training.curves import read_curves

GENES = SPARSE_INPUT_FEATURES + 20
HIDDEN = 16


@pytest.fixture
def wide_h5ad(tmp_path):
    import anndata

    rng = np.random.default_rng(0)
    counts = sp.random(120, GENES, density=0.03, format="csr", random_state=rng)
    counts.data = np.ceil(counts.data * 5).astype(np.float32)
    path = tmp_path / "wide.h5ad"
    anndata.AnnData(counts.astype(np.float32)).write_h5ad(path)
    return path


def _train(path, models, epochs):
    return api.train(
        str(path),
        DataConfig(data_directory=str(models.parent / "data")),
        ModelConfig(latent_size=2, hidden_sizes=(HIDDEN,)),
        TrainingConfig(number_of_epochs=epochs, models_directory=str(models), seed=3),
        progress=False,
        log=lambda *_: None,
    )


@pytest.mark.parametrize("fused", [True, False])
def test_resume_from_a_checkpoint_with_moments_in_the_earlier_layout(
    wide_h5ad, tmp_path, monkeypatch, fused
):
    """Checkpoints written when the wide weight was held out x in keep Adam's moments in that
    shape: resuming from one gives the uninterrupted run's numbers, with the fused Adam
    kernel and with the per-tensor one (used where no fused kernel exists)."""
    from scvae.training import fit

    monkeypatch.setattr(
        fit,
        "_adam",
        lambda module, learning_rate: torch.optim.Adam(
            module.parameters(), lr=learning_rate, fused=fused
        ),
    )
    reference = _train(wide_h5ad, tmp_path / "reference", 3)
    run = _train(wide_h5ad, tmp_path / "resumed", 2)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    # the first parameter is the encoder's first layer, held in x out
    first = state["optimiser"]["state"][0]
    assert first["exp_avg"].shape == (GENES, HIDDEN)
    for name in ("exp_avg", "exp_avg_sq"):
        first[name] = first[name].t()  # as the earlier layout saved them
    save_checkpoint(run / "checkpoint.pt", state)

    resumed = _train(wide_h5ad, tmp_path / "resumed", 3)
    expected = read_curves(reference / "learning_curves.csv")
    got = read_curves(resumed / "learning_curves.csv")
    assert [row["lower_bound"] for row in got] == [row["lower_bound"] for row in expected]
    weights = torch.load(resumed / "checkpoint.pt", weights_only=True)["model"]
    reference_weights = torch.load(reference / "checkpoint.pt", weights_only=True)["model"]
    name = "encoder.mlp.blocks.0.linear.weight"
    assert weights[name].shape == (HIDDEN, GENES)
    torch.testing.assert_close(weights[name], reference_weights[name], rtol=0, atol=0)
