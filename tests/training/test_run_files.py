"""Damaged, tampered and implausible run files are refused in one line; one trainer per run."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from scvae.cli import main
from scvae.folders import MAXIMUM_NAME_BYTES, model_directory, shorten_name
from scvae.training.checkpoints import (
    CheckpointError,
    digest_path,
    load_checkpoint,
    save_checkpoint,
)
from scvae.training.lock import RunLock

COMMON = ["--split-data-set", "--seed", "2", "-H", "8", "-l", "2", "--threads", "1", "--quiet"]


def _counts(path: Path, genes: int) -> Path:
    import anndata

    values = np.random.default_rng(1).poisson(2.0, size=(40, genes)).astype(np.float32)
    anndata.AnnData(values).write_h5ad(path)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """One two-epoch run (kept pristine; tests work on copies)."""
    folder = tmp_path_factory.mktemp("trained")
    data = _counts(folder / "tiny.h5ad", 12)
    options = [str(data), *COMMON, "-D", str(folder / "data"), "-M", str(folder / "models")]
    assert main(["train", *options, "-e", "2"]) == 0
    run = next((folder / "models").rglob("config.json")).parent
    return {"folder": folder, "data": data, "run": run}


@pytest.fixture
def copy(trained, tmp_path) -> dict[str, Path]:
    """A copy of the trained models folder and the matching command lines."""
    models = tmp_path / "models"
    shutil.copytree(trained["folder"] / "models", models)
    run = models / trained["run"].relative_to(trained["folder"] / "models")
    data_options = [str(trained["data"]), *COMMON, "-D", str(trained["folder"] / "data")]
    return {
        "run": run,
        "train": ["train", *data_options, "-M", str(models)],
        "evaluate": ["evaluate", "--model-directory", str(run), "-A", str(tmp_path / "a")]
        + ["--included-analyses", "metrics", "--quiet"],
    }


def _refused(argv: list[str], capsys, *fragments: str) -> str:
    """Run the CLI; assert exit 2 with one ``scvae: error:`` line holding ``fragments``."""
    capsys.readouterr()
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("scvae: error: ") and "\n" not in error, error
    assert "Traceback" not in error
    for fragment in fragments:
        assert fragment in error, error
    return error


def _flip_bit(path: Path, position: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * position)] ^= 0x10
    path.write_bytes(bytes(data))


# ------------------------------------------------------------------ checkpoints
@pytest.mark.parametrize("damage", ["bit flip", "truncated", "empty", "no digest", "bad digest"])
def test_damaged_checkpoint_is_never_trained_on(copy, capsys, damage):
    checkpoint = copy["run"] / "checkpoint.pt"
    before = (copy["run"] / "learning_curves.csv").read_bytes()
    if damage == "bit flip":
        _flip_bit(checkpoint)
    elif damage == "truncated":
        checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    elif damage == "empty":
        checkpoint.write_bytes(b"")
    elif damage == "no digest":
        digest_path(checkpoint).unlink()
    else:
        digest_path(checkpoint).write_text("{not json")
    _refused([*copy["train"], "-e", "3"], capsys, str(checkpoint), "--reset-training")
    assert (copy["run"] / "learning_curves.csv").read_bytes() == before  # nothing trained


def test_damaged_version_is_never_evaluated(copy, capsys):
    _flip_bit(copy["run"] / "best" / "checkpoint.pt", 0.9)
    _refused(
        [*copy["evaluate"], "--model-versions", "best"],
        capsys,
        "best/checkpoint.pt",
        "--model-versions",
    )
    assert main([*copy["evaluate"], "--model-versions", "end_of_training"]) == 0


def test_reset_training_recovers_from_a_damaged_checkpoint(copy, capsys):
    _flip_bit(copy["run"] / "checkpoint.pt")
    assert main([*copy["train"], "-e", "1", "--reset-training"]) == 0
    assert load_checkpoint(copy["run"] / "checkpoint.pt")["epoch"] == 1


def _forge(path: Path, data: bytes) -> None:
    """Replace a checkpoint and write a matching digest (as an attacker could)."""
    path.write_bytes(data)
    record = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    digest_path(path).write_text(json.dumps(record))


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_malicious_pickle_is_refused_without_weights_only_advice(copy, capsys, tmp_path):
    import torch

    checkpoint = copy["run"] / "checkpoint.pt"
    torch.save({"model": {}, "epoch": 1, "evil": _Payload()}, checkpoint, pickle_module=pickle)
    _forge(checkpoint, checkpoint.read_bytes())
    error = _refused(copy["evaluate"], capsys, str(checkpoint), "never loaded")
    assert "weights_only" not in error
    assert not Path("pwned").exists() and not (tmp_path / "pwned").exists()


def test_checkpoint_of_another_model_is_refused_in_one_line(copy, tmp_path, capsys):
    other = tmp_path / "other.pt"
    import torch

    save_checkpoint(other, {"model": {"w": torch.zeros(3)}, "epoch": 2, "optimiser": {}})
    _forge(copy["run"] / "checkpoint.pt", other.read_bytes())
    _refused([*copy["train"], "-e", "3"], capsys, "does not fit this model")
    _refused(copy["evaluate"], capsys, "does not fit this model")


def test_checkpoint_that_is_not_a_state_is_refused(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"epoch": "two"})
    with pytest.raises(CheckpointError, match="not a scvae checkpoint"):
        load_checkpoint(path)


# ------------------------------------------------------------------ saved files
MALFORMED = {
    "model.json": ["{", "[]", '{"feature_size": "12"}', json.dumps({"unknown": 1})],
    "config.json": ["{", "[1, 2]", json.dumps({"model": {"latent_size": "ten"}})],
    "learning_curves.csv": [
        "epoch,set\nx,training\n",
        "a,b\n1,2\n",
        "epoch,set,lower_bound\n1,training,1,9\n",
    ],
    "epoch_records.npz": ["PK\x03\x04 not a zip", ""],
}


@pytest.mark.parametrize(
    ("name", "text"), [(name, text) for name, texts in MALFORMED.items() for text in texts]
)
def test_malformed_saved_file_is_one_line(copy, capsys, name, text):
    (copy["run"] / name).write_text(text)
    if name in ("model.json", "config.json"):
        _refused(copy["evaluate"], capsys, name)
    else:  # read when training resumes
        _refused([*copy["train"], "-e", "3"], capsys, name)


def test_records_of_different_lengths_are_refused(copy, capsys):
    path = copy["run"] / "epoch_records.npz"
    np.savez(path, epoch=np.array([1, 2]), kl_neurons=np.zeros((3, 2)))
    _refused([*copy["train"], "-e", "3"], capsys, "different lengths")


def _edit_json(path: Path, section: str | None, **values) -> None:
    saved = json.loads(path.read_text())
    (saved[section] if section else saved).update(values)
    path.write_text(json.dumps(saved))


@pytest.mark.parametrize(
    ("name", "section", "values"),
    [
        ("model.json", None, {"number_of_classes": 10**9}),
        ("config.json", "model", {"latent_size": 10**12}),
        ("config.json", "model", {"hidden_sizes": [2**40, 2**40]}),
    ],
)
def test_absurd_saved_sizes_are_refused_before_allocating(copy, capsys, name, section, values):
    import resource

    _edit_json(copy["run"] / name, section, **values)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _refused(copy["evaluate"], capsys, "model.json", "implausible")
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 500_000


def test_data_with_another_number_of_genes_is_refused(copy, tmp_path, capsys):
    other = _counts(tmp_path / "wider.h5ad", 13)
    _refused([copy["evaluate"][0], str(other), *copy["evaluate"][1:]], capsys, "12 features", "13")


# ------------------------------------------------------------------ the run folder
def test_second_trainer_is_refused_with_the_owner_pid(copy, capsys):
    lock = RunLock(copy["run"]).acquire()
    try:
        before = sorted(path.name for path in copy["run"].iterdir())
        _refused([*copy["train"], "-e", "3"], capsys, f"pid {os.getpid()}", str(copy["run"]))
        _refused([*copy["train"], "-e", "3", "--reset-training"], capsys, "another scvae process")
        assert sorted(path.name for path in copy["run"].iterdir()) == before  # nothing reset
    finally:
        lock.release()
    assert main([*copy["train"], "-e", "3"]) == 0  # the lock file does not hinder resuming
    assert main([*copy["evaluate"], "--model-versions", "end_of_training"]) == 0


HOLDER = """
import sys, time
from scvae.training.lock import RunLock
RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_lock_held_by_another_process_until_it_is_killed(copy, capsys):
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(copy["run"])], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        _refused([*copy["train"], "-e", "3"], capsys, f"(pid {holder.pid})")
    finally:
        holder.kill()
        holder.wait()
    assert main([*copy["train"], "-e", "3"]) == 0  # the kernel dropped the dead owner's lock


