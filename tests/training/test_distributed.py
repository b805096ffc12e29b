"""Distributed training (gloo on the CPU): same steps as one process; killed runs resume.

* A deterministic toy model trained by ``fit`` under ``torchrun --nproc_per_node=2``
  ends with the same weights as one process (in memory and from a backed file).
* A GMVAE on 400 real cells trained with ``--processes 2`` follows the one-process
  learning curve (same seed and global minibatch size) within 0.2 % on the training
  set (1 % on the small validation set); the model's random draws differ between the
  two, which is what these tolerances allow for (measured: at most 0.09 % and 0.5 %).
  The training curve moves by more than ten times that over the epochs, so a wrong
  number of steps or wrong minibatches would show.
* SIGKILL of the ``--processes`` launcher stops its workers; training again resumes
  from the last checkpoint and ends with the uninterrupted run's curves.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anndata
import numpy as np
import pytest

from scvae.cli import main
from scvae.training.checkpoints import load_checkpoint
from scvae.training.curves import read_curves
from scvae.training.parallel import Processes, number_of_steps, shard

HERE = Path(__file__).resolve().parent
SHARED_DATA = HERE.parents[1].parent / "shared" / "data"
CITE_PBMC = "scdcc_cite_pbmc_top2000/CITE_PBMC_counts.h5"
EPOCHS = 5


def test_shards_split_each_minibatch_and_weigh_the_means():
    rows = np.arange(10, 17)  # 7 examples over 2 processes: 4 + 3
    first, second = (shard(rows, Processes(r, 2)) for r in range(2))
    assert list(first[0]) + list(second[0]) == list(rows)
    assert first[1] == pytest.approx(8 / 7) and second[1] == pytest.approx(6 / 7)
    # weighted part means averaged over the processes give the mean over the minibatch
    values = np.arange(7.0) ** 2
    parts = [values[:4].mean() * first[1], values[4:].mean() * second[1]]
    assert np.mean(parts) == pytest.approx(values.mean())
    assert shard(rows[:1], Processes(0, 2)) is None
    assert shard(rows, Processes())[1] == 1.0
    assert number_of_steps(103, 10, Processes(0, 2)) == 11
    assert number_of_steps(101, 10, Processes(0, 2)) == 10  # last minibatch of 1 skipped


def test_torchrun_two_processes_take_the_same_steps_as_one(tmp_path):
    sys.path.insert(0, str(HERE))
    try:
        import ddp_toy
    finally:
        sys.path.remove(str(HERE))
    backed = tmp_path / "toy.h5ad"
    anndata.AnnData(X=ddp_toy.toy_values()).write_h5ad(backed)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(HERE / "ddp_toy.py"),
        str(tmp_path / "two"),
        str(backed),
    ]
    launched = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert launched.returncode == 0, launched.stderr[-3000:]
    two = json.loads((tmp_path / "two" / "result.json").read_text())
    assert two["world_size"] == 2
    for name, (from_file, cells) in ddp_toy.VARIANTS.items():
        weights, rows = ddp_toy.train(
            tmp_path / "one" / name, str(backed) if from_file else None, cells
        )
        other = two[name]
        # each process evaluates its part of the whole set or of the same fixed subsample
        evaluated = cells or ddp_toy.EXAMPLES
        assert [row["evaluated_cells"] for row in other["rows"]] == [evaluated] * len(rows)
        assert [row["evaluated_cells"] for row in rows] == [evaluated] * len(rows)
        for key, value in weights.items():
            np.testing.assert_allclose(other["weights"][key], value, rtol=1e-5, atol=1e-6)
        ours = [row["lower_bound"] for row in rows]
        theirs = [row["lower_bound"] for row in other["rows"]]
        np.testing.assert_allclose(theirs, ours, rtol=1e-5)
        assert abs(ours[-1] - ours[0]) > 100 * 1e-5 * abs(ours[0])  # it did learn
        assert (tmp_path / "two" / name / "checkpoint.pt").exists()


@pytest.fixture(scope="module")
def cells(tmp_path_factory) -> Path:
    """400 cells x 2,000 genes of the CITE-seq PBMC set, as h5ad (labels kept)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    from scvae.data import DataSet

    folder = tmp_path_factory.mktemp("cells")
    data = DataSet(SHARED_DATA / CITE_PBMC, directory=folder / "d").load()
    subset = data.subset(np.arange(0, data.number_of_examples, 9)[:400], "full")
    path = folder / "pbmc400.h5ad"
    subset.to_anndata().write_h5ad(path)
    return path


