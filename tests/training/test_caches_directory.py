"""``--caches-directory``: train in a cache folder, then move the run to the models folder."""

from __future__ import annotations

from scvae.cli import main
from scvae.training.curves import read_curves


def test_run_trains_in_the_cache_and_ends_in_the_models_folder(small_labelled_h5ad, tmp_path):
    models, caches = tmp_path / "models", tmp_path / "caches"
    options = [str(small_labelled_h5ad), "-D", str(tmp_path / "d"), "-M", str(models)]
    options += ["-C", str(caches), "-l", "2", "-H", "8", "--seed", "2"]
    assert main(["train", *options, "-e", "1"]) == 0
    run = next(models.rglob("checkpoint.pt")).parent
    assert (run / "config.json").is_file()
    assert not list((caches / "log").rglob("checkpoint.pt"))  # moved, not copied
    assert main(["train", *options, "-e", "2"]) == 0  # continues from the moved run
    epochs = [row["epoch"] for row in read_curves(run / "learning_curves.csv")]
    assert epochs == [1, 2]
    assert not list(models.rglob("*.incoming")) and not list(models.rglob("*.outgoing"))
