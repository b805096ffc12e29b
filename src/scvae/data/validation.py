"""Checks on a value matrix before it is used: finite, and counts where counts are needed.

:func:`check` decides from the facts of one chunked pass over a
:class:`~scvae.data.matrix.CountMatrix` (wherever it is stored); a problem is
reported by :func:`check_values` on the offending row, which builds the message.
Positions in messages count from 0, in the examples x features orientation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

import numpy as np
import scipy.sparse as sp

from scvae.data.matrix import CountMatrix
from scvae.data.storage import chunks
from scvae.errors import DataError, NotCountsError

#: Likelihoods that need non-negative integer counts (as in the likelihood registry).
COUNT_LIKELIHOODS = (
    "poisson",
    "negative_binomial",
    "zero_inflated_poisson",
    "zero_inflated_negative_binomial",
    "constrained_poisson",
)

#: Likelihoods that accept values that are not counts (the rest of the registry).
NON_COUNT_LIKELIHOODS = (
    "gaussian",
    "log_normal",
    "softplus_gaussian",
    "gamma",
    "lomax",
    "exponentially_modified_gaussian",
    "bernoulli",
)

_Fail = Callable[[str, int], NoReturn]


def check_values(
    values: sp.csr_matrix,
    path: object,
    *,
    count_likelihood: bool,
    likelihood_name: str | None = None,
    tolerance: float = 1e-6,
) -> sp.csr_matrix:
    """Return a checked copy of ``values`` as a ``float32`` CSR matrix.

    Parameters
    ----------
    values
        Examples x features matrix (CSR; other sparse formats and arrays are converted).
        It is never modified.
    path
        Named first in error messages.
    count_likelihood
        Whether the chosen likelihood needs non-negative integer counts.
    likelihood_name
        The chosen likelihood, for the message.
    tolerance
        Stored values this close to a whole number count as that number. When all
        stored values are that close they are rounded; otherwise they are kept as they are.

    Raises
    ------
    DataError
        Zero examples or zero features, or a NaN or infinite value.
    NotCountsError
        ``count_likelihood`` and a negative or non-integer value.
    """
    matrix = _as_csr(values)
    if 0 in matrix.shape:
        rows, columns = matrix.shape
        raise DataError(path, f"has no values ({rows} examples x {columns} features)")
    fail = _failure(matrix, path, likelihood_name)
    data = matrix.data
    if np.issubdtype(data.dtype, np.integer) or data.dtype == np.bool_:
        if count_likelihood and data.size and data.min() < 0:
            fail("negative", int(np.argmax(data < 0)))
        new_data = data.astype(np.float32)
    else:
        new_data = _checked_floats(data, count_likelihood, tolerance, fail)
    checked = sp.csr_matrix(
        (new_data, matrix.indices.copy(), matrix.indptr.copy()), shape=matrix.shape
    )
    if new_data.size and not new_data.all():
        checked.eliminate_zeros()
    return checked


def needs_counts(likelihood: str | None) -> bool:
    """Whether the likelihood ``likelihood`` needs non-negative integer counts."""
    if likelihood is None:
        return False
    from scvae.distributions import registry  # the likelihood table needs torch

    try:
        return registry.canonical_name(likelihood) in registry.COUNT_LIKELIHOODS
    except ValueError:  # an unknown name is refused where the model is configured
        return False


def check(
    matrix: CountMatrix,
    path: object,
    *,
    likelihood: str | None = None,
    structure_only: bool = False,
) -> CountMatrix:
    """Check ``matrix`` in one chunked pass (the facts are remembered); returns it.

    Refuses an empty matrix and NaN or infinite values; with a count likelihood,
    negative and non-integer values; without a likelihood (scvae models counts),
    negative values. With ``structure_only`` only emptiness and finiteness are
    checked (what is refused before anything is cached). Afterwards the matrix
    serves rounded values when every value is near a whole number.
    """
    rows, columns = matrix.shape
    if rows == 0 or columns == 0:
        raise DataError(path, f"has no values ({rows} examples x {columns} features)")
    facts = matrix.facts()
    counts = needs_counts(likelihood) and not structure_only
    bad = facts.first_nonfinite_row
    if bad is None and counts:
        negative, fractional = facts.first_negative_row, facts.first_fractional_row
        bad = negative if negative is not None else fractional
    if bad is not None:
        row = matrix.padded_row(bad)
        check_values(row, path, count_likelihood=counts, likelihood_name=likelihood)
        raise DataError(path, f"row {bad} holds values that cannot be used")  # not reached
    if likelihood is None and not structure_only and matrix.minimum() < 0:
        raise NotCountsError(
            path,
            "has negative values; scvae models counts (give a likelihood for real "
            "values, e.g. gaussian, to use them)",
        )
    return matrix


def _as_csr(values: object) -> sp.csr_matrix:
    if isinstance(values, sp.csr_matrix):
        return values
    if sp.issparse(values):
        return sp.csr_matrix(values)
    return sp.csr_matrix(np.asarray(values))


def _checked_floats(
    data: np.ndarray, count_likelihood: bool, tolerance: float, fail: _Fail
) -> np.ndarray:
    """Chunk-wise checks; rounded ``float32`` values if all are near-integers."""
    new_data = np.empty(data.shape, dtype=np.float32)
    integral = True
    step = chunks.CHUNK_VALUES
    for start in range(0, data.size, step):
        chunk = data[start : start + step]
        finite = np.isfinite(chunk)
        if not finite.all():
            fail("non-finite", start + int(np.argmin(finite)))
        if count_likelihood:
            negative = chunk < 0
            if negative.any():
                fail("negative", start + int(np.argmax(negative)))
        if integral:
            rounded = np.rint(chunk)
            near = np.abs(chunk - rounded) <= tolerance
            if near.all():
                new_data[start : start + chunk.size] = rounded
                continue
            if count_likelihood:
                fail("not integer", start + int(np.argmin(near)))
            integral = False
    if not integral:
        new_data[...] = data
    return new_data


def _failure(matrix: sp.csr_matrix, path: object, likelihood_name: str | None) -> _Fail:
    """A function raising the error for a problem at a position of ``matrix.data``."""

    def fail(problem: str, position: int) -> NoReturn:
        value = matrix.data[position]
        row = int(np.searchsorted(matrix.indptr, position, side="right")) - 1
        where = f"{_format(value)} at row {row}, column {int(matrix.indices[position])}"
        if problem == "non-finite":
            raise DataError(
                path,
                f"values contain NaN or infinite numbers (e.g. {where}); remove or replace them",
            )
        example = f"e.g. {where}" + (", which is negative" if problem == "negative" else "")
        raise NotCountsError(path, f"values are not counts ({example}); {_advice(likelihood_name)}")

    return fail


def _advice(likelihood_name: str | None) -> str:
    counts = ", ".join(COUNT_LIKELIHOODS)
    others = ", ".join(NON_COUNT_LIKELIHOODS)
    if likelihood_name:
        alike = ", ".join(name for name in COUNT_LIKELIHOODS if name != likelihood_name)
        need = f"the likelihood {likelihood_name} needs non-negative integer counts (as do {alike})"
    else:
        need = f"the likelihoods {counts} need non-negative integer counts"
    return f"{need}; use {others} or give raw counts"


def _format(value: object) -> str:
    return f"{float(value):.6g}" if isinstance(value, (float, np.floating)) else str(value)
