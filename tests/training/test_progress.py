"""The run-level progress bar of training, and --quiet in the workers of --processes."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from scvae import api, progress
from scvae.cli import main
from scvae.config import DataConfig, ModelConfig, TrainingConfig
from scvae.data import DataSet

BATCH = 10


@pytest.fixture(autouse=True)
def _reset_progress():
    yield
    progress.configure()


def _toy_counts(folder: Path, cells: int = 80, genes: int = 12) -> Path:
    counts = np.random.default_rng(0).poisson(2.0, size=(cells, genes))
    path = folder / "toy.tsv"
    header = "cell\t" + "\t".join(f"g{j}" for j in range(genes))
    rows = [f"c{i}\t" + "\t".join(map(str, row)) for i, row in enumerate(counts)]
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_one_bar_counts_every_training_and_evaluation_step(tmp_path, capsys):
    data = _toy_counts(tmp_path)
    lines: list[str] = []
    api.train(
        str(data),
        DataConfig(data_directory=str(tmp_path / "d"), split_data_set=True),
        ModelConfig(hidden_sizes=(8,), latent_size=2),
        TrainingConfig(
            number_of_epochs=3, minibatch_size=BATCH, models_directory=str(tmp_path / "m"), seed=1
        ),
        progress=True,
        log=lines.append,
    )
    # the sizes of the sets, counted independently of the training code
    training, validation, _ = (
        DataSet(str(data), directory=tmp_path / "d2").load().split("random", 0.9)
    )
    n, m = training.number_of_examples, validation.number_of_examples
    per_epoch = 2 * math.ceil(n / BATCH) + math.ceil(m / BATCH)  # train + evaluate both sets
    frames = capsys.readouterr().err.replace("\r", "\n")
    totals = {int(total) for total in re.findall(r"\d+/(\d+) steps", frames)}
    assert totals == {3 * per_epoch}, frames[-500:]
    assert f"{3 * per_epoch}/{3 * per_epoch} steps" in frames  # it reached the end
    # one bar for the run: its stages are named, and it never restarts from zero
    assert "Epoch 3/3, evaluating the validation set" in frames
    done = [int(n) for n in re.findall(r"(\d+)/\d+ steps", frames)]
    assert done == sorted(done)
    assert any(line.startswith("Epoch 3") for line in lines)


def test_a_resumed_run_counts_only_the_epochs_left(tmp_path, capsys):
    data = _toy_counts(tmp_path)
    configs = (
        DataConfig(data_directory=str(tmp_path / "d")),
        ModelConfig(hidden_sizes=(8,), latent_size=2),
    )

    def train(epochs: int) -> str:
        training = TrainingConfig(
            number_of_epochs=epochs, minibatch_size=BATCH, models_directory=str(tmp_path / "m")
        )
        api.train(str(data), *configs, training, progress=True, log=lambda *_: None)
        return capsys.readouterr().err.replace("\r", "\n")

    train(1)
    frames = train(3)  # two more epochs of 80 cells: 8 training + 8 evaluation steps each
    assert {int(total) for total in re.findall(r"\d+/(\d+) steps", frames)} == {2 * 16}


def test_piped_training_draws_no_bar(tmp_path, capsys):
    progress.configure(terminal_only=True)  # as the command line does; stderr is not a tty
    assert main(["train", str(_toy_counts(tmp_path)), "-e", "2", "-H", "8", "--seed", "1",
                 "-D", str(tmp_path / "d"), "-M", str(tmp_path / "m")]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert "\r" not in captured.err + captured.out and "steps" not in captured.err


@pytest.mark.slow
def test_quiet_reaches_the_workers_of_processes(tmp_path, capfd):
    arguments = ["train", str(_toy_counts(tmp_path)), "-e", "2", "-H", "8", "--seed", "1",
                 "-D", str(tmp_path / "d"), "-M", str(tmp_path / "m"), "--device", "cpu",
                 "--threads", "1", "--processes", "2", "--quiet"]  # fmt: skip
    assert main(arguments) == 0
    captured = capfd.readouterr()  # the workers write to the inherited descriptors
    assert captured.err == ""
    assert captured.out.strip().splitlines()[-1].startswith("Model saved in ")
    assert "Epoch" not in captured.out