def _arguments(data: Path, models: Path, epochs: int = EPOCHS) -> list[str]:
    return [
        "train",
        str(data),
        "-D",
        str(data.parent / "data"),
        "-M",
        str(models),
        "--split-data-set",
        "--label-key",
        "label",
        "-m",
        "GMVAE",
        "-r",
        "negative_binomial",
        "-K",
        "4",
        "-l",
        "5",
        "-H",
        "32",
        "-e",
        str(epochs),
        "-B",
        "50",
        "--seed",
        "7",
        "--device",
        "cpu",
        "--threads",
        "1",
        # the tolerances below were measured at this rate. No mixture placement: k-means
        # is not continuous in its input, so the tiny differences between one and two
        # processes can give other clusters (the library prior is fitted from totals
        # gathered over the processes)
        "--learning-rate",
        "1e-4",
        "--mixture-initialisation-epoch",
        "0",
    ]


def _run_folder(models: Path) -> Path:
    (curves,) = models.rglob("learning_curves.csv")
    return curves.parent


@pytest.fixture(scope="module")
def two_process_run(cells) -> Path:
    models = cells.parent / "two"
    assert main([*_arguments(cells, models), "--processes", "2"]) == 0
    return _run_folder(models)


def test_two_processes_follow_the_one_process_curve(cells, two_process_run, capsys):
    assert main(_arguments(cells, cells.parent / "one")) == 0
    one = read_curves(_run_folder(cells.parent / "one") / "learning_curves.csv")
    two = read_curves(two_process_run / "learning_curves.csv")
    assert [(r["epoch"], r["set"]) for r in one] == [(r["epoch"], r["set"]) for r in two]
    assert len(one) == 2 * EPOCHS
    for row_one, row_two in zip(one, two, strict=True):
        # 324 training cells; the 36 validation cells carry more sampling noise
        tolerance = 2e-3 if row_one["set"] == "training" else 1e-2
        assert row_two["lower_bound"] == pytest.approx(row_one["lower_bound"], rel=tolerance)
    training = [row["lower_bound"] for row in one if row["set"] == "training"]
    assert training[-1] - training[0] > 10 * 2e-3 * abs(training[0])


def _live_group_members(group: int) -> list[int]:
    """Processes (not zombies) of a process group, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _files_named(folder: Path, name: str) -> list[Path]:
    """The files ``name`` under ``folder`` while a run writes there: a folder it commits
    (renames away) during the walk just means looking again."""
    while True:
        try:
            return list(folder.rglob(name))
        except FileNotFoundError:
            continue


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_killed_distributed_run_resumes(cells, two_process_run, tmp_path):
    models = cells.parent / "killed"
    command = [sys.executable, "-m", "scvae", *_arguments(cells, models), "--processes", "2"]
    launcher = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 180
    epoch = 0
    while epoch < 1 and time.monotonic() < deadline and launcher.poll() is None:
        curves = _files_named(models, "learning_curves.csv")
        checkpoint = curves[0].parent / "checkpoint.pt" if curves else None
        epoch = load_checkpoint(checkpoint)["epoch"] if checkpoint and checkpoint.exists() else 0
        time.sleep(0.02)
    os.kill(launcher.pid, signal.SIGKILL)
    assert launcher.wait() == -signal.SIGKILL
    while _live_group_members(launcher.pid) and time.monotonic() < deadline:
        time.sleep(0.1)  # the workers notice that their launcher is gone
    assert not _live_group_members(launcher.pid)
    run = _run_folder(models)
    stopped_at = load_checkpoint(run / "checkpoint.pt")["epoch"]
    assert 1 <= stopped_at < EPOCHS
    assert main([*_arguments(cells, models), "--processes", "2"]) == 0
    resumed = read_curves(run / "learning_curves.csv")
    uninterrupted = read_curves(two_process_run / "learning_curves.csv")
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == EPOCHS
    assert len(resumed) == len(uninterrupted) == 2 * EPOCHS
    for row, expected in zip(resumed, uninterrupted, strict=True):
        assert row["lower_bound"] == pytest.approx(expected["lower_bound"], rel=1e-6)
    logs = sorted(path.name for path in run.glob("metadata_log-*.log"))
    assert logs == [f"metadata_log-{stopped_at}-{EPOCHS}.log"]


def test_processes_must_be_positive(capsys):
    assert main(["train", "anything", "--processes", "0"]) == 2
    assert "--processes must be at least 1" in capsys.readouterr().err
