"""Loading with processing options: order, caching, subsets and the minibatches.

Expected values are cut by hand from the 6 x 5 matrix of ``test_processing.py``
(variances 0, 4/3, 5/9, 8/3, 4/3; count sums 5, 5, 4, 6, 2, 4).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.sparse as sp

from scvae.data import DataSet, load, pipeline, processing
from scvae.data.batches import RowSource, minibatches
from scvae.data.raw import RawData
from scvae.errors import ConfigError

X = np.array(
    [
        [0, 1, 0, 4, 0],
        [0, 0, 0, 2, 3],
        [0, 3, 0, 0, 1],
        [0, 0, 2, 4, 0],
        [0, 2, 0, 0, 0],
        [0, 0, 0, 2, 2],
    ],
    dtype=np.float32,
)
LABELS = ["B", "T", "T", "No class", "B cells", "NK"]
GENES = ["g1", "g2", "g3", "g4", "g5"]


def _in_memory(**options) -> DataSet:
    return load(DataSet("small", values=X, labels=LABELS, feature_names=GENES, **options))


def test_selection_then_filter_then_preprocessing_in_memory():
    data = _in_memory(
        feature_selection=["keep_highest_variances", "2"],
        example_filter=["remove", "T"],
        preprocessing_methods=["log"],
    )
    rows, columns = [0, 3, 4, 5], [1, 3]
    assert np.array_equal(data.values.toarray(), X[rows][:, columns])
    assert np.allclose(data.preprocessed_values.toarray(), np.log1p(X[rows][:, columns]))
    assert data.feature_names.tolist() == ["g2", "g4"]
    assert data.example_names.tolist() == ["example 1", "example 4", "example 5", "example 6"]
    assert data.labels.tolist() == ["B", "No class", "B cells", "NK"]
    subset = data.subset(np.array([1, 3]), "training")
    assert np.allclose(subset.preprocessed_values.toarray(), np.log1p(X[[3, 5]][:, columns]))
    assert load(subset) is subset and subset.number_of_features == 2  # not processed twice


def test_statistics_come_from_counts_and_normalise_sees_every_example():
    data = _in_memory(
        feature_selection=["keep_variances_above", "1"],
        example_filter=["remove_count_sum_above", "4"],
        preprocessing_methods=["normalise"],
    )
    # the filter sees the selected features: row sums 5, 5, 4, 4, 2, 4 (row 3 lost g3)
    rows, columns = [2, 3, 4, 5], [1, 3, 4]
    assert np.array_equal(data.values.toarray(), X[rows][:, columns])
    norms = np.sqrt((X[:, columns] ** 2).sum(axis=0))  # of all six rows (reference §2.6)
    assert np.allclose(data.preprocessed_values.toarray(), X[rows][:, columns] / norms)


def test_default_parameters_are_recorded():
    assert _in_memory(feature_selection=["keep_highest_variances"]).feature_selection == [
        "keep_highest_variances",
        "2",
    ]
    data = _in_memory(feature_selection=["keep_variances_above"])
    assert data.feature_selection == ["keep_variances_above", "0.5"]
    assert data.number_of_features == 4


def test_superset_filters_and_excluded_superset_classes():
    specifications = {
        "label superset": {"Lymphoid": ["B", "T"], "Killer": ["NK"], "Other": ["B cells"]},
        "excluded superset classes": ["Other", "No class"],
    }
    kept = _in_memory(specifications=specifications, example_filter=["keep", "lymphoid"])
    assert kept.labels.tolist() == ["B", "T", "T"]
    cleaned = _in_memory(specifications=specifications, example_filter=["excluded_classes"])
    assert cleaned.labels.tolist() == ["B", "T", "T", "NK"]


def test_already_preprocessed_specification_applies_nothing():
    data = _in_memory(
        specifications={"preprocessing methods": ["binarise"]},
        preprocessing_methods=["log"],
        noisy_preprocessing_methods=["binarise"],
    )
    assert data.preprocessed_values is None
    assert data.preprocessing_methods == ["binarise"]
    assert data.noisy_preprocessing_methods == []


def test_map_features_without_mapping_is_switched_off(caplog):
    with caplog.at_level(logging.WARNING):
        data = _in_memory(map_features=True)
    assert not data.map_features and data.number_of_features == 5
    assert "no feature mapping" in caplog.text


def test_bad_options_fail_before_any_work():
    with pytest.raises(ConfigError, match="'abc' is not a whole number"):
        _in_memory(feature_selection=["keep_highest_variances", "abc"])
    with pytest.raises(ConfigError, match="noisy-preprocessing-methods.*'square'"):
        _in_memory(noisy_preprocessing_methods=["square"])


def test_predefined_split_indices_follow_the_filter():
    raw = RawData(
        values=sp.csr_matrix(X),
        split_indices={"training": np.array([0, 1, 2, 3]), "test": np.array([4, 5])},
    )
    options = pipeline.ProcessingOptions(example_filter=("remove_count_sum_above", "4"))
    processed, _ = pipeline.process(raw, options)  # keeps rows 2, 4, 5
    assert processed.split_indices["training"].tolist() == [0]
    assert processed.split_indices["test"].tolist() == [1, 2]
    assert raw.values.shape == (6, 5)


# --------------------------------------------------------------------- caching
@pytest.fixture
def tiny_file(tmp_path):
    import anndata
    import pandas as pd

    obs = pd.DataFrame({"cell_type": LABELS}, index=[f"c{i}" for i in range(6)])
    adata = anndata.AnnData(X=sp.csr_matrix(X), obs=obs)
    adata.var_names = GENES
    path = tmp_path / "tiny.h5ad"
    adata.write_h5ad(path)
    return path


def _load(path, directory, **options) -> DataSet:
    return load(DataSet(path, directory=directory, **options))


def test_choices_are_remembered_by_options(tiny_file, tmp_path, monkeypatch):
    folder = tmp_path / "data"
    selection = ["keep_highest_variances", "2"]
    first = _load(tiny_file, folder, feature_selection=selection)
    caches = folder / "tiny" / "cache"
    remembered = sorted(caches.glob("decisions-*.npz"))
    assert len(remembered) == 1 and "keep_highest_variances_2" in remembered[0].name
    assert np.load(remembered[0])["columns"].tolist() == [1, 3]
    stamp = remembered[0].stat().st_mtime_ns

    def fail(*_args, **_kwargs):
        raise AssertionError("chosen again instead of remembered")

    monkeypatch.setattr(processing, "select_features", fail)
    second = _load(tiny_file, folder, feature_selection=selection)
    assert remembered[0].stat().st_mtime_ns == stamp
    assert np.array_equal(second.values.toarray(), X[:, [1, 3]])
    assert second.labels.tolist() == first.labels.tolist() == LABELS
    logged = _load(tiny_file, folder, feature_selection=selection, preprocessing_methods=["log"])
    assert np.allclose(logged.preprocessed_values.toarray(), np.log1p(X[:, [1, 3]]))
    assert len(list(caches.glob("decisions-*.npz"))) == 1  # -p does not change the choices
    monkeypatch.undo()

    _load(tiny_file, folder, feature_selection=["keep_highest_variances", "3"])
    assert len(list(caches.glob("decisions-*.npz"))) == 2  # other options, other choices
    assert not list(caches.glob("processed-*")) and not list(caches.glob("preprocessed-*"))


def test_unprocessed_load_writes_no_decisions(tiny_file, tmp_path):
    data = _load(tiny_file, tmp_path / "data")
    assert data.preprocessed_values is None
    assert not list((tmp_path / "data").rglob("decisions-*"))


def test_map_features_on_development(tmp_path):
    raw = _load("development", tmp_path)
    mapped = _load("development", tmp_path, map_features=True)
    assert mapped.feature_names.tolist() == [f"feature {g}" for g in "ABCDE"]
    dense = raw.values.toarray()
    expected = dense.reshape(dense.shape[0], 5, 5).sum(axis=2)  # runs of five features
    assert np.array_equal(mapped.values.toarray(), expected)


# ------------------------------------------------------------------ minibatches
def test_network_gets_preprocessed_values_likelihood_gets_counts():
    data = _in_memory(preprocessing_methods=["log"])
    batches = list(minibatches(RowSource.from_data_set(data), 4))
    x = np.vstack([inputs.x.numpy() for inputs, _ in batches])
    target = np.vstack([inputs.target.numpy() for inputs, _ in batches])
    assert np.array_equal(target, X)
    assert np.allclose(x, np.log1p(X))
    binary = RowSource.from_data_set(data, binarise=True)
    inputs, _ = next(minibatches(binary, 6))
    assert np.array_equal(inputs.target.numpy(), (X > 0.5).astype(np.float32))
    assert np.allclose(inputs.x.numpy(), np.log1p(X))


def test_noisy_minibatches_are_fresh_binary_and_shared():
    data = _in_memory(noisy_preprocessing_methods=["normalise", "binarise"])
    source = RowSource.from_data_set(data)
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(20):
        inputs, rows = next(minibatches(source, 6, rng=rng))
        assert np.array_equal(inputs.x.numpy(), inputs.target.numpy())
        draws.append(inputs.x.numpy()[np.argsort(rows)])
    stacked = np.stack(draws)
    assert set(np.unique(stacked)) <= {0.0, 1.0}
    assert stacked[:, X == 0].sum() == 0  # a zero count is never sampled as one
    assert len({draw.tobytes() for draw in draws}) > 1  # fresh noise per minibatch
    assert np.array_equal(inputs.library_size.numpy().ravel(), X[np.sort(rows)].sum(axis=1))
    evaluated = [next(minibatches(source, 6))[0].x.numpy() for _ in range(2)]
    assert np.array_equal(*evaluated)  # evaluation noise is repeatable


# -------------------------------------------------------------------------- CLI
def test_cli_trains_on_selected_log_values(shared_data, tmp_path, capsys):
    from pathlib import Path

    from scvae.cli import main
    from scvae.training.checkpoints import load_checkpoint

    data = shared_data / "scdcc_cite_pbmc_top2000/CITE_PBMC_counts.h5"
    folders = ["-D", str(tmp_path / "d"), "-M", str(tmp_path / "m")]
    options = ["-F", "keep_highest_variances", "50", "-p", "log", "-e", "1", "-H", "10"]
    assert main(["train", str(data), *options, *folders, "--seed", "1"]) == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1].split("Model saved in ")[1])
    assert "no_split/keep_highest_variances_50-log" in run.as_posix()
    weights = load_checkpoint(run / "checkpoint.pt")["model"]
    assert {tuple(w.shape) for w in weights.values()} >= {(10, 50)}  # 50 genes in


def test_cli_refuses_bad_parameter_in_one_line(tiny_file, tmp_path, capsys):
    from scvae.cli import main

    argv = ["train", str(tiny_file), "-F", "keep_highest_variances", "abc", "-D", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'abc' is not a whole number" in err
