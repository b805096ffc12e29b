"""Count matrices read the same through either store: SciPy in memory or an HDF5 file.

Every test runs over both stores (``store`` fixture) and compares with a truth
computed independently, with SciPy and NumPy on the in-memory matrix (the idea of
anndata's on-disk-equivalent fixtures).
"""

from __future__ import annotations

from pathlib import Path

import anndata
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from scvae.data import preprocessing, processing, statistics
from scvae.data.batches import RowSource
from scvae.data.matrix import CountMatrix, open_hdf
from scvae.data.storage import chunks
from scvae.data.validation import check_values

ROWS, COLUMNS = 150, 24


def _values(dtype=np.float64) -> sp.csr_matrix:
    rng = np.random.default_rng(3)
    dense = rng.poisson(rng.gamma(0.6, 2.0, size=COLUMNS), size=(ROWS, COLUMNS))
    dense = dense * (rng.random((ROWS, COLUMNS)) < 0.45)
    dense[11] = 0  # an empty row
    dense[:, 2] = 0  # an empty feature
    return sp.csr_matrix(dense.astype(dtype))


@pytest.fixture(scope="module")
def values() -> sp.csr_matrix:
    return _values()


@pytest.fixture(scope="module")
def h5ad(tmp_path_factory, values) -> Path:
    path = tmp_path_factory.mktemp("store") / "x.h5ad"
    anndata.AnnData(X=values).write_h5ad(path)
    return path


@pytest.fixture(params=["memory", "hdf5"])
def store(request, values, h5ad):
    """A function giving a fresh count matrix of ``values`` from the parametrised store."""
    if request.param == "memory":
        return lambda: CountMatrix.from_csr(values)
    return lambda: open_hdf(h5ad, "X")


def _same(left: sp.csr_matrix, right) -> None:
    right = sp.csr_matrix(right)
    assert left.shape == right.shape
    assert np.array_equal(left.toarray(), right.toarray())


def test_reading_rows_in_any_order(store, values):
    matrix = store()
    rows = np.array([5, 149, 0, 5, 11, 77])
    _same(matrix.read(rows), values[rows].astype(np.float32))
    _same(matrix[rows[::-1]].read(np.arange(len(rows))), values[rows[::-1]].astype(np.float32))
    assert matrix.shape == values.shape and matrix.nnz == values.nnz


def test_chunks_cover_every_row_once(store, values):
    matrix = store()[np.arange(ROWS)[::-1]]
    found = list(matrix.iter_chunks(max_values=40))
    assert len(found) > 10
    positions = np.concatenate([p for p, _ in found])
    assert sorted(positions) == list(range(ROWS))
    for where, chunk in found:
        _same(chunk, values[ROWS - 1 - where].astype(np.float32))


def test_facts_and_row_sums(store, values, monkeypatch):
    monkeypatch.setattr(chunks, "CHUNK_VALUES", 53)
    matrix = store()
    facts = matrix.facts()
    assert facts.stored == values.nnz and facts.near_integer and facts.all_finite
    assert facts.first_negative_row is None and facts.minimum == values.data.min()
    sums = np.asarray(values.astype(np.float32).sum(axis=1)).ravel()
    assert np.array_equal(matrix.row_sums(), sums)
    assert matrix.has_zeros() and matrix.is_counts()
    assert np.array_equal(matrix.sum(axis=0).ravel(), np.asarray(values.sum(axis=0)).ravel())


def test_to_memory_is_what_check_values_makes(store, values):
    matrix = store()
    subset = matrix.restricted(np.arange(0, ROWS, 3)[::-1])
    subset.facts()
    truth = check_values(values[np.arange(0, ROWS, 3)[::-1]], None, count_likelihood=True)
    held = subset.to_memory().held()
    _same(held, truth)
    assert held.dtype == np.float32 and not (held.data == 0).any()


def test_views_match_scipy(store, values):
    matrix = store()
    columns = np.array([3, 0, 7, 20])
    _same(matrix[:, columns].read(np.arange(ROWS)), values[:, columns].astype(np.float32))
    names = [f"g{j}" for j in range(COLUMNS)]
    mapping = {"A": ["g0", "g1"], "B": ["g4", "g9", "g23"]}
    mapped, _ = processing.map_features(matrix, names, mapping)
    target, mapped_names = processing.mapped_columns(names, mapping)
    shape = (COLUMNS, len(mapped_names))
    summing = sp.csr_matrix((np.ones(COLUMNS), (np.arange(COLUMNS), target)), shape)
    _same(mapped.read(np.arange(ROWS)), (values @ summing).astype(np.float32))


@pytest.mark.parametrize(
    "methods", [("log",), ("normalise",), ("log", "normalise", "bernoulli_sample")]
)
def test_preprocessed_view_equals_whole_matrix_preprocessing(store, values, methods):
    view = preprocessing.preprocessed_view(store(), methods)
    whole = preprocessing.preprocess(values, methods).astype(np.float32)
    rows = np.array([140, 3, 11, 60])
    _same(view.read(rows), whole[rows])


def test_feature_statistics_equal_numpy(store, values):
    found = statistics.feature_statistics(store(), max_values=31)
    dense = values.toarray()
    assert np.array_equal(found.sums, dense.sum(axis=0))
    np.testing.assert_allclose(found.variances, dense.var(axis=0), rtol=1e-12, atol=1e-12)


def test_minibatches_are_the_same_from_both_stores(values, h5ad):
    rows = np.sort(np.random.default_rng(0).choice(ROWS, 40, replace=False))
    batches = []
    for matrix in (CountMatrix.from_csr(values), open_hdf(h5ad, "X")):
        matrix.facts()
        source = RowSource(matrix, matrix.row_sums(), None, None, 0, block_rows=16)
        batches.append(source.inputs_for(rows))
    memory, disk = batches
    assert torch.equal(memory.x, disk.x) and torch.equal(memory.target, disk.target)
    assert torch.equal(memory.library_size, disk.library_size)
    assert torch.equal(memory.x, torch.from_numpy(values[rows].toarray().astype(np.float32)))


def test_epoch_order_is_the_only_difference(values, h5ad):
    in_memory = RowSource(CountMatrix.from_csr(values), np.zeros(ROWS, np.float32), None, None, 0)
    on_disk = RowSource(open_hdf(h5ad, "X"), np.zeros(ROWS, np.float32), None, None, 0)
    assert (in_memory.order, on_disk.order) == ("permutation", "chunk_shuffled")
    expected = np.random.default_rng(4).permutation(np.arange(ROWS))
    assert np.array_equal(in_memory.epoch_order(np.random.default_rng(4)), expected)
    assert sorted(on_disk.epoch_order(np.random.default_rng(4))) == list(range(ROWS))
