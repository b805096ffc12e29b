"""``scvae train -A DIR``: learning curves every epoch, latent plots on plot epochs."""

from __future__ import annotations

from scvae.analyses.intermediate import is_plot_epoch
from scvae.cli import main


def test_plot_epochs_follow_the_original_schedule():
    chosen = [epoch for epoch in range(1200) if is_plot_epoch(epoch, 1200)]
    assert chosen[:10] == list(range(10))
    assert 19 in chosen and 20 not in chosen and 99 in chosen
    assert 149 in chosen and 129 not in chosen
    assert 1099 in chosen and 1049 not in chosen and 1199 in chosen
    assert is_plot_epoch(36, 37)  # the last epoch


def test_train_with_analyses_directory_draws_intermediate_plots(small_labelled_h5ad, tmp_path):
    analyses = tmp_path / "a"
    options = [str(small_labelled_h5ad), "-D", str(tmp_path / "d"), "-M", str(tmp_path / "m")]
    options += ["-m", "GMVAE", "-l", "3", "-H", "8", "-e", "2", "-A", str(analyses)]
    assert main(["train", *options]) == 0
    folder = next(analyses.rglob("intermediate"))
    names = {path.name for path in folder.iterdir()}
    assert "learning_curves.png" in names
    for epoch in (1, 2):
        assert f"latent_space-epoch-{epoch}-pca-labels.png" in names
        assert f"probabilities-epoch_{epoch}-prior.png" in names
    # the folder mirrors the model folder below the models directory
    run = next((tmp_path / "m").rglob("config.json")).parent
    assert folder.parent.relative_to(analyses) == run.relative_to(tmp_path / "m")


def test_epoch_records_drop_rows_beyond_a_resumed_epoch(tmp_path):
    import numpy as np

    from scvae.training.records import EpochRecorder, read_records

    recorder = EpochRecorder(tmp_path, module=None, data=None)
    for epoch in (1, 2, 3):
        recorder._append({"epoch": np.array(epoch), "prior_weights": np.full(2, epoch / 10)})
    recorder._append({"epoch": np.array(2), "prior_weights": np.full(2, 0.9)})  # resumed at 2
    records = read_records(tmp_path)
    assert list(records["epoch"]) == [1, 2]
    np.testing.assert_allclose(records["prior_weights"], [[0.1, 0.1], [0.9, 0.9]])


def test_epoch_records_kl_per_dimension_over_minibatches(tmp_path):
    """The VAE's KL per latent dimension is the per-cell mean over the first cells; the
    GMVAE (no such term) is not run at all (its decoder over K x cells x genes is large)."""
    from types import SimpleNamespace

    import numpy as np
    import scipy.sparse as sp
    import torch

    from scvae.config import ModelConfig
    from scvae.data.batches import RowSource
    from scvae.distributions.latent import kl_standard_normal
    from scvae.models import build_module
    from scvae.training.records import EpochRecorder, read_records

    torch.manual_seed(0)
    counts = sp.random(250, 30, density=0.3, format="csr", random_state=1, dtype=np.float32)
    counts.data = np.ceil(counts.data * 5)
    source = RowSource(counts, np.asarray(counts.sum(1)).ravel(), None, None, 0)
    vae = build_module(ModelConfig(latent_size=4, hidden_sizes=(8,)), 30)
    EpochRecorder(tmp_path / "vae", vae, SimpleNamespace(source=source))(0, [])
    with torch.no_grad():
        vae.eval()
        q = vae.posterior(torch.from_numpy(counts.toarray()))
        expected = kl_standard_normal(q).double().mean(0).numpy()
    np.testing.assert_allclose(read_records(tmp_path / "vae")["kl_neurons"][0], expected, rtol=1e-5)

    gmvae_config = ModelConfig(model_type="GMVAE", latent_size=4, hidden_sizes=(8,))
    gmvae = build_module(gmvae_config, 30, number_of_classes=3)
    calls = []
    gmvae.register_forward_hook(lambda *_: calls.append(1))
    EpochRecorder(tmp_path / "gmvae", gmvae, SimpleNamespace(source=source))(0, [])
    records = read_records(tmp_path / "gmvae")
    assert calls == [] and "kl_neurons" not in records and "prior_means" in records
