"""Processing options with backed data give what the in-memory pipeline gives.

The truth is always computed independently of the backed code: the in-memory
pipeline (:func:`scvae.data.pipeline.process` through ``DataSet.load``) on the same
file, and NumPy on the dense matrix for the chunked statistics.
"""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from scvae import api
from scvae.config import DataConfig
from scvae.data import pipeline, preprocessing, processing, statistics
from scvae.data.batches import RowSource
from scvae.data.matrix import CountMatrix, as_matrix, open_hdf
from scvae.data.raw import RawData
from scvae.data.storage import chunks, store
from scvae.data.storage.store import HdfStore
from scvae.errors import ConfigError

CITE_PBMC = "scdcc_cite_pbmc_top2000/CITE_PBMC_counts.h5"
CLASSES = np.array(["T cell", "B cell", "No class", "NK"])


def stored_on_disk(values) -> bool:
    """Whether ``values`` is a count matrix whose store is an HDF5 file."""
    return isinstance(values, CountMatrix) and isinstance(values.store, HdfStore)


def _counts(n: int = 400, f: int = 60, seed: int = 0, dtype=np.float32) -> sp.csr_matrix:
    """Counts with features of very different variances, an empty feature and an empty row."""
    rng = np.random.default_rng(seed)
    dense = rng.poisson(rng.gamma(0.5, 2.0, size=f), size=(n, f)) * (rng.random((n, f)) < 0.5)
    dense[:, 5] = 0
    dense[7] = 0
    return sp.csr_matrix(dense.astype(dtype))


def _h5ad(path: Path, values, labels: bool = True) -> Path:
    n = values.shape[0]
    frame = pd.DataFrame(index=[f"c{i}" for i in range(n)])
    if labels:
        frame["cell_type"] = CLASSES[np.random.default_rng(1).integers(0, 4, n)]
        frame["batch"] = [f"b{i % 3}" for i in range(n)]
    anndata.AnnData(X=values, obs=frame).write_h5ad(path)
    return path


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    return _h5ad(tmp_path_factory.mktemp("synthetic") / "x.h5ad", _counts())


def _both(data, directory: Path, likelihood: str = "poisson", **options):
    """The in-memory and the backed data set of ``data`` with the same options."""
    sets = []
    for mode in (False, True):
        config = DataConfig(backed=mode, data_directory=str(directory / f"b{mode}"), **options)
        sets.append(api.load_data_set(config, str(data), reconstruction_distribution=likelihood))
    assert not stored_on_disk(sets[0].values)
    assert stored_on_disk(sets[1].values)
    return sets


def _same_data_sets(memory, on_disk) -> None:
    assert memory.values.shape == on_disk.values.shape
    for name in ("labels", "example_names", "feature_names", "batch_indices", "feature_ids"):
        left, right = getattr(memory, name), getattr(on_disk, name)
        assert (left is None) == (right is None), name
        if left is not None:
            assert list(left) == list(right), name
    assert memory.feature_selection == on_disk.feature_selection
    assert (memory.preprocessed_values is None) == (on_disk.preprocessed_values is None)


def _same_minibatches(memory, on_disk, **options) -> None:
    sources = (
        RowSource.from_data_set(memory, **options),
        RowSource.from_data_set(on_disk, **options),
    )
    order = np.random.default_rng(5).permutation(memory.number_of_examples)
    for start in range(0, len(order), 64):
        rows = np.sort(order[start : start + 64])
        # noisy preprocessing draws from the generator: the same one for both
        left, right = (
            source.inputs_for(rows, noise=np.random.default_rng(start)) for source in sources
        )
        for name in ("x", "target", "library_size", "count_sum", "batch"):
            a, b = getattr(left, name), getattr(right, name)
            assert (a is None) == (b is None), name
            if a is not None:
                assert torch.equal(a, b), name


def _same(memory, on_disk) -> None:
    _same_data_sets(memory, on_disk)
    _same_minibatches(memory, on_disk, count_sum=True, batch_correction=True)
    if not memory.noisy_preprocessing_methods:
        _same_minibatches(memory, on_disk, binarise=True)


