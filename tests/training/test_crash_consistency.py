"""A run killed at any write point resumes to exactly the uninterrupted run.

Every file that becomes visible in a run folder does so through ``os.replace`` (a
finished file renamed into place) or disappears through ``shutil.rmtree``. The first
test stops training just before the n-th such call, for every n of a three-epoch run,
then resumes and compares the curves, records, ``checkpoint.pt``, ``best/`` and
``early_stopping/`` with an uninterrupted run. The validation bound is scripted per
epoch (worse, then better) so that the epochs exercise every kind of write: a new best,
an early-stopping snapshot, and clearing it. The second test delivers a real SIGKILL
in a separate process while a committed epoch's files are being moved into place.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from scvae import api
from scvae.config import DataConfig, ModelConfig, TrainingConfig
from scvae.training import fit as fit_module
from scvae.training.checkpoints import load_checkpoint
from scvae.training.curves import read_curves
from scvae.training.records import read_records

EPOCHS = 3
#: the validation bound of epochs 1, 2, 3: best, then worse (snapshot), then best (clear)
SCRIPTED = {0: -10.0, 1: -12.0, 2: -9.0}
MODEL = ModelConfig(hidden_sizes=(8,), latent_size=2)


class SimulatedKill(BaseException):
    """Stands for SIGKILL: nothing after the write point runs (not an Exception)."""


@pytest.fixture(scope="module")
def tiny_counts(tmp_path_factory) -> Path:
    import anndata

    folder = tmp_path_factory.mktemp("tiny")
    values = np.random.default_rng(0).poisson(2.0, size=(40, 12)).astype(np.float32)
    path = folder / "tiny.h5ad"
    anndata.AnnData(values).write_h5ad(path)
    return path


@pytest.fixture
def scripted_bounds(monkeypatch):
    """Replace the evaluated bound by :data:`SCRIPTED` (everything else is computed)."""
    seen = {}
    seed_evaluation, evaluate_terms = fit_module._seed_evaluation, fit_module.evaluate_terms

    def remember_epoch(seed, epoch):
        seen["epoch"] = epoch
        seed_evaluation(seed, epoch)

    def scripted(*args, **kwargs):
        return {**evaluate_terms(*args, **kwargs), "lower_bound": SCRIPTED[seen["epoch"]]}

    monkeypatch.setattr(fit_module, "_seed_evaluation", remember_epoch)
    monkeypatch.setattr(fit_module, "evaluate_terms", scripted)


def _train(data: Path, models: Path, data_directory: Path) -> Path:
    return api.train(
        str(data),
        DataConfig(data_directory=str(data_directory), split_data_set=True),
        MODEL,
        TrainingConfig(number_of_epochs=EPOCHS, models_directory=str(models), seed=4, threads=1),
        progress=False,
        log=lambda *_: None,
    )


class WritePoints:
    """Count ``os.replace`` and ``shutil.rmtree`` calls; stop before the n-th one."""

    def __init__(self, monkeypatch, stop_at: int | None) -> None:
        self.count, self.stop_at = 0, stop_at
        replace, rmtree = os.replace, shutil.rmtree
        monkeypatch.setattr(os, "replace", self._wrap(replace))
        monkeypatch.setattr(shutil, "rmtree", self._wrap(rmtree))

    def _wrap(self, function):
        def counted(*args, **kwargs):
            self.count += 1
            if self.count == self.stop_at:
                raise SimulatedKill(self.count)
            return function(*args, **kwargs)

        return counted


def _checkpoint(path: Path) -> dict | None:
    return load_checkpoint(path) if path.exists() else None


def _same_state(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return (
            isinstance(b, dict) and a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
        )
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same_state(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def assert_same_run(run: Path, reference: Path) -> None:
    """Curves (all but the timings), records and every checkpoint version are identical."""

    def curves(folder):
        return [
            {k: v for k, v in row.items() if k not in ("seconds", "evaluation_seconds")}
            for row in read_curves(folder / "learning_curves.csv")
        ]

    assert curves(run) == curves(reference)
    records, expected = read_records(run), read_records(reference)
    assert records.keys() == expected.keys()
    for name in expected:
        np.testing.assert_array_equal(records[name], expected[name])
    for folder in ("", "best", "early_stopping"):
        actual, wanted = (
            _checkpoint(run / folder / "checkpoint.pt"),
            _checkpoint(reference / folder / "checkpoint.pt"),
        )
        assert (actual is None) == (wanted is None), folder
        assert actual is None or _same_state(actual, wanted), folder
    assert not (run / ".epoch-pending").exists()


def test_stopping_at_every_write_point_resumes_exactly(
    tiny_counts, tmp_path, monkeypatch, scripted_bounds
):
    data_directory = tmp_path / "data"
    reference = _train(tiny_counts, tmp_path / "reference", data_directory)  # caches the data
    with monkeypatch.context() as patch:
        points = WritePoints(patch, stop_at=None)
        _train(tiny_counts, tmp_path / "count", data_directory)
    # the scripted epochs left a best model (epoch 3) and no early-stopping snapshot:
    # epoch 2 made one and epoch 3 cleared it
    assert load_checkpoint(reference / "best" / "checkpoint.pt")["epoch"] == 3
    assert not (reference / "early_stopping").exists()
    total = points.count
    assert total >= 3 * EPOCHS
    for stop_at in range(1, total + 1):
        models = tmp_path / f"killed_{stop_at}"
        with monkeypatch.context() as patch:
            WritePoints(patch, stop_at=stop_at)
            with pytest.raises(SimulatedKill):
                _train(tiny_counts, models, data_directory)
        for visible in models.rglob("checkpoint.pt"):  # a reader never sees a bad pair
            assert ".epoch-pending" not in str(visible)
            load_checkpoint(visible)
        run = _train(tiny_counts, models, data_directory)
        assert_same_run(run, reference)


def test_snapshot_epoch_survives_stops_inside_its_commit(
    tiny_counts, tmp_path, monkeypatch, scripted_bounds
):
    """With two epochs the snapshot is kept; stop inside epoch 2's moves, then resume."""
    data_directory = tmp_path / "data"
    monkeypatch.setattr(sys.modules[__name__], "EPOCHS", 2)
    reference = _train(tiny_counts, tmp_path / "reference", data_directory)
    assert load_checkpoint(reference / "early_stopping" / "checkpoint.pt")["epoch"] == 1
    with monkeypatch.context() as patch:
        counter = WritePoints(patch, stop_at=None)
        _train(tiny_counts, tmp_path / "count", data_directory)
    for stop_at in range(counter.count - 8, counter.count + 1):
        models = tmp_path / f"killed_{stop_at}"
        with monkeypatch.context() as patch:
            WritePoints(patch, stop_at=stop_at)
            with pytest.raises(SimulatedKill):
                _train(tiny_counts, models, data_directory)
        assert_same_run(_train(tiny_counts, models, data_directory), reference)


