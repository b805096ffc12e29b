"""Statistics over a whole matrix, computed chunk by chunk.

Every function reads a :class:`~scvae.data.matrix.CountMatrix` (anything with a
``shape`` and ``iter_chunks(max_values, raw=...)``) and holds at most
:data:`~scvae.data.storage.chunks.CHUNK_VALUES` stored values (plus per-row or
per-feature results) at a time.

Sums over examples are *sequential*: each chunk's values are added to the running
totals in row order (:func:`add_by_column`), exactly as one ``np.bincount`` over the
whole matrix adds them. So the statistics that processing decides on (feature sums
and variances, column norms) are bit for bit those of the whole matrix, whatever the
chunk size and wherever the values are stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

Chunks = Callable[[], Iterable[tuple[np.ndarray, sp.csr_matrix]]]


def add_by_column(totals: np.ndarray, indices: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``totals`` plus the ``weights`` of each column, added one after another.

    ``np.bincount`` adds its weights in order, starting from zero; starting it with
    the running totals instead makes a sum over many chunks identical to one
    ``np.bincount`` over all of them.
    """
    f = len(totals)
    columns = np.concatenate([np.arange(f), np.asarray(indices, dtype=np.int64)])
    return np.bincount(columns, np.concatenate([totals, weights]), minlength=f)


@dataclass(frozen=True)
class FeatureStatistics:
    """Per-feature statistics of N examples: sums, stored values and population variances.

    ``variances`` (``ddof=0``) is ``None`` when not asked for (it needs a second pass).
    """

    count: int
    sums: np.ndarray
    stored: np.ndarray
    variances: np.ndarray | None = None

    @property
    def means(self) -> np.ndarray:
        return self.sums / self.count if self.count else np.zeros_like(self.sums)


def column_statistics(chunks: Chunks, n: int, f: int, variances: bool = True) -> FeatureStatistics:
    """:class:`FeatureStatistics` of ``chunks`` (a function giving the chunks afresh).

    The variance sums squared deviations of the stored values from the mean and adds
    ``(N - stored) * mean**2`` for the implicit zeros (no cancellation).
    """
    sums, stored = np.zeros(f), np.zeros(f, dtype=np.int64)
    for _, chunk in chunks():
        sums = add_by_column(sums, chunk.indices, chunk.data.astype(np.float64))
        stored += np.bincount(chunk.indices, minlength=f)
    if not variances or n == 0:
        return FeatureStatistics(n, sums, stored, np.zeros(f) if variances else None)
    mean = sums / n
    squares = np.zeros(f)
    for _, chunk in chunks():
        deviations = chunk.data.astype(np.float64) - mean[chunk.indices]
        squares = add_by_column(squares, chunk.indices, deviations**2)
    return FeatureStatistics(n, sums, stored, (squares + (n - stored) * mean**2) / n)


def feature_statistics(
    values: Any, *, variances: bool = True, max_values: int | None = None
) -> FeatureStatistics:
    """:class:`FeatureStatistics` of the values as stored (what ``-F`` decides on)."""
    n, f = values.shape
    return column_statistics(lambda: values.iter_chunks(max_values, raw=True), n, f, variances)