OPTIONS = {
    "remove_zeros": dict(feature_selection=("remove_zeros",)),
    "variances_above": dict(feature_selection=("keep_variances_above", "1.5")),
    "highest_variances": dict(feature_selection=("keep_highest_variances", "20")),
    "highest_variances_default": dict(feature_selection=("keep_highest_variances",)),
    "count_sum_above": dict(example_filter=("remove_count_sum_above", "50")),
    "random": dict(example_filter=("random", "123")),
    "keep": dict(example_filter=("keep", "T cell", "nk")),
    "remove": dict(example_filter=("remove", "b_cell")),
    "excluded_classes": dict(example_filter=("excluded_classes",)),
    "log": dict(preprocessing_methods=("log",)),
    "normalise": dict(preprocessing_methods=("normalise",)),
    "exp_binarise": dict(preprocessing_methods=("binarise", "exp")),
    "bernoulli_sample": dict(preprocessing_methods=("log", "normalise", "bernoulli_sample")),
    "noisy": dict(noisy_preprocessing_methods=("log", "normalise", "binarise")),
    "combined": dict(
        feature_selection=("keep_highest_variances", "20"),
        example_filter=("remove_count_sum_above", "50"),
        preprocessing_methods=("log",),
    ),
    "everything_random": dict(
        feature_selection=("keep_variances_above",),
        example_filter=("random", "200"),
        preprocessing_methods=("normalise", "bernoulli_sample"),
        noisy_preprocessing_methods=("normalise", "binarise"),
    ),
}


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
def test_every_processing_option_matches_memory(synthetic, tmp_path, options):
    memory, on_disk = _both(synthetic, tmp_path, **options)
    reshaped = memory.values.shape != (400, 60)
    assert reshaped == bool(options.get("feature_selection") or options.get("example_filter"))
    _same(memory, on_disk)


@pytest.mark.parametrize("method", ["macosko", "inverse_macosko"])
def test_macosko_filters_match_memory(synthetic, tmp_path, monkeypatch, method):
    # 900 non-zero features is more than these 60 features hold: lower the bar for both
    monkeypatch.setattr(
        processing, "DEFAULTS", replace(processing.DEFAULTS, macosko_minimum_nonzero=12)
    )
    memory, on_disk = _both(synthetic, tmp_path, example_filter=(method,))
    assert 0 < memory.number_of_examples < 400
    _same(memory, on_disk)


@pytest.mark.parametrize(
    ("dtype", "scale", "shift", "likelihood"),
    [
        (np.int32, 1, 0, "poisson"),
        (np.float64, 1, 1e-8, "poisson"),
        (np.float64, 1.013, 0, "gaussian"),
    ],
    ids=["integers", "near-integers", "real-values"],
)
def test_stored_types_match_memory(tmp_path, dtype, scale, shift, likelihood):
    """Statistics and ``-p`` work on the values as stored (not rounded), as in memory."""
    values = _counts(300, 50, seed=3, dtype=dtype)
    values.data = (values.data * scale + shift).astype(dtype)
    path = _h5ad(tmp_path / "x.h5ad", values)
    options = dict(
        feature_selection=("keep_highest_variances", "25"),
        example_filter=("remove_count_sum_above", "40"),
        preprocessing_methods=("log", "normalise"),
    )
    memory, on_disk = _both(path, tmp_path, likelihood, **options)
    _same(memory, on_disk)
    assert on_disk.values._layer.rounded == (likelihood == "poisson")


def test_splits_of_processed_backed_data_match_memory(synthetic, tmp_path):
    memory, on_disk = _both(synthetic, tmp_path, **OPTIONS["everything_random"])
    for part_memory, part_disk in zip(
        memory.split("random", 0.8), on_disk.split("random", 0.8), strict=True
    ):
        assert stored_on_disk(part_disk.values)
        assert stored_on_disk(part_disk.preprocessed_values)
        _same(part_memory, part_disk)


def test_views_answer_like_the_processed_matrix(synthetic, tmp_path):
    memory, on_disk = _both(synthetic, tmp_path, **OPTIONS["combined"])
    values, view = memory.values, on_disk.values
    assert as_matrix(view).has_zeros() == as_matrix(values).has_zeros()
    assert view.nnz == values.nnz and np.array_equal(view.indptr, values.indptr)
    assert np.array_equal(view.row_sums(), np.asarray(values.sum(axis=1), np.float32).ravel())
    assert np.allclose(view.sum(axis=0), values.sum(axis=0))
    assert on_disk.is_counts and memory.is_counts
    chunks = list(view.iter_chunks(max_values=50))
    assert len(chunks) > 5
    order = np.concatenate([positions for positions, _ in chunks])
    assert sorted(order) == list(range(view.shape[0]))
    stacked = sp.vstack([chunk for _, chunk in chunks])
    assert (stacked != values[order]).nnz == 0
    rows = np.array([5, 3, 3, 100])
    assert (view.read(rows) != values[rows]).nnz == 0
    copied = pickle.loads(pickle.dumps(on_disk.preprocessed_values))  # e.g. for workers
    network = memory.preprocessed_values.astype(np.float32)
    assert (copied.read(rows) != network[rows]).nnz == 0


