"""Run identity through the command line: a run is reused only by the command that made it.

Each test trains a tiny model (60 cells x 12 genes, hidden layer of 8, 1-2 epochs) with
``scvae.cli.main`` and checks which run folder train and evaluate use, what they print,
and what the run records (read back with ``json``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from scvae.cli import main

MODEL = "VAE/gaussian/negative_binomial-lib-rg-l_10-h_8-mc_1-iw_1-kl-bn"
FOLDER = Path("m/toy/no_split/no_preprocessing") / MODEL


def _counts(path: Path, cells: int = 60, seed: int = 0) -> Path:
    """A TSV of Poisson counts, cells x 12 genes, with a header and cell names."""
    counts = np.random.default_rng(seed).poisson(2.0, size=(cells, 12))
    header = "cell\t" + "\t".join(f"g{j}" for j in range(12))
    rows = [f"c{i}\t" + "\t".join(map(str, row)) for i, row in enumerate(counts)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _train(data: str | Path, *extra: str, epochs: int = 1) -> int:
    argv = ["train", str(data), "-e", str(epochs), "-H", "8", "-D", "d", "-M", "m"]
    return main([*argv, *extra])


def _evaluate(data: str | Path | None, *extra: str) -> int:
    argv = ["evaluate", *([str(data)] if data else []), "-H", "8", "-D", "d", "-M", "m"]
    return main([*argv, "-A", "a", "--included-analyses", "metrics", *extra])


def _identity(run: Path) -> dict:
    return json.loads((run / "identity.json").read_text())


def _facts(run: Path) -> dict:
    return json.loads((run / "model.json").read_text())


def _checkpoint(run: Path) -> bytes:
    return (run / "checkpoint.pt").read_bytes()


def _one_error_line(captured) -> str:
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scvae: error: "), captured.err
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


@pytest.fixture
def toy(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return _counts(tmp_path / "toy.tsv")


def test_same_command_twice_continues_the_same_run(toy, capsys):
    assert _train(toy, "--seed", "1") == 0
    capsys.readouterr()
    assert _train(toy, "--seed", "1") == 0
    out = capsys.readouterr().out
    assert "Model has already been trained for 1 epochs" in out
    assert "other settings" not in out
    assert _train(toy, "--seed", "1", epochs=2) == 0
    out = capsys.readouterr().out
    assert "Continuing training for 1 more epochs (up to 2)" in out
    assert out.strip().splitlines()[-1] == f"Model saved in {FOLDER}"
    assert not list(FOLDER.glob("run_*"))
    identity = _identity(FOLDER)
    assert identity["data"]["input"] == str(toy.resolve())
    assert identity["data"]["shape"] == [60, 12]
    assert identity["data"]["size"] == toy.stat().st_size
    assert identity["seed"] == 1 and identity["training"]["learning_rate"] == 1e-3
    assert identity["options"]["model.hidden_sizes"] == [8]
    # paths stored in the run are absolute
    assert _facts(FOLDER)["data_set"] == str(toy.resolve())
    config = json.loads((FOLDER / "config.json").read_text())
    assert Path(config["data"]["data_directory"]).is_absolute()
    assert Path(config["training"]["models_directory"]).is_absolute()


def test_same_command_without_a_seed_continues_with_the_saved_seed(toy, capsys):
    assert _train(toy) == 0
    seed = _facts(FOLDER)["seed"]
    assert _train(toy, epochs=2) == 0
    assert "Continuing training" in capsys.readouterr().out
    assert _facts(FOLDER)["seed"] == seed and not list(FOLDER.glob("run_*"))


def test_other_data_with_the_same_base_name_trains_a_new_run(toy, tmp_path, capsys):
    other = _counts(tmp_path / "other" / "toy.tsv", cells=50, seed=7)
    assert _train(toy, "--seed", "1") == 0
    before = _checkpoint(FOLDER)
    capsys.readouterr()
    assert _train(other, "--seed", "1") == 0
    out = capsys.readouterr().out
    assert "Model has already been trained" not in out
    new_run_lines = [line for line in out.splitlines() if "starting a new run" in line]
    assert len(new_run_lines) == 1, out
    assert str(other.resolve()) in new_run_lines[0] and "(50 x 12)" in new_run_lines[0]
    (run,) = FOLDER.glob("run_data_*")
    assert out.strip().splitlines()[-1] == f"Model saved in {run}"
    assert _identity(run)["data"]["input"] == str(other.resolve())
    assert _identity(run)["data"]["shape"] == [50, 12]
    assert _checkpoint(FOLDER) == before  # the first file's model is untouched
    # the same command again continues the new run
    assert _train(other, "--seed", "1") == 0
    assert f"Model saved in {run}" in capsys.readouterr().out
    # evaluate finds each file's own run
    assert _evaluate(other) == 0
    out = capsys.readouterr().out
    assert f"{run.name}/e_1-mc_1-iw_1" in out
    assert _evaluate(toy) == 0
    out = capsys.readouterr().out
    assert f"{MODEL}/e_1-mc_1-iw_1" in out and "run_" not in out


def test_same_size_and_shape_with_other_values_is_other_data(toy, capsys):
    assert _train(toy, "--seed", "1") == 0
    text = toy.read_text()
    toy.write_text(text.replace("\t2\t", "\t3\t", 1))  # one count changed, same byte size
    assert _train(toy, "--seed", "1") == 0
    out = capsys.readouterr().out
    # size and shape match: taken as the same data (modification time alone is noted)
    assert "was modified since" in out and "already been trained" in out
    toy.write_text(text.replace("\t2\t", "\t12\t", 1))  # one byte more
    assert _train(toy, "--seed", "1") == 0
    out = capsys.readouterr().out
    assert "starting a new run" in out and "bytes there" in out


def test_other_seed_trains_a_new_run_and_evaluate_finds_it(toy, capsys):
    assert _train(toy, "--seed", "1") == 0
    before = _checkpoint(FOLDER)
    capsys.readouterr()
    assert _train(toy, "--seed", "2") == 0
    out = capsys.readouterr().out
    assert "Model has already been trained" not in out
    (line,) = [line for line in out.splitlines() if "starting a new run" in line]
    assert "--seed 1 there, 2 here" in line
    run = FOLDER / "run_seed_2"
    assert out.strip().splitlines()[-1] == f"Model saved in {run}"
    assert _facts(run)["seed"] == 2 and _facts(FOLDER)["seed"] == 1
    assert _checkpoint(FOLDER) == before and _checkpoint(run) != before
    # rerunning the seed-2 command continues the seed-2 run
    assert _train(toy, "--seed", "2", epochs=2) == 0
    out = capsys.readouterr().out
    assert "Continuing training" in out and f"Model saved in {run}" in out
    # evaluate with each seed finds that seed's run
    assert _evaluate(toy, "--seed", "2") == 0
    assert "run_seed_2/e_2-mc_1-iw_1" in capsys.readouterr().out
    assert _evaluate(toy, "--seed", "1") == 0
    out = capsys.readouterr().out
    assert f"{MODEL}/e_1-mc_1-iw_1" in out and "run_seed_2" not in out
    # a seed no run was trained with: one line saying what differs and what to give
    assert _evaluate(toy, "--seed", "3") == 2
    line = _one_error_line(capsys.readouterr())
    assert "--seed 1 there, 3 here" in line and "--run-id seed_2" in line


def test_other_learning_rate_trains_a_new_run(toy, capsys):
    assert _train(toy, "--seed", "1") == 0
    capsys.readouterr()
    assert _train(toy, "--seed", "1", "--learning-rate", "0.01") == 0
    out = capsys.readouterr().out
    assert "Model has already been trained" not in out
    assert "--learning-rate 0.001 there, 0.01 here" in out
    run = FOLDER / "run_learning_rate_0_01"
    assert _identity(run)["training"]["learning_rate"] == 0.01
    assert json.loads((run / "config.json").read_text())["training"]["learning_rate"] == 0.01
    assert _train(toy, "--seed", "1", "--learning-rate", "0.01") == 0
    out = capsys.readouterr().out
    assert "already been trained" in out and f"Model saved in {run}" in out
    # evaluate tells the two runs apart by the learning rate, as training did
    assert _evaluate(toy, "--learning-rate", "0.01") == 0
    assert "run_learning_rate_0_01/e_1" in capsys.readouterr().out
    assert _evaluate(toy) == 0
    out = capsys.readouterr().out
    assert f"{MODEL}/e_1" in out and "run_learning_rate" not in out.split("Results written")[-1]


def test_a_named_run_with_other_settings_is_refused_in_one_line(toy, capsys):
    assert _train(toy, "--seed", "1", "--run-id", "mine") == 0
    capsys.readouterr()
    assert _train(toy, "--seed", "2", "--run-id", "mine") == 2
    line = _one_error_line(capsys.readouterr())
    assert "--seed 1 there, 2 here" in line
    for option in ("--run-id", "--reset-training", "-M"):
        assert option in line
    # --reset-training trains it again with the new settings
    assert _train(toy, "--seed", "2", "--run-id", "mine", "--reset-training") == 0
    assert _facts(FOLDER / "run_mine")["seed"] == 2


def test_evaluate_from_another_directory(toy, tmp_path, monkeypatch, capsys):
    assert _train(toy, "--seed", "1") == 0
    run = (tmp_path / FOLDER).resolve()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    argv = ["evaluate", "--model-directory", str(run), "--included-analyses", "metrics"]
    assert main([*argv, "-A", "results"]) == 0
    out = capsys.readouterr().out
    assert "Results written to results/toy/" in out
    # the saved (absolute) data folder was used, nothing was cached here
    assert sorted(path.name for path in elsewhere.iterdir()) == ["results"]
    # a -D given on the command line is used, not the saved one
    assert main([*argv, "-A", "results", "-D", "cache_here", "--quiet"]) == 0
    assert (elsewhere / "cache_here").is_dir()


def test_a_run_of_an_earlier_version_still_loads(toy, capsys):
    assert _train(toy, "--seed", "1") == 0
    (FOLDER / "identity.json").unlink()  # as written by an earlier version
    capsys.readouterr()
    assert _train(toy, "--seed", "1") == 0
    out = capsys.readouterr().out
    assert out.count("earlier version") == 1 and "already been trained" in out
    assert _evaluate(toy) == 0
    out = capsys.readouterr().out
    assert out.count("earlier version") == 1 and f"{MODEL}/e_1" in out


def test_weights_of_another_shape_are_one_line(toy, capsys):
    assert _train(toy, "--seed", "1") == 0
    assert _train(toy, "--seed", "1", "-l", "3") == 0
    other = FOLDER.parent / MODEL.split("/")[-1].replace("l_10", "l_3")
    for name in ("checkpoint.pt", "checkpoint.pt.sha256"):
        shutil.copy(FOLDER / name, other / name)
    capsys.readouterr()
    assert _evaluate(toy, "-l", "3") == 2
    line = _one_error_line(capsys.readouterr())
    assert "does not fit this model" in line


def test_an_option_newer_than_the_record_takes_its_earlier_value(toy, capsys):
    assert _train(toy, "--seed", "1") == 0
    record = _identity(FOLDER)
    del record["options"]["data.genome"]  # as if recorded before --genome existed
    (FOLDER / "identity.json").write_text(json.dumps(record))
    capsys.readouterr()
    assert _train(toy, "--seed", "1") == 0
    out = capsys.readouterr().out
    assert "already been trained" in out and "other settings" not in out
    # an option outside the folder name: a run_options_<digest> run
    labels = toy.with_name("labels.tsv")
    labels.write_text("".join(f"c{i}\t{'AB'[i % 2]}\n" for i in range(60)))
    assert _train(toy, "--seed", "1", "--labels", str(labels)) == 0
    out = capsys.readouterr().out
    assert f"--labels (none) there, {labels.resolve()} here" in out
    assert len(list(FOLDER.glob("run_options_*"))) == 1


@pytest.mark.parametrize("text", ["{", "[]", '{"data": {"input": 1}}'])
def test_a_damaged_run_record_is_one_line(toy, capsys, text):
    assert _train(toy, "--seed", "1") == 0
    (FOLDER / "identity.json").write_text(text)
    capsys.readouterr()
    assert _train(toy, "--seed", "1") == 2
    line = _one_error_line(capsys.readouterr())
    assert "identity.json" in line and "is not a valid run record" in line


def test_evaluate_notes_a_run_trained_with_another_learning_rate(toy, capsys):
    assert _train(toy, "--seed", "1", "--learning-rate", "0.01") == 0
    capsys.readouterr()
    assert _evaluate(toy) == 0  # the only run for these data and options
    out = capsys.readouterr().out
    (note,) = [line for line in out.splitlines() if line.startswith("Note: evaluating")]
    assert "--learning-rate 0.01 there, 0.001 here" in note
    assert f"{MODEL}/e_1" in out
