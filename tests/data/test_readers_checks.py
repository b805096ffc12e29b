"""The structural checks shared by the readers, against scipy's own matrices."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.sparse as sp

from scvae.data.raw import RawData
from scvae.data.readers import checks
from scvae.data.readers.checks import (
    check_compressed,
    check_dataset,
    check_raw,
    memory_budget,
    require_regular,
)
from scvae.data.readers.mtx import read_mtx
from scvae.errors import DataError


@pytest.mark.parametrize("layout", ["csr", "csc"])
def test_valid_parts_give_the_same_matrix_as_scipy(layout):
    expected = sp.random(30, 20, density=0.2, random_state=3, format=layout)
    built = check_compressed(
        "x", (expected.data, expected.indices, expected.indptr), expected.shape, layout
    )
    assert built.format == layout
    assert (built != expected).nnz == 0


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda d, i, p: (d, i[:-1], p), "'data' has"),
        (lambda d, i, p: (d, i, p[:-1]), "'indptr' has"),
        (lambda d, i, p: (d, i, p + 1), "must start at 0"),
        (lambda d, i, p: (d, np.where(i == i.max(), 20, i), p), "position 20"),
        (lambda d, i, p: (d, -i - 1, p), "outside the matrix shape"),
        (lambda d, i, p: (d, i.astype(float), p), "must hold integers"),
        (lambda d, i, p: (np.where(d == d.max(), np.nan, d), i, p), "NaN or infinite"),
        (lambda d, i, p: (np.where(d == d.max(), 1e39, d), i, p), "too large for 32-bit"),
    ],
)
def test_each_kind_of_damage_is_refused(mutate, words):
    matrix = sp.random(30, 20, density=0.2, random_state=4, format="csr")
    parts = mutate(matrix.data.copy(), matrix.indices.copy(), matrix.indptr.copy())
    with pytest.raises(DataError, match=words):
        check_compressed("x", parts, matrix.shape, "csr")


def test_decreasing_pointers_are_refused():
    with pytest.raises(DataError, match="decreases"):
        check_compressed("x", (np.ones(2), np.zeros(2, int), np.array([0, 2, 1, 2])), (3, 2), "csr")


def test_the_value_is_located_by_row_and_column_of_the_matrix():
    dense = np.zeros((4, 5))
    dense[2, 3] = np.inf
    matrix = sp.csc_matrix(dense)
    with pytest.raises(DataError, match="inf at row 2, column 3"):
        check_compressed("x", (matrix.data, matrix.indices, matrix.indptr), (4, 5), "csc")


def test_memory_budget_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SCVAE_MEMORY_BUDGET", "2k")
    assert memory_budget() == 2048
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as file:
        file["small"], file["large"] = np.ones(256), np.ones(257)  # 2048 and 2056 bytes
    with h5py.File(path, "r") as file:
        check_dataset(path, file["small"])
        with pytest.raises(DataError, match="more than the memory budget of 2.05 kB"):
            check_dataset(path, file["large"])
    monkeypatch.setenv("SCVAE_MEMORY_BUDGET", "lots")
    with pytest.raises(DataError, match="SCVAE_MEMORY_BUDGET"):
        memory_budget()


def test_special_files_are_refused(tmp_path):
    assert require_regular(tmp_path, folder_ok=True) == tmp_path
    with pytest.raises(DataError, match="is a folder"):
        require_regular(tmp_path)
    with pytest.raises(DataError, match="device"):
        require_regular("/dev/null")


def test_names_and_feature_limit(monkeypatch):
    values = sp.csr_matrix(np.ones((2, 3)))
    check_raw("x", RawData(values, np.array(["a", "b"]), np.array(["f", "g", "h"])))
    with pytest.raises(DataError, match="has 2 feature names but the matrix has 3"):
        check_raw("x", RawData(values, None, np.array(["f", "g"])))
    monkeypatch.setattr(checks, "MAX_FEATURES", 2)
    with pytest.raises(DataError, match="the number of features is 3, more than the limit of 2"):
        check_raw("x", RawData(values))


@pytest.mark.parametrize("symmetry", ["symmetric", "skew-symmetric"])
def test_symmetric_mtx_is_mirrored_like_scipy(tmp_path, symmetry):
    from scipy.io import mmread, mmwrite

    base = sp.random(6, 6, density=0.5, random_state=5).toarray()
    dense = base - base.T if symmetry == "skew-symmetric" else base + base.T
    mmwrite(tmp_path / "s.mtx", sp.coo_matrix(dense), symmetry=symmetry)
    np.testing.assert_allclose(
        read_mtx(tmp_path / "s.mtx").toarray(), mmread(tmp_path / "s.mtx").toarray()
    )


def test_array_and_pattern_mtx_read_like_scipy(tmp_path):
    from scipy.io import mmread, mmwrite

    dense = np.arange(12, dtype=float).reshape(3, 4)
    mmwrite(tmp_path / "a.mtx", dense)
    np.testing.assert_array_equal(
        read_mtx(tmp_path / "a.mtx").toarray(), mmread(tmp_path / "a.mtx")
    )
    pattern = sp.random(5, 4, density=0.4, random_state=6, format="coo")
    mmwrite(tmp_path / "p.mtx", pattern, field="pattern")
    np.testing.assert_array_equal(
        read_mtx(tmp_path / "p.mtx").toarray(), mmread(tmp_path / "p.mtx").toarray()
    )