def test_tiny_chunks_choose_the_same(synthetic, tmp_path, monkeypatch):
    """Chunked passes with 37 stored values a chunk give the default chunks' answer."""
    options = OPTIONS["combined"] | {"preprocessing_methods": ("normalise", "bernoulli_sample")}
    memory, _ = _both(synthetic, tmp_path / "default", **options)
    monkeypatch.setattr(chunks, "CHUNK_VALUES", 37)
    monkeypatch.setattr(store, "MERGE_GAP", 0)  # no slice may span rows not asked for
    reads = []
    original = store.HdfStore.raw_range

    def recorded(store, start, stop):
        result = original(store, start, stop)
        reads.append(len(result[0]))
        return result

    monkeypatch.setattr(store.HdfStore, "raw_range", recorded)
    config = DataConfig(backed=True, data_directory=str(tmp_path / "tiny"), **options)
    on_disk = api.load_data_set(config, str(synthetic), reconstruction_distribution="poisson")
    # no read while loading held more than a chunk (a row here has < 37 values)
    assert len(reads) > 50 and max(reads) <= 37
    _same(memory, on_disk)


def test_chunked_statistics_equal_numpy_and_one_whole_pass():
    values = _counts(257, 33, seed=2).astype(np.float64)
    values.data *= 1.7  # not integers
    dense = values.toarray()
    whole = statistics.feature_statistics(as_matrix(values), max_values=10**9)
    for limit in (1, 23, 500):
        small = statistics.feature_statistics(as_matrix(values), max_values=limit)
        # sums are added in the same order whatever the chunks: equal bit for bit
        assert np.array_equal(small.sums, whole.sums)
        assert np.array_equal(small.variances, whole.variances)
    np.testing.assert_allclose(whole.sums, dense.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(whole.variances, dense.var(axis=0), rtol=1e-10, atol=1e-12)
    assert np.array_equal(whole.stored, (dense != 0).sum(axis=0))
    chosen = processing.choose_features(whole, "keep_highest_variances", ["10"])
    assert list(chosen) == sorted(np.argsort(-dense.var(axis=0), kind="stable")[:10])
    on_disk = np.asarray(
        statistics.per_row(as_matrix(values), processing._count_sums, max_values=20)
    )
    assert np.allclose(on_disk, dense.sum(axis=1))


def test_rowwise_preprocessing_of_any_rows_equals_whole_matrix():
    """Rows preprocessed on their own (in any grouping) are rows of the whole result."""
    values = sp.csr_matrix(_counts(120, 20, seed=4))
    methods = ("log", "normalise", "bernoulli_sample", "normalise", "bernoulli_sample")
    whole = preprocessing.preprocess(values, methods)

    def chunks():
        for start in range(0, 120, 17):
            yield np.arange(start, min(start + 17, 120)), values[start : start + 17]

    plan = preprocessing.fit_preprocessing(chunks, methods, 120, 20)
    rows = np.array([3, 4, 5, 40, 90, 91, 119])
    assert (plan(values[rows], rows) != whole[rows]).nnz == 0


def test_predefined_split_and_metadata_are_remapped_like_memory(tmp_path):
    values = _counts(200, 30, seed=6)
    path = _h5ad(tmp_path / "x.h5ad", values, labels=False)
    split = {"training": np.arange(0, 150), "test": np.arange(150, 200)}
    extras = dict(
        labels=CLASSES[np.arange(200) % 4].astype(object),
        example_names=np.array([f"e{i}" for i in range(200)], dtype=object),
        batch_indices=np.arange(200) % 2,
        split_indices=split,
    )
    options = pipeline.ProcessingOptions(
        feature_selection=("keep_highest_variances", "12"),
        example_filter=("random", "90"),
        preprocessing_methods=("log",),
    )
    memory, network = pipeline.process(RawData(values=values, **extras), options)
    raw = RawData(values=open_hdf(path, "X"), **extras)
    on_disk, on_disk_network = pipeline.process(raw, options)
    for name in ("labels", "example_names", "batch_indices"):
        assert list(getattr(memory, name)) == list(getattr(on_disk, name))
    assert memory.split_indices.keys() == on_disk.split_indices.keys()
    for kind, indices in memory.split_indices.items():
        assert np.array_equal(indices, on_disk.split_indices[kind])
    rows = np.arange(90)
    assert (on_disk.values.read(rows) != memory.values.to_csr()).nnz == 0
    assert (on_disk_network.read(rows) != network.to_csr()).nnz == 0


def test_choices_are_remembered_between_runs(synthetic, tmp_path, monkeypatch):
    options = OPTIONS["combined"]
    _, first = _both(synthetic, tmp_path, **options)
    remembered = list((tmp_path / "bTrue").rglob("decisions-*.npz"))
    assert len(remembered) == 1

    def refused(*_, **__):
        raise AssertionError("the choice was made again")

    monkeypatch.setattr(processing, "select_features", refused)
    monkeypatch.setattr(processing, "filter_examples", refused)
    config = DataConfig(backed=True, data_directory=str(tmp_path / "bTrue"), **options)
    again = api.load_data_set(config, str(synthetic), reconstruction_distribution="poisson")
    assert np.array_equal(again.values.file_rows, first.values.file_rows)
    assert list(again.feature_names) == list(first.feature_names)
    monkeypatch.undo()
    with np.load(remembered[0]) as stored:
        columns = stored["columns"]
    for damaged in (b"not a zip file", None):  # unreadable or out of range: chosen afresh
        if damaged is None:
            np.savez(remembered[0], columns=columns, rows=np.array([0, 10**6]))
        else:
            remembered[0].write_bytes(damaged)
        again = api.load_data_set(config, str(synthetic), reconstruction_distribution="poisson")
        assert np.array_equal(again.values.file_rows, first.values.file_rows)
        assert list(again.feature_names) == list(first.feature_names)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(preprocessing_methods=("bernoulli_sample",)), "between 0 and 1"),
        (dict(example_filter=("remove_count_sum_above", "10000")), "keeps all 400 examples"),
        (dict(feature_selection=("keep_highest_variances", "abc")), "not a whole number"),
    ],
)
def test_bad_options_fail_as_in_memory(synthetic, tmp_path, options, message):
    for mode in (False, True):
        config = DataConfig(backed=mode, data_directory=str(tmp_path / str(mode)), **options)
        with pytest.raises(ConfigError, match=message):
            api.load_data_set(config, str(synthetic))


