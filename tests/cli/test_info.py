"""``scvae info RUN_FOLDER``: the run's data, options, epochs, metrics and folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scvae.cli import main
from scvae.config import DataConfig, ModelConfig, TrainingConfig, save_configs
from scvae.training.curves import GMVAE_TERMS, write_curves

RUN = "models/toy/split-random_0.9/no_preprocessing/GMVAE/gaussian_mixture-c_3/nb-l_5-h_50_20"
VALIDATION_BOUNDS = {1: -310.0, 2: -290.5, 3: -295.25, 4: -301.0}


def _make_run(root: Path) -> Path:
    """A GMVAE run folder as training leaves it (4 of 10 epochs, best at epoch 2)."""
    run = root / RUN
    (run / "best").mkdir(parents=True)
    save_configs(
        run / "config.json",
        data=DataConfig(split_data_set=True),
        model=ModelConfig(
            model_type="GMVAE",
            reconstruction_distribution="negative_binomial",
            latent_size=5,
            hidden_sizes=(50, 20),
        ),
        training=TrainingConfig(number_of_epochs=10, learning_rate=1e-3, models_directory="models"),
    )
    facts = {"data_set": "toy.tsv", "feature_size": 30, "number_of_classes": 3, "seed": 7}
    (run / "model.json").write_text(json.dumps(facts))
    rows = []
    for epoch, bound in VALIDATION_BOUNDS.items():
        terms = dict(zip(GMVAE_TERMS, (bound - 10, bound + 5, 4.0, 1.0), strict=True))
        rows.append({"epoch": epoch, "set": "training", **terms, "seconds": 0.5})
        terms = dict(zip(GMVAE_TERMS, (bound, bound + 5, 4.0, 1.0), strict=True))
        rows.append({"epoch": epoch, "set": "validation", **terms, "seconds": 0.5})
    write_curves(run / "learning_curves.csv", rows, GMVAE_TERMS)
    (run / "checkpoint.pt").write_bytes(b"x")
    (run / "best" / "checkpoint.pt").write_bytes(b"x")
    return run


def _info(capsys, *argv: str) -> dict[str, str]:
    assert main(["info", *argv]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = {}
    for line in captured.out.splitlines():
        label, _, text = line.partition(":")
        lines[label] = text.strip()
    return lines


def test_info_describes_the_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run = _make_run(tmp_path)
    info = _info(capsys, RUN)
    assert info["Run"] == RUN
    assert "toy.tsv (30 features)" in info["Data"]
    assert "toy/split-random_0.9/no_preprocessing" in info["Data"]
    for text in ("GMVAE", "negative_binomial likelihood", "latent of 5", "50 20", "3 components"):
        assert text in info["Model"]
    for text in ("learning rate 0.001", "minibatch size 100", "seed 7"):
        assert text in info["Training"]
    best = max(VALIDATION_BOUNDS, key=VALIDATION_BOUNDS.__getitem__)
    assert info["Epochs"] == f"4 trained (of 10 asked); best epoch {best} (validation ELBO -290.5)"
    assert "validation ELBO -301.0" in info["Last epoch"]
    assert "training ELBO -311.0" in info["Last epoch"]
    assert info["Versions"] == "end of training (no digest), best model (best/, no digest)"
    assert info["Folders"].startswith(str(Path(RUN))) and "best/" in info["Folders"]
    assert run.is_dir()


def test_info_shows_evaluation_metrics(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _make_run(tmp_path)
    results = tmp_path / "analyses" / Path(RUN).relative_to("models") / "e_4-mc_1-iw_1"
    results.mkdir(parents=True)
    metrics = {
        "evaluation_set": "test",
        "model_version": "end_of_training",
        "lower_bound": -299.75,
        "predictions": {"model": {"adjusted_rand_index": 0.4321}},
    }
    (results / "metrics.json").write_text(json.dumps(metrics))
    info = _info(capsys, RUN, "-A", "analyses")
    assert info["Evaluated"].startswith("end of training, test set: ELBO -299.8")
    assert "adjusted rand index 0.4321" in info["Evaluated"]
    assert "analyses in analyses/" in info["Folders"]


def _one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("scvae: error: "), err
    assert "Traceback" not in err
    return err


def test_info_on_a_model_folder_names_its_runs(tmp_path, capsys):
    (tmp_path / "model" / "run_A").mkdir(parents=True)
    (tmp_path / "model" / "run_B").mkdir()
    err = _one_line_error(capsys, ["info", str(tmp_path / "model")])
    assert "not a run folder" in err and "run_A, run_B" in err


@pytest.mark.parametrize("case", ["missing", "file", "bad json", "not a config"])
def test_info_refuses_other_paths(case, tmp_path, capsys):
    path = tmp_path / "thing"
    if case == "file":
        path.write_text("hello")
    elif case != "missing":
        path.mkdir()
        (path / "config.json").write_text("{oops" if case == "bad json" else "[1, 2]")
    err = _one_line_error(capsys, ["info", str(path)])
    assert str(path) in err


def test_info_without_curves(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run = _make_run(tmp_path)
    (run / "learning_curves.csv").unlink()
    (run / "metadata_log-0-4.log").write_text("epochs trained: (0, 4)\n")
    info = _info(capsys, RUN)
    assert info["Epochs"] == "4 trained (of 10 asked)"


@pytest.mark.parametrize("content", ["epoch,set\nnot a number,training\n", "a,b\n1,2\n"])
def test_info_refuses_unreadable_curves(content, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run = _make_run(tmp_path)
    (run / "learning_curves.csv").write_text(content)
    err = _one_line_error(capsys, ["info", RUN])
    assert "learning_curves.csv" in err


def test_info_tolerates_odd_model_facts(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run = _make_run(tmp_path)
    (run / "model.json").write_text("[1, 2]")
    info = _info(capsys, RUN)
    assert info["Data"].startswith("?")


def _checkpoint(path: Path) -> None:
    import torch

    from scvae.training.checkpoints import save_checkpoint

    state = {"model": {"w": torch.arange(6.0)}, "epoch": 3, "optimiser": {}}
    save_checkpoint(path, state)


def test_info_checks_checkpoint_digests(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run = _make_run(tmp_path)
    _checkpoint(run / "checkpoint.pt")
    _checkpoint(run / "best" / "checkpoint.pt")
    assert _info(capsys, RUN)["Versions"] == (
        "end of training (verified), best model (best/, verified)"
    )
    data = bytearray((run / "best" / "checkpoint.pt").read_bytes())
    data[len(data) // 2] ^= 0x01
    (run / "best" / "checkpoint.pt").write_bytes(bytes(data))
    versions = _info(capsys, RUN)["Versions"]
    assert versions.startswith("end of training (verified), best model (best/, damaged (")
    assert "SHA-256" in versions


def test_record_digests_upgrades_checkpoints_of_an_earlier_version(tmp_path, monkeypatch, capsys):
    from scvae.training.checkpoints import CheckpointError, digest_path, load_checkpoint

    monkeypatch.chdir(tmp_path)
    run = _make_run(tmp_path)
    _checkpoint(run / "checkpoint.pt")
    digest_path(run / "checkpoint.pt").unlink()  # as an earlier scvae left it
    with pytest.raises(CheckpointError, match="--record-digests"):
        load_checkpoint(run / "checkpoint.pt")
    (run / "best" / "checkpoint.pt").unlink()
    info = _info(capsys, RUN, "--record-digests")
    assert info["Versions"] == "end of training (verified)"
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 3


def test_record_digests_refuses_a_file_that_is_not_a_checkpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run = _make_run(tmp_path)  # its checkpoints are one byte each, without digests
    assert main(["info", RUN, "--record-digests"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("scvae: error:")
    assert err[0].endswith("it cannot be given a digest")
    assert not (run / "checkpoint.pt.sha256").exists()


def test_info_names_the_data_the_run_was_trained_on(tmp_path, monkeypatch, capsys):
    from scvae.runs import RunIdentity, data_identity, write_identity

    monkeypatch.chdir(tmp_path)
    run = _make_run(tmp_path)
    data = tmp_path / "toy.tsv"
    data.write_text("a\tb\n1\t2\n")
    identity = RunIdentity(data_identity(data, (1, 2)), {}, {}, 7)
    write_identity(run, identity)
    trained_on = _info(capsys, RUN)["Trained on"]
    assert trained_on == f"{data.resolve()} (1 x 2); unchanged since training"
    data.write_text("a\tb\n1\t2\n3\t4\n")
    assert "changed since training (8 bytes then, 12 now)" in _info(capsys, RUN)["Trained on"]
    data.unlink()
    assert _info(capsys, RUN)["Trained on"].endswith("that input no longer exists")