KILLER = """
import os, signal, sys
from scvae.cli import main
replace = os.replace
count = [0]
def killing(source, target, *args, **kwargs):
    if ".epoch-pending" in str(source) and ".epoch-pending" not in str(target):
        count[0] += 1
        if count[0] == int(sys.argv[1]):
            os.kill(os.getpid(), signal.SIGKILL)
    return replace(source, target, *args, **kwargs)
os.replace = killing
sys.exit(main(sys.argv[2:]))
"""


def test_sigkill_while_an_epoch_is_moved_into_place(tiny_counts, tmp_path):
    """A real SIGKILL inside epoch 2's commit (its moves into place); the rerun finishes it."""
    from scvae.cli import main

    common = [
        "train", str(tiny_counts), "--split-data-set", "-e", "3", "--seed", "4",
        "-H", "8", "-l", "2", "--threads", "1", "-D", str(tmp_path / "data"), "--quiet",
    ]  # fmt: skip
    assert main([*common, "-M", str(tmp_path / "reference")]) == 0
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, "8", *common, "-M", str(tmp_path / "killed")],
        capture_output=True,
        text=True,
    )
    assert killed.returncode == -9, killed.stderr
    run = next((tmp_path / "killed").rglob("config.json")).parent
    assert (run / ".epoch-pending" / "manifest.json").exists()  # stopped inside a commit
    assert main([*common, "-M", str(tmp_path / "killed")]) == 0
    reference = next((tmp_path / "reference").rglob("config.json")).parent
    assert_same_run(run, reference)
