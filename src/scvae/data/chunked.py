"""Statistics over a whole matrix, computed chunk by chunk (backed or in-memory values).

Every function takes a :class:`~scvae.data.backed.BackedMatrix` or anything SciPy turns
into CSR, and holds at most :data:`~scvae.data.backed.CHUNK_VALUES` stored values (plus
per-row or per-feature results) at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp

from scvae.data import backed
from scvae.data.backed import is_backed


def iter_row_chunks(values: Any, max_values: int | None = None) -> Iterator[tuple[np.ndarray, Any]]:
    """``(positions, csr chunk)`` pairs covering every row of a backed or in-memory matrix.

    In-memory matrices are cut in row order; backed ones are read in file order.
    Consumers place results by ``positions``.
    """
    limit = backed.CHUNK_VALUES if max_values is None else max_values
    if is_backed(values):
        yield from values.iter_chunks(limit)
        return
    matrix = sp.csr_matrix(values)
    bounds = backed.chunk_bounds(matrix.indptr.astype(np.int64), limit)
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        yield np.arange(start, stop), matrix[start:stop]


def row_sums(values: Any) -> np.ndarray:
    """Row sums (``float64``) of a backed or in-memory matrix, in chunks."""
    result = np.zeros(values.shape[0])
    for positions, chunk in iter_row_chunks(values):
        result[positions] = np.asarray(chunk.sum(axis=1), dtype=np.float64).reshape(-1)
    return result


def feature_moments(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and population variance (``ddof=0``), in two chunked passes.

    The variance sums squared deviations of the stored values and adds
    ``(N - stored) * mean**2`` for the implicit zeros (no cancellation).
    """
    n, f = values.shape
    if n == 0:
        return np.zeros(f), np.zeros(f)
    sums, stored = np.zeros(f), np.zeros(f)
    for _, chunk in iter_row_chunks(values):
        sums += np.bincount(chunk.indices, chunk.data.astype(np.float64), minlength=f)
        stored += np.bincount(chunk.indices, minlength=f)
    mean = sums / n
    squares = np.zeros(f)
    for _, chunk in iter_row_chunks(values):
        deviations = chunk.data.astype(np.float64) - mean[chunk.indices]
        squares += np.bincount(chunk.indices, deviations**2, minlength=f)
    return mean, (squares + (n - stored) * mean**2) / n


def summary_statistics(values: Any) -> dict[str, float]:
    """Mean, standard deviation (``ddof=1``), dispersion, minimum, maximum and sparsity.

    The same quantities as :func:`scvae.analyses.metrics.summary_statistics`, over all
    N x F values (implicit zeros included), computed in two passes over the chunks.
    """
    n, f = values.shape
    total = n * f
    stored, value_sum, below_half = 0, 0.0, 0
    minimum, maximum = np.inf, -np.inf
    for _, chunk in iter_row_chunks(values):
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
    for _, chunk in iter_row_chunks(values):
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
