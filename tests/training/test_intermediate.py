"""``scvae train -A DIR``: learning curves every epoch, latent plots on plot epochs."""

from __future__ import annotations

from scvae.cli import main
from scvae.training.intermediate import is_plot_epoch


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