def test_development_with_mapped_features_matches_memory(tmp_path):
    options = dict(
        map_features=True,
        feature_selection=("keep_highest_variances", "3"),
        example_filter=("keep", "cones"),
        preprocessing_methods=("normalise", "log"),
    )
    memory, on_disk = _both("development", tmp_path, **options)
    assert memory.values.shape == (3900, 3)
    assert all(name.startswith("feature ") for name in on_disk.feature_names)
    _same(memory, on_disk)


def test_real_file_through_the_project_cache(shared_data, tmp_path):
    path = shared_data / CITE_PBMC
    combined = dict(
        feature_selection=("keep_highest_variances", "20"),
        example_filter=("remove_count_sum_above", "300"),
        preprocessing_methods=("log",),
    )
    memory, on_disk = _both(path, tmp_path, **combined)
    assert on_disk.values.group == "values" and 0 < memory.number_of_examples < 3762
    _same(memory, on_disk)
    memory, on_disk = _both(
        path, tmp_path, example_filter=("keep", "1", "7"), preprocessing_methods=("normalise",)
    )
    _same(memory, on_disk)


def test_training_and_evaluating_processed_backed_data_from_the_command_line(synthetic, tmp_path):
    from scvae.cli import main

    options = [str(synthetic), "--backed", "-F", "keep_highest_variances", "50", "-p", "log"]
    options += ["-D", str(tmp_path / "d"), "-M", str(tmp_path / "m"), "-H", "8", "-l", "2"]
    assert main(["train", *options, "-e", "1"]) == 0
    analyses = tmp_path / "a"
    code = main(["evaluate", *options, "-A", str(analyses), "--included-analyses", "metrics"])
    assert code == 0
    assert any(analyses.rglob("metrics.json"))
