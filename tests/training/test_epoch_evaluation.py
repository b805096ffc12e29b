"""The per-epoch evaluation: exact on small sets, a fixed subsample of large ones.

* The subsample is drawn from the run seed: the same cells every epoch, in every process
  and after a resume; none is drawn for a set at or below the limit, or with 0. It is
  made of runs of neighbouring cells in store order, spread over the whole set.
* A subsampled evaluation gives the terms of the module on exactly those cells (the
  truth: the module called directly on those rows of the file, read back with anndata),
  in memory and from values on disk, where the subsample is read row by row.
* Training with subsampling records the cells evaluated in ``learning_curves.csv``, and a
  run stopped and continued gives the uninterrupted run's curves; small sets give the
  same curves as with the exact pass (``--epoch-evaluation-cells 0``).
* The option reaches training from the command line, ``scvae.train`` and the estimators.
"""

from __future__ import annotations

import csv
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from scvae import api
from scvae.cli import main
from scvae.config import DataConfig, ModelConfig, TrainingConfig
from scvae.errors import ConfigError
from scvae.training.curves import read_curves
from scvae.training.fit import (
    EVALUATION_RUN,
    FitOptions,
    LabelledSource,
    evaluate_terms,
    evaluated_sets,
    evaluation_sample,
    fit,
    subset,
)

CELLS, GENES = 400, 40


@pytest.fixture(scope="module")
def counts_h5ad(tmp_path_factory) -> Path:
    """400 cells x 40 genes of negative-binomial counts in two groups, labelled."""
    rng = np.random.default_rng(7)
    labels = np.array(["A", "B"])[rng.integers(0, 2, CELLS)]
    means = np.where(labels[:, None] == "A", 1.0, 3.0) * rng.gamma(2.0, 1.0, size=(1, GENES))
    values = rng.negative_binomial(2, 2 / (2 + means)).astype(np.float32)
    names = pd.Index([f"c{i}" for i in range(CELLS)], dtype=object)
    obs = pd.DataFrame({"label": pd.Categorical(labels)}, index=names)
    var = pd.DataFrame(index=pd.Index([f"g{j}" for j in range(GENES)], dtype=object))
    path = tmp_path_factory.mktemp("counts") / "counts.h5ad"
    anndata.AnnData(X=sp.csr_matrix(values), obs=obs, var=var).write_h5ad(path)
    return path


def _source(path: Path, backed: bool, tmp_path: Path):
    from scvae.workflows.data_sets import labelled, load_data_set

    model = ModelConfig(model_type="GMVAE", number_of_classes=2, hidden_sizes=(8,))
    config = DataConfig(
        backed=backed, data_directory=str(tmp_path / f"d{backed}"), label_key="label"
    )
    data = load_data_set(config, str(path), reconstruction_distribution="negative_binomial")
    from scvae.models.build import ModelFacts

    facts = ModelFacts(GENES, 2, 0, None, 1, "counts")
    return labelled(data, model, facts), model, facts


def _module(model, facts):
    from scvae.models.build import build_module_from

    torch.manual_seed(3)
    module = build_module_from(model, facts)
    module.eval()
    return module


# ------------------------------------------------------------------ the sample
def test_the_sample_is_fixed_by_the_seed_and_absent_for_small_sets():
    assert evaluation_sample(20_000, 20_000, 1, "training") is None  # at the limit: exact
    assert evaluation_sample(20_001, 0, 1, "training") is None  # 0: every cell
    rows = evaluation_sample(50_000, 1_000, 1, "training")
    assert len(rows) == 1_000 == len(np.unique(rows))
    assert np.all(np.diff(rows) > 0) and rows[0] >= 0 and rows[-1] < 50_000
    np.testing.assert_array_equal(rows, evaluation_sample(50_000, 1_000, 1, "training"))
    other_set = evaluation_sample(50_000, 1_000, 1, "validation")
    other_seed = evaluation_sample(50_000, 1_000, 2, "training")
    assert not np.array_equal(rows, other_set) and not np.array_equal(rows, other_seed)
    for examples, cells in ((1_000, 960), (20_001, 20_000), (103, 40), (65, 64)):
        for seed in range(20):
            drawn = evaluation_sample(examples, cells, seed, "validation")
            assert len(drawn) == cells == len(np.unique(drawn)) and drawn[-1] < examples


