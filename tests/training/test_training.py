"""Training end to end: every likelihood trains, runs are reproducible and resumable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from scvae import api
from scvae.cli import main
from scvae.config import DataConfig, ModelConfig, TrainingConfig
from scvae.distributions.registry import LIKELIHOODS
from scvae.training.checkpoints import load_checkpoint
from scvae.training.curves import read_curves
from scvae.training.fit import EarlyStopping, TrainingDiverged, warm_up_weight

CITE_PBMC = "scdcc_cite_pbmc_top2000/CITE_PBMC_counts.h5"


def _train(data, tmp_path, model=None, training=None, **data_options):
    data_config = DataConfig(data_directory=str(tmp_path / "data"), **data_options)
    training = training or TrainingConfig(
        number_of_epochs=2, models_directory=str(tmp_path / "models"), seed=3
    )
    return api.train(
        str(data),
        data_config,
        model or ModelConfig(),
        training,
        progress=False,
        log=lambda *_: None,
    )


@pytest.fixture
def small_real(shared_data, tmp_path) -> Path:
    """300 cells x 2,000 genes of the CITE-seq PBMC set, written as h5ad (labels kept)."""
    from scvae.data import DataSet

    data = DataSet(shared_data / CITE_PBMC, directory=tmp_path / "d").load()
    subset = data.subset(np.arange(0, data.number_of_examples, 12)[:300], "full")
    path = tmp_path / "pbmc_small.h5ad"
    subset.to_anndata().write_h5ad(path)
    return path


@pytest.fixture
def small_positive(small_real, tmp_path) -> Path:
    """The same cells with one added to every value (for likelihoods without zero support)."""
    import anndata

    adata = anndata.read_h5ad(small_real)
    adata.X = adata.X.toarray() + 1.0
    path = tmp_path / "pbmc_small_plus_one.h5ad"
    adata.write_h5ad(path)
    return path


def test_zero_unsupported_likelihood_is_refused_clearly(small_real, tmp_path):
    from scvae.errors import ConfigError

    with pytest.raises(ConfigError, match="log_normal.*zero"):
        _train(small_real, tmp_path, ModelConfig(reconstruction_distribution="log_normal"))


@pytest.mark.parametrize("model_type", ["VAE", "GMVAE"])
@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_every_likelihood_trains_with_finite_losses(
    small_real, small_positive, tmp_path, likelihood, model_type
):
    from scvae.workflows.train import zero_is_supported

    data = small_real if zero_is_supported(likelihood) else small_positive
    model = ModelConfig(
        model_type=model_type,
        reconstruction_distribution=likelihood,
        hidden_sizes=(16,),
        number_of_classes=3 if model_type == "GMVAE" else None,
    )
    run = _train(data, tmp_path, model, split_data_set=True, label_key="label")
    rows = read_curves(run / "learning_curves.csv")
    assert len(rows) == 4  # 2 epochs x (training, validation)
    for row in rows:
        assert np.isfinite(row["lower_bound"]) and np.isfinite(row["reconstruction_error"])
    if model_type == "GMVAE":
        assert all(row["accuracy"] is not None for row in rows)


def test_same_seed_same_curves(small_real, tmp_path):
    first = _train(small_real, tmp_path / "a", split_data_set=True)
    second = _train(small_real, tmp_path / "b", split_data_set=True)
    a, b = read_curves(first / "learning_curves.csv"), read_curves(second / "learning_curves.csv")
    for row_a, row_b in zip(a, b, strict=True):
        assert row_a["lower_bound"] == pytest.approx(row_b["lower_bound"], rel=1e-6)


def test_rerun_continues_up_to_the_total(small_real, tmp_path):
    run = _train(small_real, tmp_path, split_data_set=True)
    more = TrainingConfig(number_of_epochs=4, models_directory=str(tmp_path / "models"), seed=3)
    again = _train(small_real, tmp_path, training=more, split_data_set=True)
    assert again == run
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 4
    assert [row["epoch"] for row in read_curves(run / "learning_curves.csv")] == [
        1,
        1,
        2,
        2,
        3,
        3,
        4,
        4,
    ]
    assert (run / "config.json").exists() and (run / "best" / "checkpoint.pt").exists()


def test_checkpoint_has_no_pickled_code(small_real, tmp_path):
    run = _train(small_real, tmp_path)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2


def test_warm_up_weights():
    assert [warm_up_weight(e, 4) for e in range(6)] == [0, 0.25, 0.5, 0.75, 1, 1]
    assert warm_up_weight(0, 0) == 1


def test_early_stopping_rule():
    stopping = EarlyStopping()
    actions = [stopping.update(v) for v in [1.0, 2.0, 1.5] + [1.0] * 9]
    assert actions[:3] == ["clear", "clear", "snapshot"]
    assert stopping.stopped and stopping.counter == 10


@pytest.mark.parametrize("check_every", [None, 7])
def test_nan_aborts_with_advice(small_real, tmp_path, monkeypatch, check_every):
    """A NaN stops training with advice, also when (as off the CPU) the loss is checked only
    every few steps."""
    if check_every is not None:
        from scvae.training import fit as fit_module

        monkeypatch.setattr(fit_module, "check_steps", lambda device: check_every)
    training = TrainingConfig(
        number_of_epochs=1, learning_rate=1e30, models_directory=str(tmp_path / "m"), seed=1
    )
    model = ModelConfig(reconstruction_distribution="gaussian", minibatch_normalisation=False)
    with pytest.raises(TrainingDiverged, match="learning-rate"):
        for _ in range(3):
            _train(small_real, tmp_path, model, training)
            training = training.replace(number_of_epochs=training.number_of_epochs + 1)


def test_kill_and_resume_equals_uninterrupted(small_real, tmp_path):
    """SIGKILL a training process mid-run, rerun it, compare with an uninterrupted run."""
    epochs = 6
    common = [
        sys.executable,
        "-m",
        "scvae",
        "train",
        str(small_real),
        "--split-data-set",
        "-e",
        str(epochs),
        "--seed",
        "5",
        "-H",
        "64",
        "-D",
        str(tmp_path / "data"),
    ]
    reference = subprocess.run(
        [*common, "-M", str(tmp_path / "ref")], capture_output=True, text=True
    )
    assert reference.returncode == 0, reference.stderr
    killed_models = tmp_path / "killed"
    process = subprocess.Popen(
        [*common, "-M", str(killed_models)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    checkpoint = None
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        try:
            found = list(killed_models.rglob("checkpoint.pt"))
        except FileNotFoundError:  # a folder committed (renamed away) during the walk
            continue
        if found and load_checkpoint(found[0])["epoch"] >= 2:
            checkpoint = found[0]
            break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert checkpoint is not None, "training ended before it could be killed"
    assert load_checkpoint(checkpoint)["epoch"] < epochs
    resumed = subprocess.run([*common, "-M", str(killed_models)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    expected = read_curves(next((tmp_path / "ref").rglob("learning_curves.csv")))
    actual = read_curves(checkpoint.parent / "learning_curves.csv")
    assert [(r["epoch"], r["set"]) for r in actual] == [(r["epoch"], r["set"]) for r in expected]
    for row_a, row_e in zip(actual, expected, strict=True):
        assert row_a["lower_bound"] == pytest.approx(row_e["lower_bound"], rel=1e-5)


def test_cli_train_prints_folder(small_real, tmp_path, capsys):
    code = main(
        [
            "train",
            str(small_real),
            "-e",
            "1",
            "-D",
            str(tmp_path / "d"),
            "-M",
            str(tmp_path / "m"),
            "--seed",
            "1",
        ]
    )
    assert code == 0
    assert "Model saved in" in capsys.readouterr().out


@pytest.mark.slow
def test_paper_pbmc_command_trains_a_few_epochs(shared_data, tmp_path):
    code = main(
        [
            "train",
            str(shared_data / CITE_PBMC),
            "--split-data-set",
            "-m",
            "GMVAE",
            "-r",
            "negative_binomial",
            "-l",
            "100",
            "-H",
            "100",
            "100",
            "-w",
            "200",
            "-e",
            "3",
            "-D",
            str(tmp_path / "d"),
            "-M",
            str(tmp_path / "m"),
        ]
    )
    assert code == 0
