"""StoredEntries: the non-zero entries of a minibatch, from a CSR block or found anew."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from scvae.data.batches import canonical, dense_rows
from scvae.distributions.entries import StoredEntries


def _matrix(seed=3, shape=(12, 9), density=0.3):
    dense = sp.random(*shape, density=density, random_state=seed).toarray() * 10
    dense = np.ceil(dense).astype(np.float32)
    dense[4] = 0  # an empty row
    return sp.csr_matrix(dense)


@pytest.mark.parametrize("rows", [[0, 1, 2], [11, 4, 0, 4, 7], list(range(12))])
def test_dense_rows_equal_scipy_and_the_entries_describe_them(rows):
    matrix = _matrix()
    dense, entries = dense_rows(matrix, np.array(rows))
    expected = matrix[rows].toarray()  # scipy's own row selection
    np.testing.assert_array_equal(dense.numpy(), expected)
    flat = expected.reshape(-1)
    np.testing.assert_array_equal(entries.positions.numpy(), np.flatnonzero(flat))
    np.testing.assert_array_equal(entries.values.numpy(), flat[flat != 0])
    np.testing.assert_array_equal(entries.rows.numpy(), np.nonzero(expected)[0])
    np.testing.assert_array_equal(
        entries.row_starts.numpy(), np.concatenate([[0], np.cumsum((expected != 0).sum(1))])
    )
    found = StoredEntries.of(dense)  # the same entries searched in the dense values
    for name in ("positions", "rows", "row_starts", "values"):
        assert torch.equal(getattr(found, name), getattr(entries, name)), name


def test_row_sums_equal_numpy_per_row_including_empty_rows():
    matrix = _matrix(seed=5)
    dense, entries = dense_rows(matrix, np.arange(12))
    terms = torch.randn(3, entries.positions.numel(), dtype=torch.float64)
    sums = entries.row_sums(terms)
    rows = entries.rows.numpy()
    expected = np.stack([np.bincount(rows, weights=t, minlength=12) for t in terms.numpy()])
    np.testing.assert_allclose(sums.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert sums[:, 4].eq(0).all()


def test_non_canonical_matrices_are_summed_before_gathering():
    # duplicate entries (allowed in CSR) must add up, as scipy's toarray does
    matrix = sp.csr_matrix(
        (np.array([1.0, 2.0, 5.0], np.float32), np.array([3, 3, 0]), np.array([0, 2, 3])),
        shape=(2, 4),
    )
    assert not matrix.has_canonical_format
    dense, entries = dense_rows(canonical(matrix), np.array([0, 1]))
    np.testing.assert_array_equal(dense.numpy(), matrix.toarray())
    assert entries.positions.tolist() == [3, 4]


def test_row_sums_by_scattering_equal_the_segment_reduction():
    """The scatter used on devices without a segment reduction gives the same sums."""
    _, entries = dense_rows(_matrix(seed=8), np.arange(12))
    terms = torch.randn(2, entries.positions.numel(), dtype=torch.float64)
    expected = entries.row_sums(terms)

    class Elsewhere(torch.Tensor):  # a CPU tensor that reports another device type
        @property
        def device(self):
            return torch.device("meta")

    scattered = entries.row_sums(terms.as_subclass(Elsewhere))
    torch.testing.assert_close(torch.Tensor(scattered), expected, rtol=1e-12, atol=1e-12)