def feature_moments(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and population variance (``ddof=0``) of the served values."""
    n, f = values.shape
    statistics = column_statistics(lambda: values.iter_chunks(), n, f)
    return statistics.means, statistics.variances


def per_row(
    values: Any, function: Callable[[sp.csr_matrix], np.ndarray], max_values: int | None = None
) -> np.ndarray:
    """``function`` (one number per row of a CSR chunk) over all rows of the stored values."""
    result = None
    for positions, chunk in values.iter_chunks(max_values, raw=True):
        found = np.asarray(function(chunk))
        if result is None:
            result = np.zeros(values.shape[0], dtype=found.dtype)
        result[positions] = found
    return np.zeros(0) if result is None else result


def row_sums(values: Any) -> np.ndarray:
    """Row sums (``float64``) of a backed or in-memory matrix, in chunks."""
    result = np.zeros(values.shape[0])
    for positions, chunk in values.iter_chunks():
        result[positions] = np.asarray(chunk.sum(axis=1), dtype=np.float64).reshape(-1)
    return result


def summary_statistics(values: Any) -> dict[str, float]:
    """Mean, standard deviation (``ddof=1``), dispersion, minimum, maximum and sparsity.

    The same quantities as :func:`scvae.analyses.metrics.summary_statistics`, over all
    N x F values (implicit zeros included), computed in two passes over the chunks.
    """
    n, f = values.shape
    total = n * f
    stored, value_sum, below_half = 0, 0.0, 0
    minimum, maximum = np.inf, -np.inf
    for _, chunk in values.iter_chunks():
        data = chunk.data.astype(np.float64)
        stored += data.size
        value_sum += data.sum()
        below_half += int(np.count_nonzero(data < 0.5))
        minimum, maximum = (
            min(minimum, data.min(initial=np.inf)),
            max(maximum, data.max(initial=-np.inf)),
        )
    implicit = total - stored
    mean = value_sum / total if total else float("nan")
    squares = implicit * mean**2
    for _, chunk in values.iter_chunks():
        squares += np.square(chunk.data.astype(np.float64) - mean).sum()
    variance = squares / (total - 1) if total > 1 else float("nan")
    if implicit:
        minimum, maximum = min(minimum, 0.0), max(maximum, 0.0)
    return {
        "mean": float(mean),
        "standard deviation": float(np.sqrt(variance)),
        "dispersion": float(variance / mean) if mean else float("nan"),
        "minimum": float(minimum),
        "maximum": float(maximum),
        "sparsity": float((implicit + below_half) / total) if total else float("nan"),
    }


# ------------------------------------------------------------- value checks
@dataclass(frozen=True)
class ValueFacts:
    """What one pass over a data set's values found (see :func:`scan_values`).

    The ``first_*_row`` fields are the first such example (its position).
    """

    stored: int
    minimum: float
    minimum_when_rounded: float
    all_finite: bool
    near_integer: bool
    zeros_as_stored: int
    zeros_when_rounded: int
    first_nonfinite_row: int | None
    first_negative_row: int | None
    first_fractional_row: int | None


def scan_values(
    chunks: Iterable[tuple[np.ndarray, sp.csr_matrix]],
    file_rows: np.ndarray,
    files: int,
    tolerance: float = 1e-6,
) -> tuple[ValueFacts, dict[bool, np.ndarray], dict[bool, np.ndarray]]:
    """One pass: finiteness, sign, integrality, zeros, row sums and non-zeros per row.

    ``chunks`` gives ``(positions, values as stored)``; ``file_rows`` the file row of
    each position, out of ``files``. Row sums and non-zero counts are returned for
    both ways of serving (``False``: as stored, ``True``: rounded), by file row.
    """
    sums = {key: np.zeros(files, np.float32) for key in (False, True)}
    nonzeros = {key: np.zeros(files, np.int64) for key in (False, True)}
    state: dict[str, Any] = dict(stored=0, minimum=np.inf, minimum_rounded=np.inf)
    state.update(zeros=0, zeros_rounded=0, nonfinite=None, negative=None, fractional=None)
    for positions, chunk in chunks:
        local = np.repeat(np.arange(len(positions)), np.diff(chunk.indptr))
        rounded = _scan_chunk(chunk.data, positions[local], state, tolerance)
        rows = file_rows[positions]
        same = rounded is chunk.data or np.array_equal(rounded, chunk.data)
        for key, values in (
            ((False, chunk.data),) if same else ((False, chunk.data), (True, rounded))
        ):
            served = values.astype(np.float32)
            block = sp.csr_matrix((served, chunk.indices, chunk.indptr), shape=chunk.shape)
            sums[key][rows] = np.asarray(block.sum(axis=1)).reshape(-1)
            nonzeros[key][rows] = np.bincount(local[served != 0], minlength=len(positions))
        if same:  # rounding changes nothing: both ways of serving agree
            sums[True][rows], nonzeros[True][rows] = sums[False][rows], nonzeros[False][rows]
    facts = ValueFacts(
        stored=state["stored"],
        minimum=state["minimum"],
        minimum_when_rounded=state["minimum_rounded"],
        all_finite=state["nonfinite"] is None,
        near_integer=state["fractional"] is None and state["nonfinite"] is None,
        zeros_as_stored=state["zeros"],
        zeros_when_rounded=state["zeros_rounded"],
        first_nonfinite_row=state["nonfinite"],
        first_negative_row=state["negative"],
        first_fractional_row=state["fractional"],
    )
    return facts, sums, nonzeros


def _scan_chunk(
    data: np.ndarray, positions: np.ndarray, state: dict[str, Any], tolerance: float
) -> np.ndarray:
    """Add one chunk's stored values (``positions``: the example of each) to ``state``.

    Returns the values rounded to whole numbers.
    """
    integer = np.issubdtype(data.dtype, np.integer) or data.dtype == np.bool_
    rounded = data if integer else np.rint(data)
    checks = {
        "nonfinite": None if integer else ~np.isfinite(data),
        "negative": data < 0,
        "fractional": None if integer else ~(np.abs(data - rounded) <= tolerance),
    }
    for name, mask in checks.items():
        if mask is not None and mask.any():
            first = int(positions[mask].min())
            state[name] = first if state[name] is None else min(state[name], first)
    finite = slice(None) if integer else np.isfinite(data)
    # integer stores cannot take an infinite initial value: compare as floats
    state["minimum"] = min(state["minimum"], _least(data[finite]))
    state["minimum_rounded"] = min(state["minimum_rounded"], _least(rounded[finite]))
    state["stored"] += int(data.size)
    state["zeros"] += int(np.count_nonzero(data == 0))
    state["zeros_rounded"] += int(np.count_nonzero(rounded == 0))
    return rounded


def _least(values: np.ndarray) -> float:
    """The smallest value as a float (``inf`` for none)."""
    return float(values.min()) if values.size else float("inf")