def test_evaluation_discards_an_uncommitted_epoch(copy):
    staging = copy["run"] / ".epoch-pending"
    staging.mkdir()
    (staging / "checkpoint.pt.staged").write_bytes(b"half written")
    assert main([*copy["evaluate"], "--model-versions", "end_of_training"]) == 0
    assert not staging.exists()
    assert load_checkpoint(copy["run"] / "checkpoint.pt")["epoch"] == 2


def test_config_is_not_rewritten_when_already_trained(copy, capsys):
    config = copy["run"] / "config.json"
    stat, text = config.stat(), config.read_text()
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**9))
    stamp = config.stat().st_mtime_ns
    assert main([*copy["train"], "-e", "2"]) == 0
    assert load_checkpoint(copy["run"] / "checkpoint.pt")["epoch"] == 2
    assert config.stat().st_mtime_ns == stamp and config.read_text() == text


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_unwritable_run_folder_is_one_line(copy, capsys, monkeypatch, code):
    import scvae.training.commit as commit

    def refuse(self):
        raise OSError(code, os.strerror(code), str(self.staging))

    monkeypatch.setattr(commit.EpochCommit, "commit", refuse)
    before = (copy["run"] / "checkpoint.pt").read_bytes()
    _refused([*copy["train"], "-e", "3"], capsys, "cannot ", os.strerror(code), ".epoch-pending")
    assert (copy["run"] / "checkpoint.pt").read_bytes() == before
    monkeypatch.undo()
    assert main([*copy["train"], "-e", "3"]) == 0  # the staged epoch was discarded
    assert load_checkpoint(copy["run"] / "checkpoint.pt")["epoch"] == 3


def test_models_folder_that_is_a_file_is_one_line(copy, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    argv = [*copy["train"][:-2], "-M", str(blocker), "-e", "1"]
    _refused(argv, capsys, "cannot access", "Not a directory")


def test_long_model_folder_names_are_shortened_with_a_digest(tmp_path):
    from scvae.config import ModelConfig, TrainingConfig

    long = "x" * 300
    short = shorten_name(long)
    assert len(short.encode()) <= MAXIMUM_NAME_BYTES
    assert short != shorten_name(long + "y") and short == shorten_name(long)
    assert shorten_name("é" * 200).encode("utf-8").decode("utf-8")  # not cut inside a character
    config = ModelConfig(hidden_sizes=(100,) * 80)
    folder = model_directory(
        "data/no_split/none", config, TrainingConfig(models_directory=str(tmp_path)), 1
    )
    assert all(len(part.encode()) <= MAXIMUM_NAME_BYTES for part in folder.parts)
    folder.mkdir(parents=True)  # the file system accepts it
