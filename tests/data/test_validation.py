"""Value checks: finite values, counts for count likelihoods, rounding, no mutation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from scvae.data.matrix import CountMatrix
from scvae.data.storage import chunks
from scvae.data.validation import (
    COUNT_LIKELIHOODS,
    NON_COUNT_LIKELIHOODS,
    check,
    check_values,
    needs_counts,
)
from scvae.distributions import registry
from scvae.errors import DataError, NotCountsError


def _csr(rows: list[list[float]], dtype: type = np.float64) -> sp.csr_matrix:
    return sp.csr_matrix(np.array(rows, dtype=dtype))


def _snapshot(matrix: sp.csr_matrix) -> tuple[np.ndarray, ...]:
    return matrix.data.copy(), matrix.indices.copy(), matrix.indptr.copy()


def _unchanged(matrix: sp.csr_matrix, snapshot: tuple[np.ndarray, ...]) -> bool:
    parts = (matrix.data, matrix.indices, matrix.indptr)
    return all(
        np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        for a, b in zip(parts, snapshot, strict=True)
    )


def test_near_integers_are_rounded_to_float32_in_a_new_matrix() -> None:
    matrix = _csr([[1 + 1e-11, 0, 3 - 1e-11], [1e-11, 7, 0]])
    before = _snapshot(matrix)
    checked = check_values(matrix, "x.tsv", count_likelihood=True)
    assert checked.dtype == np.float32 and sp.isspmatrix_csr(checked)
    assert np.array_equal(checked.toarray(), [[1, 0, 3], [0, 7, 0]])
    assert checked.nnz == 3  # the 1e-11 that rounds to 0 is no longer stored
    assert _unchanged(matrix, before) and matrix.nnz == 4
    for part in ("data", "indices", "indptr"):
        assert not np.shares_memory(getattr(checked, part), getattr(matrix, part))


def test_integer_input_becomes_float32() -> None:
    checked = check_values(_csr([[1, 2], [0, 5]], np.int64), None, count_likelihood=True)
    assert checked.dtype == np.float32
    assert np.array_equal(checked.toarray(), [[1, 2], [0, 5]])


def test_other_formats_are_accepted() -> None:
    dense = np.array([[1.0, 0.0], [0.0, 2.0]])
    for given in (dense, sp.csc_matrix(dense), sp.coo_matrix(dense)):
        checked = check_values(given, None, count_likelihood=True)
        assert sp.isspmatrix_csr(checked) and np.array_equal(checked.toarray(), dense)


def test_non_integers_refused_for_count_likelihoods() -> None:
    matrix = _csr([[1, 0, 0], [0, 0, 0.734]])
    before = _snapshot(matrix)
    with pytest.raises(NotCountsError) as raised:
        check_values(matrix, "data/x.tsv", count_likelihood=True)
    message = str(raised.value)
    assert message.startswith("data/x.tsv: values are not counts")
    assert "0.734 at row 1, column 2" in message
    for name in (*COUNT_LIKELIHOODS, *NON_COUNT_LIKELIHOODS):
        assert name in message
    assert message.endswith("or give raw counts")
    assert _unchanged(matrix, before)


def test_refusal_names_the_chosen_likelihood() -> None:
    with pytest.raises(NotCountsError, match="the likelihood negative_binomial needs"):
        check_values(
            _csr([[0.5]]), None, count_likelihood=True, likelihood_name="negative_binomial"
        )


def test_non_integers_kept_as_they_are_for_other_likelihoods() -> None:
    matrix = _csr([[0.5, 0, 3 + 1e-9], [-2.25, 0, 1]])
    before = _snapshot(matrix)
    checked = check_values(matrix, None, count_likelihood=False, likelihood_name="gaussian")
    assert np.array_equal(checked.toarray(), matrix.toarray().astype(np.float32))
    assert checked.dtype == np.float32
    assert _unchanged(matrix, before)


def test_negative_values_refused_for_count_likelihoods() -> None:
    with pytest.raises(NotCountsError, match=r"-2 at row 0, column 1, which is negative"):
        check_values(_csr([[1, -2]]), None, count_likelihood=True)
    with pytest.raises(NotCountsError, match="negative"):
        check_values(_csr([[1, -2]], np.int32), None, count_likelihood=True)


def test_negative_integers_allowed_for_other_likelihoods() -> None:
    checked = check_values(_csr([[1, -2]]), None, count_likelihood=False)
    assert np.array_equal(checked.toarray(), [[1, -2]])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("count_likelihood", [True, False])
def test_non_finite_values_always_refused(bad: float, count_likelihood: bool) -> None:
    matrix = _csr([[1, 0], [0, bad]])
    with pytest.raises(DataError, match="NaN or infinite") as raised:
        check_values(matrix, "x.tsv", count_likelihood=count_likelihood)
    assert not isinstance(raised.value, NotCountsError)
    assert "row 1, column 1" in str(raised.value)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0)])
def test_empty_matrices_refused(shape: tuple[int, int]) -> None:
    with pytest.raises(DataError, match="no values"):
        check_values(sp.csr_matrix(shape), "x.tsv", count_likelihood=False)


def test_all_zero_matrix_is_fine() -> None:
    checked = check_values(sp.csr_matrix((3, 4)), None, count_likelihood=True)
    assert checked.shape == (3, 4) and checked.nnz == 0


def test_chunks_report_the_right_position(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunks, "CHUNK_VALUES", 3)
    rows = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11.5, 12]]
    with pytest.raises(NotCountsError, match=r"11\.5 at row 2, column 2"):
        check_values(_csr(rows), None, count_likelihood=True)
    checked = check_values(_csr(rows), None, count_likelihood=False)
    assert checked.toarray()[2, 2] == np.float32(11.5)
    rows[2][2] = 11 + 1e-10
    assert np.array_equal(
        check_values(_csr(rows), None, count_likelihood=True).toarray()[2], [9, 10, 11, 12]
    )
    assert CountMatrix.from_csr(_csr(rows)).is_counts()


def test_is_counts() -> None:
    def counts(matrix) -> bool:
        return CountMatrix.from_csr(matrix).is_counts()

    assert counts(_csr([[1, 0], [2 + 1e-9, 3]]))
    assert counts(_csr([[1, 0]], np.int64))
    assert counts(sp.csr_matrix((2, 2)))
    assert not counts(_csr([[1, 0.5]]))
    assert not counts(_csr([[1, -1]]))
    assert not counts(_csr([[1, -1]], np.int64))
    assert not counts(_csr([[1, np.nan]]))


def test_likelihood_lists_split_the_registry() -> None:
    assert not set(COUNT_LIKELIHOODS) & set(NON_COUNT_LIKELIHOODS)
    assert set(COUNT_LIKELIHOODS) == set(registry.COUNT_LIKELIHOODS)
    assert set(COUNT_LIKELIHOODS) | set(NON_COUNT_LIKELIHOODS) == set(registry.LIKELIHOODS)
    assert needs_counts("Negative Binomial") and needs_counts("poisson")
    assert not needs_counts("gaussian") and not needs_counts(None)


@pytest.mark.parametrize(
    ("rows", "likelihood", "error", "where"),
    [
        ([[1, 2], [3, np.nan]], "gaussian", DataError, "row 1, column 1"),
        ([[1, 2], [-3, 4]], "poisson", NotCountsError, "row 1, column 0"),
        ([[1, 2.5], [3, 4]], "negative_binomial", NotCountsError, "row 0, column 1"),
        ([[1, 2], [-3, 4]], None, NotCountsError, "negative values"),
    ],
)
def test_check_reports_like_check_values(rows, likelihood, error, where) -> None:
    with pytest.raises(error, match=where):
        check(CountMatrix.from_csr(_csr(rows)), "x.tsv", likelihood=likelihood)


def test_check_allows_what_the_likelihood_allows() -> None:
    matrix = CountMatrix.from_csr(_csr([[1, -2.5], [0, 4]]))
    assert check(matrix, None, likelihood="gaussian") is matrix
    assert check(matrix, None, structure_only=True) is matrix
    with pytest.raises(DataError, match="no values"):
        check(CountMatrix.from_csr(sp.csr_matrix((0, 3))), None)