def test_the_sample_is_runs_of_neighbours_in_store_order_spread_over_the_set():
    examples, cells = 1_053_000, 20_000
    order = np.random.default_rng(0).permutation(examples)  # positions in store order
    rows = evaluation_sample(examples, cells, 3, "training", order)
    assert len(rows) == cells == len(np.unique(rows))
    ranks = np.empty(examples, np.int64)
    ranks[order] = np.arange(examples)
    per_run = np.bincount(ranks[rows] // EVALUATION_RUN)
    per_run = per_run[per_run > 0]
    # whole runs of neighbours in the store, but for one shortened run
    assert np.sum(per_run != EVALUATION_RUN) <= 1 and len(per_run) == -(-cells // EVALUATION_RUN)
    # spread over the whole store: every tenth of it holds about a tenth of the sample
    counts = np.histogram(ranks[rows], bins=10, range=(0, examples))[0]
    assert counts.min() > 0.6 * cells / 10 and counts.max() < 1.4 * cells / 10


def test_negative_or_non_integer_limits_are_refused(counts_h5ad, tmp_path):
    data, _, _ = _source(counts_h5ad, False, tmp_path)
    for bad in (-1, 2.5, "all", True):
        options = FitOptions(number_of_epochs=1, evaluation_cells=bad)
        with pytest.raises(ConfigError, match="epoch-evaluation-cells"):
            evaluated_sets(data, None, options)


# ------------------------------------------------- the truth: those rows directly
def _direct_terms(module, path: Path, rows: np.ndarray, batch: int, seed: int) -> dict:
    """Mean terms and accuracy of the module called directly on ``rows`` of the file."""
    from scvae.clustering import accuracy, majority_labels
    from scvae.data.batches import RowSource

    adata = anndata.read_h5ad(path)
    values = sp.csr_matrix(adata.X[rows], dtype=np.float32)
    library = np.asarray(values.sum(axis=1), dtype=np.float32).ravel()
    source = RowSource(values, library, None, None, 0)
    torch.manual_seed(seed)
    sums, clusters = {}, []
    with torch.no_grad():
        for start in range(0, len(rows), batch):
            output = module(source.inputs_for(np.arange(start, min(start + batch, len(rows)))))
            terms = {"lower_bound": output.lower_bound, **output.kl}
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + float(value.double().sum())
            clusters.append(output.y_probabilities.argmax(dim=1).numpy())
    means = {name: total / len(rows) for name, total in sums.items()}
    labels = np.asarray(adata.obs["label"].astype(str))[rows]
    clusters = np.concatenate(clusters)
    means["accuracy"] = accuracy(majority_labels(clusters, labels, ()), labels, ())
    return means


@pytest.mark.parametrize("backed", [False, True], ids=["memory", "backed"])
def test_a_subsampled_evaluation_is_the_module_on_those_rows(counts_h5ad, tmp_path, backed):
    data, model, facts = _source(counts_h5ad, backed, tmp_path)
    module = _module(model, facts)
    options = FitOptions(number_of_epochs=1, minibatch_size=32, evaluation_cells=90, seed=5)
    (evaluated,) = evaluated_sets(data, None, options)
    assert (evaluated.total, evaluated.cells) == (CELLS, 90)
    np.testing.assert_array_equal(evaluated.rows, evaluation_sample(CELLS, 90, 5, "training"))
    torch.manual_seed(11)
    terms = evaluate_terms(module, evaluated.data, options, torch.device("cpu"))
    truth = _direct_terms(module, counts_h5ad, evaluated.rows, 32, 11)
    assert set(truth) <= set(terms)
    for name, value in truth.items():
        assert terms[name] == pytest.approx(value, rel=1e-6, abs=1e-9), name
    # the whole set gives other values: the subsample is what was evaluated
    torch.manual_seed(11)
    whole = evaluate_terms(module, data, options, torch.device("cpu"))
    assert whole["lower_bound"] != pytest.approx(terms["lower_bound"], rel=1e-6)


def test_the_backed_subsample_is_read_row_by_row(counts_h5ad, tmp_path, monkeypatch):
    """Only the sampled rows (and the gaps merged between them) are read, not whole blocks."""
    from scvae.data.storage.store import HdfStore

    data, model, facts = _source(counts_h5ad, True, tmp_path)
    assert data.source.matrix.sequential
    rows = np.array([3, 150, 151, 399])
    read = []
    original = HdfStore.raw_rows

    def counted(self, wanted):
        read.append(np.asarray(wanted).copy())
        return original(self, wanted)

    monkeypatch.setattr(HdfStore, "raw_rows", counted)
    part = subset(data, rows)
    options = FitOptions(number_of_epochs=1, minibatch_size=2)
    evaluate_terms(_module(model, facts), part, options, torch.device("cpu"))
    store_rows = data.source.matrix.file_rows[rows]
    np.testing.assert_array_equal(np.sort(np.concatenate(read)), np.sort(store_rows))
    np.testing.assert_array_equal(part.labels, np.asarray(data.labels)[rows])


# ------------------------------------------------------------------- training
def test_fit_curves_are_those_of_the_sampled_cells(counts_h5ad, tmp_path):
    """The training row of an epoch is the trained module on the fixed sample's rows."""
    data, model, facts = _source(counts_h5ad, False, tmp_path)
    model = model.replace(model_type="VAE", number_of_classes=None)
    module = _module(model, facts)
    module.train()
    options = FitOptions(
        number_of_epochs=1, minibatch_size=50, evaluation_cells=120, seed=9, progress=False
    )
    rows = fit(module, LabelledSource(data.source), None, tmp_path / "run", options)
    (row,) = rows
    assert row["evaluated_cells"] == 120 and row["set_cells"] == CELLS
    module.eval()
    sample = evaluation_sample(CELLS, 120, 9, "training")
    truth = _direct_terms_vae(module, counts_h5ad, sample, 50, 9 * 100_003 + 0 + 50_021)
    assert row["lower_bound"] == pytest.approx(truth, rel=1e-6)
    saved = read_curves(tmp_path / "run" / "learning_curves.csv")
    assert (saved[0]["evaluated_cells"], saved[0]["set_cells"]) == (120, CELLS)
    assert saved[0]["evaluation_seconds"] == pytest.approx(row["evaluation_seconds"])


def _direct_terms_vae(module, path: Path, rows: np.ndarray, batch: int, seed: int) -> float:
    from scvae.data.batches import RowSource

    values = sp.csr_matrix(anndata.read_h5ad(path).X[rows], dtype=np.float32)
    library = np.asarray(values.sum(axis=1), dtype=np.float32).ravel()
    source = RowSource(values, library, None, None, 0)
    torch.manual_seed(seed)
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(rows), batch):
            inputs = source.inputs_for(np.arange(start, min(start + batch, len(rows))))
            total += float(module(inputs).lower_bound.double().sum())
    return total / len(rows)


def _train(path: Path, folder: Path, epochs: int, cells, *, run: str = "r") -> Path:
    return api.train(
        str(path),
        DataConfig(data_directory=str(folder / "data"), split_data_set=True, label_key="label"),
        ModelConfig(hidden_sizes=(8,), latent_size=2),
        TrainingConfig(
            number_of_epochs=epochs,
            models_directory=str(folder / run),
            seed=4,
            **({} if cells is None else {"epoch_evaluation_cells": cells}),
        ),
        progress=False,
        log=lambda *_: None,
    )


def test_a_continued_run_gives_the_uninterrupted_curves_with_sampling(counts_h5ad, tmp_path):
    uninterrupted = _train(counts_h5ad, tmp_path, 3, 60, run="whole")
    _train(counts_h5ad, tmp_path, 1, 60, run="parts")
    continued = _train(counts_h5ad, tmp_path, 3, 60, run="parts")
    expected = read_curves(uninterrupted / "learning_curves.csv")
    actual = read_curves(continued / "learning_curves.csv")
    assert len(actual) == len(expected) == 6
    training = [row for row in expected if row["set"] == "training"]
    validation = [row for row in expected if row["set"] == "validation"]
    assert {row["evaluated_cells"] for row in training} == {60}  # 324 training cells
    assert {row["evaluated_cells"] for row in validation} == {36}  # small: every cell
    for row, wanted in zip(actual, expected, strict=True):
        for name in ("epoch", "set", "lower_bound", "kl_divergence", "evaluated_cells"):
            assert row[name] == wanted[name], name


def test_small_sets_are_evaluated_exactly_by_default(counts_h5ad, tmp_path):
    default = read_curves(_train(counts_h5ad, tmp_path, 2, None, run="d") / "learning_curves.csv")
    exact = read_curves(_train(counts_h5ad, tmp_path, 2, 0, run="e") / "learning_curves.csv")
    assert TrainingConfig().epoch_evaluation_cells == 20_000
    assert [row["evaluated_cells"] for row in default] == [324, 36, 324, 36]
    for row, wanted in zip(default, exact, strict=True):
        for name in ("lower_bound", "reconstruction_error", "kl_divergence", "evaluated_cells"):
            assert row[name] == wanted[name], name


# ----------------------------------------------------------------- interfaces
def _curve_cells(run: Path) -> list[tuple[str, str]]:
    with (run / "learning_curves.csv").open() as handle:
        return [(row["set"], row["evaluated_cells"]) for row in csv.DictReader(handle)]


def test_the_command_line_reaches_training(counts_h5ad, tmp_path, capsys):
    common = ["train", str(counts_h5ad), "-H", "8", "-l", "2", "-e", "1", "--split-data-set"]
    common += ["-D", str(tmp_path / "data"), "--seed", "2"]
    assert main([*common, "-M", str(tmp_path / "a"), "--epoch-evaluation-cells", "50"]) == 0
    out = capsys.readouterr().out
    assert "cells evaluated: 50 of 324/all 36, the same each epoch" in out
    epoch = next(line for line in out.splitlines() if line.startswith("Epoch 1/1 ("))
    assert " on 50/36 cells): ELBO " in epoch
    (run,) = {path.parent for path in (tmp_path / "a").rglob("learning_curves.csv")}
    assert _curve_cells(run) == [("training", "50"), ("validation", "36")]
    assert main(["info", str(run)]) == 0
    (last,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Last")]
    assert ", on 50 of 324 cells; validation " in last and last.endswith(", on 36 cells")
    assert main([*common, "-M", str(tmp_path / "b"), "--epoch-evaluation-cells", "all"]) == 0
    (run,) = {path.parent for path in (tmp_path / "b").rglob("learning_curves.csv")}
    assert _curve_cells(run) == [("training", "324"), ("validation", "36")]
    capsys.readouterr()
    for bad in ("-3", "many"):
        assert main([*common, "-M", str(tmp_path / "c"), "--epoch-evaluation-cells", bad]) == 2
        (line, *_) = capsys.readouterr().err.splitlines()
        assert line.startswith("scvae: error: ") and "--epoch-evaluation-cells" in line
        assert bad in line and "(or 'all')" in line


def test_the_estimators_reach_training(counts_h5ad, tmp_path):
    from scvae import VariationalAutoencoder
    from scvae.data import DataSet

    data = DataSet(str(counts_h5ad), directory=str(tmp_path / "d")).load()
    training, validation, _ = data.split("random", 0.9)
    model = VariationalAutoencoder(
        GENES, latent_size=2, hidden_sizes=[8], log_directory=tmp_path / "vae"
    )
    run = model.train(
        training, validation, number_of_epochs=1, epoch_evaluation_cells=40, progress=False,
        log=lambda *_: None,
    )  # fmt: skip
    assert _curve_cells(run) == [("training", "40"), ("validation", "36")]


class _Steps:
    """A progress bar that counts its updates."""

    n = 0

    def update(self) -> None:
        self.n += 1


def test_the_evaluation_minibatch_size_changes_only_the_summation_order(tmp_path):
    """A deterministic module: the means over 32 or 250 examples a minibatch agree."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        import ddp_toy
    finally:
        sys.path.pop(0)
    module, data = ddp_toy.ToyRegression(), LabelledSource(ddp_toy.toy_source())
    results = []
    for size in (None, 7, 250):
        options = FitOptions(number_of_epochs=1, minibatch_size=32, evaluation_minibatch_size=size)
        bar = _Steps()
        results.append((evaluate_terms(module, data, options, torch.device("cpu"), bar), bar.n))
    assert [steps for _, steps in results] == [4, 15, 1]  # 103 examples
    values = ddp_toy.toy_values().toarray()
    with torch.no_grad():
        error = module.linear(torch.from_numpy(values[:, :-1])).squeeze(1) - torch.from_numpy(
            values[:, -1]
        )
    truth = -float((error.double() ** 2).mean())
    for terms, _ in results:
        assert terms["lower_bound"] == pytest.approx(truth, rel=1e-6)


def test_the_run_bar_counts_the_sampled_evaluation_steps(tmp_path, capsys):
    import re

    from scvae import progress

    counts = np.random.default_rng(0).poisson(2.0, size=(80, 12))
    path = tmp_path / "toy.tsv"
    rows = [f"c{i}\t" + "\t".join(map(str, row)) for i, row in enumerate(counts)]
    path.write_text("\n".join(["cell\t" + "\t".join(f"g{j}" for j in range(12)), *rows]) + "\n")
    try:
        api.train(
            str(path),
            DataConfig(data_directory=str(tmp_path / "d")),
            ModelConfig(hidden_sizes=(8,), latent_size=2),
            TrainingConfig(
                number_of_epochs=2,
                minibatch_size=10,
                models_directory=str(tmp_path / "m"),
                epoch_evaluation_cells=25,
            ),
            progress=True,
            log=lambda *_: None,
        )
    finally:
        progress.configure()
    frames = capsys.readouterr().err.replace("\r", "\n")
    # 80 cells: 8 training steps and 3 evaluation steps (25 cells) an epoch
    assert {int(total) for total in re.findall(r"\d+/(\d+) steps", frames)} == {2 * 11}
    assert "22/22 steps" in frames
    assert "Epoch 2/2, evaluating the training set (25 of 80)" in frames


def test_the_curve_figure_names_the_sample(counts_h5ad, tmp_path):
    import pandas as pd

    from scvae.plotting import plot_learning_curves

    run = _train(counts_h5ad, tmp_path, 2, 60)
    figure = plot_learning_curves(pd.read_csv(run / "learning_curves.csv"))
    labels = {text.get_text() for axes in figure.axes for text in axes.get_legend().get_texts()}
    assert "training (60 of 324 cells)" in labels and "validation" in labels


def test_sampling_changes_the_curves_but_not_the_training(counts_h5ad, tmp_path):
    """Each epoch reseeds training: the weights do not depend on what was evaluated."""
    sampled = _train(counts_h5ad, tmp_path, 2, 60, run="sampled")
    exact = _train(counts_h5ad, tmp_path, 2, 0, run="exact")
    weights = [
        torch.load(run / "checkpoint.pt", weights_only=True)["model"] for run in (sampled, exact)
    ]
    assert weights[0].keys() == weights[1].keys()
    for name, value in weights[0].items():
        assert torch.equal(value, weights[1][name]), name
    curves = [read_curves(run / "learning_curves.csv") for run in (sampled, exact)]
    training = [[row["lower_bound"] for row in rows if row["set"] == "training"] for rows in curves]
    assert training[0] != training[1]
