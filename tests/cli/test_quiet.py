"""``--quiet``, progress only on a terminal, and ``evaluate`` ignoring training-only options."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from scvae import progress
from scvae.cli import main
from scvae.config import TrainingConfig


@pytest.fixture(autouse=True)
def _reset_progress():
    yield
    progress.configure()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_follows_quiet_and_the_terminal():
    assert progress.wanted() and not progress.wanted(False)  # library default: as asked
    assert progress.wanted(stream=io.StringIO())
    progress.configure(terminal_only=True)
    assert progress.wanted(stream=_Terminal())
    assert not progress.wanted(stream=io.StringIO())
    progress.configure(quiet=True)
    assert progress.is_quiet() and not progress.wanted(stream=_Terminal())


def test_bar_draws_frames_only_on_a_terminal():
    progress.configure(terminal_only=True)
    piped, terminal = io.StringIO(), _Terminal()
    for stream in (piped, terminal):
        for _ in progress.bar(range(3), file=stream, desc="work", mininterval=0):
            pass
    assert piped.getvalue() == ""
    assert "\r" in terminal.getvalue() and "work" in terminal.getvalue()


def _toy_counts(folder: Path) -> Path:
    counts = np.random.default_rng(0).poisson(2.0, size=(60, 12))
    path = folder / "toy.tsv"
    header = "cell\t" + "\t".join(f"g{j}" for j in range(12))
    rows = [f"c{i}\t" + "\t".join(map(str, row)) for i, row in enumerate(counts)]
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _train(tmp_path, *extra: str) -> int:
    data = _toy_counts(tmp_path)
    argv = ["train", str(data), "-e", "2", "-D", str(tmp_path / "d"), "-M", str(tmp_path / "m")]
    return main([*argv, "-H", "8", "--seed", "1", *extra])


def test_train_quiet_prints_only_the_result(tmp_path, capsys):
    assert _train(tmp_path, "--quiet") == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Model saved in "), captured.out


def test_global_quiet_before_the_command(tmp_path, capsys, monkeypatch):
    import scvae.api

    seen = {}
    monkeypatch.setattr(scvae.api, "train", lambda *a, **k: seen.update(k) or tmp_path)
    assert main(["--quiet", "train", "x"]) == 0
    assert seen["progress"] is False
    assert seen["log"] is not print


def test_piped_training_has_epoch_lines_and_no_frames(tmp_path, capsys):
    assert _train(tmp_path) == 0  # pytest's captured stderr is not a terminal
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "\r" not in captured.out
    assert "Epoch 2" in captured.out


def test_evaluate_ignores_training_only_options(tmp_path, capsys, monkeypatch):
    import scvae.api

    seen = {}

    def evaluate(data, data_config, model_config, training_config, *args, **kwargs):
        seen["training"] = training_config
        return [tmp_path]

    monkeypatch.setattr(scvae.api, "evaluate", evaluate)
    argv = ["evaluate", "x", "-e", "50", "--learning-rate", "0.01", "--early-stopping"]
    assert main([*argv, "-B", "64", "--seed", "5", "--run-id", "r1"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("scvae: note: evaluate ignores"), err
    for flag in ("--number-of-epochs", "--early-stopping"):
        assert flag in err[0]
    assert "--learning-rate" not in err[0]  # it tells runs of one model folder apart
    training, defaults = seen["training"], TrainingConfig()
    for name in ("number_of_epochs", "early_stopping"):  # ignored: defaults
        assert getattr(training, name) == getattr(defaults, name), name
    assert (training.minibatch_size, training.seed, training.run_id) == (64, 5, "r1")
    assert training.learning_rate == 0.01


def test_evaluate_without_training_only_options_has_no_note(tmp_path, capsys, monkeypatch):
    import scvae.api

    monkeypatch.setattr(scvae.api, "evaluate", lambda *a, **k: [tmp_path])
    assert main(["evaluate", "x", "-B", "64"]) == 0
    assert capsys.readouterr().err == ""


def test_evaluate_checks_ignored_values_too(capsys):
    assert main(["evaluate", "x", "-e", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_evaluate_keeps_the_defaults_profile(tmp_path, capsys, monkeypatch):
    import dataclasses

    import scvae.api

    if "defaults" not in {field.name for field in dataclasses.fields(TrainingConfig)}:
        pytest.skip("this version has no --defaults")
    seen = {}

    def evaluate(data, data_config, model_config, training_config, *args, **kwargs):
        seen.update(model=model_config, training=training_config)
        return [tmp_path]

    monkeypatch.setattr(scvae.api, "evaluate", evaluate)
    assert main(["evaluate", "x", "--defaults", "2.1.4"]) == 0
    assert capsys.readouterr().err == ""  # not noted as ignored: it picks the model folder
    from scvae.config import ModelConfig

    assert seen["model"] == ModelConfig.with_defaults("2.1.4")
    assert seen["training"].defaults == "2.1.4"
