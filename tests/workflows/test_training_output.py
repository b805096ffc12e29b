"""What ``scvae train`` prints, and the name parts that depend on the data.

Each test trains a tiny model through ``scvae.cli.main`` and reads the printed output
back; the values are checked against ``learning_curves.csv`` (read with ``csv``) and the
parameter table against the saved checkpoint (read with ``torch.load``).
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from scvae.cli import main

EPOCH_LINE = re.compile(r"^Epoch +(\d+)/(\d+) \(([\d.]+) s \+ ([\d.]+) s\): (.*)$")
RAW_NAMES = (
    "lower_bound",
    "reconstruction_error",
    "kl_divergence",
    "log_p_library",
    "evaluation_seconds",
)


def _counts(folder: Path, cells: int = 60, genes: int = 12) -> Path:
    counts = np.random.default_rng(0).poisson(2.0, size=(cells, genes))
    path = folder / "toy.tsv"
    header = "cell\t" + "\t".join(f"g{j}" for j in range(genes))
    rows = [f"c{i}\t" + "\t".join(map(str, row)) for i, row in enumerate(counts)]
    path.write_text("\n".join([header, *rows]) + "\n")
    labels = folder / "labels.tsv"
    labels.write_text("".join(f"c{i}\t{'AB'[i % 2]}\n" for i in range(cells)))
    return path


@pytest.fixture
def toy(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return _counts(tmp_path)


def _train(capsys, data, *extra: str) -> tuple[list[str], Path]:
    argv = ["train", str(data), "-H", "8", "-D", "d", "-M", "m", "--seed", "1", *extra]
    assert main(argv) == 0
    out = capsys.readouterr().out
    lines = out.rstrip("\n").splitlines()
    assert lines[-1].startswith("Model saved in ")
    return lines, Path(lines[-1].removeprefix("Model saved in "))


def _curves(run: Path) -> list[dict]:
    with (run / "learning_curves.csv").open() as handle:
        return list(csv.DictReader(handle))


def _setup(lines: list[str]) -> dict[str, str]:
    start = lines.index("Model setup:")
    entries = {}
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break
        name, _, value = line.strip().partition(": ")
        entries[name] = value
    return entries


def test_gmvae_epoch_lines_are_one_compact_line_each(toy, capsys):
    lines, run = _train(
        capsys,
        toy,
        "-m",
        "GMVAE",
        "-K",
        "2",
        "-e",
        "2",
        "--split-data-set",
        "--labels",
        "labels.tsv",
    )
    epochs = [line for line in lines if line.startswith("Epoch ")]
    assert len(epochs) == 2  # one line per epoch, nothing continues it
    for line in lines:
        for raw in RAW_NAMES:
            assert raw not in line, line
    legend = next(line for line in lines if line.startswith("Epochs ("))
    assert "training/validation sets" in legend and "log P(N) = " in legend
    assert lines.index(legend) == lines.index(epochs[0]) - 1
    curves = _curves(run)
    for line in epochs:
        assert len(line) <= 120, line  # with the training and evaluation times
        epoch, total, seconds, evaluation, terms = EPOCH_LINE.match(line).groups()
        assert total == "2"
        rows = [row for row in curves if row["epoch"] == epoch]
        assert [row["set"] for row in rows] == ["training", "validation"]
        # the training pass, then the evaluation passes of both sets
        assert float(seconds) == pytest.approx(float(rows[0]["seconds"]), abs=0.006)
        evaluated = sum(float(row["evaluation_seconds"]) for row in rows)
        assert float(evaluation) == pytest.approx(evaluated, abs=0.006)
        values = dict(part.rsplit(" ", 1) for part in terms.removesuffix(" %").split(", "))
        assert set(values) == {"ELBO", "ENRE", "KL_z", "KL_y", "Acc"}
        for title, column in (("ELBO", "lower_bound"), ("ENRE", "reconstruction_error"),
                              ("KL_z", "kl_divergence_z"), ("KL_y", "kl_divergence_y")):  # fmt: skip
            printed = [float(value) for value in values[title].split("/")]
            expected = [float(row[column]) for row in rows]
            for shown, value in zip(printed, expected, strict=True):
                # sensible precision: 4 significant digits or 2-3 decimals, no more
                assert len(re.sub(r"[^0-9]", "", f"{shown}").lstrip("0")) <= 4
                assert math.isclose(shown, value, rel_tol=5e-3, abs_tol=5e-3), (title, shown, value)
        accuracy = [float(value) for value in values["Acc"].split("/")]
        assert all(0 <= value <= 100 for value in accuracy)


def test_description_and_parameter_table(toy, capsys):
    lines, run = _train(capsys, toy, "-m", "GMVAE", "-K", "3", "-e", "1")
    setup = _setup(lines)
    assert setup["type"] == "GMVAE" and setup["feature size"] == "12"
    assert setup["latent size"] == "10" and setup["hidden sizes"] == "8"
    assert setup["components"].startswith("3 ")
    assert setup["reconstruction distribution"].startswith("negative binomial")
    for name in ("Monte Carlo samples", "importance samples", "KL weight", "analytical KL term",
                 "batch normalisation", "batch correction", "warm-up", "dropout keep probabilities",
                 "count sum", "early stopping", "seed", "data", "folder"):  # fmt: skip
        assert name in setup, name
    assert setup["seed"] == "1" and setup["folder"] == str(run)
    start = next(i for i, line in enumerate(lines) if line.startswith("Trainable parameters ("))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("    "):
            break
        rows.append(re.split(r"\s{2,}", line.strip()))
    *parameters, total = rows
    assert total[0] == "total"
    state = torch.load(run / "checkpoint.pt", weights_only=True)["model"]
    for name, shape, count in parameters:
        dimensions = [int(size) for size in shape.split(" x ")]
        assert list(state[name].shape) == dimensions
        assert int(count.replace(",", "")) == math.prod(dimensions)
    assert int(total[-1].replace(",", "")) == sum(state[name].numel() for name, _, _ in parameters)


def test_vae_description_has_no_components(toy, capsys):
    lines, _ = _train(capsys, toy, "-e", "1")
    setup = _setup(lines)
    assert setup["type"] == "VAE" and "components" not in setup
    assert not any("components" in line for line in lines)
    (epoch,) = [line for line in lines if line.startswith("Epoch ")]
    assert re.search(r"ELBO -?[\d.]+, ENRE -?[\d.]+, KL [\d.]+$", epoch), epoch
    legend = "Epochs (training set, all 60 cells evaluated; time: training + evaluation; nats per"
    assert legend in "\n".join(lines)


def test_no_batch_correction_or_mapping_in_names_when_the_data_have_none(toy, capsys):
    lines, run = _train(capsys, toy, "-e", "1", "--batch-correction", "--map-features")
    name = run.as_posix()
    assert "-bc" not in name and "features_mapped" not in name
    assert name.startswith("m/toy/no_split/no_preprocessing/VAE/")
    assert _setup(lines)["batch correction"] == "no (the data have no batches)"
    # evaluate with the same options finds the run
    argv = ["evaluate", str(toy), "-H", "8", "-D", "d", "-M", "m", "--batch-correction"]
    assert main([*argv, "--map-features", "-A", "a", "--included-analyses", "metrics"]) == 0
    assert "-bc" not in capsys.readouterr().out


def test_batch_correction_and_mapping_named_when_they_apply(tmp_path, monkeypatch, capsys):
    anndata = pytest.importorskip("anndata")
    monkeypatch.chdir(tmp_path)
    counts = np.random.default_rng(1).poisson(2.0, size=(40, 10)).astype(np.float32)
    adata = anndata.AnnData(counts)
    adata.obs["batch"] = ["one", "two"] * 20
    adata.write_h5ad(tmp_path / "batched.h5ad")
    lines, run = _train(
        capsys, "batched.h5ad", "-e", "1", "--batch-key", "batch", "--batch-correction"
    )
    assert run.name.endswith("-bc") or "-bc-" in run.name
    assert _setup(lines)["batch correction"] == "yes (2 batches)"
    # the development set has a feature mapping (25 features onto 5 names)
    lines, run = _train(capsys, "development", "-e", "1", "-B", "1000", "--map-features")
    assert run.as_posix().startswith("m/development/no_split/features_mapped/")
    assert _setup(lines)["feature size"] == "5"


def test_numbers_keep_the_decimals_that_matter():
    from scvae.workflows.training_output import duration, number

    values = (-1622.4, -625.93, -32.544, 4.1379, 0.2774, 0.00012)
    assert [number(v) for v in values] == ["-1622", "-625.9", "-32.54", "4.14", "0.277", "0.00012"]
    assert [duration(s) for s in (0.934, 12.34, 125, 3725)] == [
        "0.93 s",
        "12.3 s",
        "2 min 5 s",
        "1 h 2 min",
    ]
