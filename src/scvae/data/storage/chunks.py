"""How whole-matrix passes cut a CSR matrix into chunks of rows."""

from __future__ import annotations

import numpy as np

__all__ = ["CHUNK_VALUES", "chunk_bounds"]

#: Most stored values read at once by the passes over a whole matrix (32 MiB of float64).
CHUNK_VALUES = 1 << 22


def chunk_bounds(pointers: np.ndarray, max_values: int) -> np.ndarray:
    """Row cut points so that each chunk holds at most ``max_values`` (>= 1 row).

    ``pointers`` are CSR row pointers (``indptr``) of the rows in reading order.
    """
    n = len(pointers) - 1
    bounds = [0]
    while bounds[-1] < n:
        start = bounds[-1]
        stop = int(np.searchsorted(pointers, pointers[start] + max_values, side="right")) - 1
        bounds.append(min(max(stop, start + 1), n))
    return np.asarray(bounds, dtype=np.int64)
