"""Where a dense minibatch's non-zero values are: its stored entries, in row order.

Most single-cell counts are zero, and the fused likelihoods evaluate their costly terms
only at the non-zero counts. The loader knows those entries from the sparse matrix it
densifies, so it hands them over with the minibatch (no search of the dense values).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["StoredEntries"]


@dataclass(frozen=True)
class StoredEntries:
    """The stored entries of a dense ``(B, F)`` minibatch, row by row.

    Every non-zero value must be among them; extra entries holding zeros (explicitly
    stored zeros of a sparse matrix) are allowed.

    Attributes
    ----------
    positions
        Flat row-major indices ``row * F + column`` (int64, ``(n,)``), rows ascending.
    rows
        The row of each entry (int64, ``(n,)``).
    row_starts
        Where each row's entries start in ``positions``, and their total last
        (int64, ``(B + 1,)``; the CSR ``indptr``).
    values
        The values at ``positions`` (``(n,)``, the minibatch's dtype).
    """

    positions: Tensor
    rows: Tensor
    row_starts: Tensor
    values: Tensor

    @classmethod
    def from_csr(
        cls, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, feature_size: int
    ) -> StoredEntries:
        """The entries of a CSR block (its ``indptr``, ``indices`` and ``data``)."""
        indptr = np.asarray(indptr, dtype=np.int64)
        rows = np.repeat(np.arange(indptr.size - 1, dtype=np.int64), np.diff(indptr))
        positions = rows * feature_size + np.asarray(indices, dtype=np.int64)
        return cls(
            torch.from_numpy(positions),
            torch.from_numpy(rows),
            torch.from_numpy(indptr),
            torch.from_numpy(np.asarray(data)),
        )

    @classmethod
    def of(cls, dense: Tensor) -> StoredEntries:
        """The non-zero entries of a dense ``(B, F)`` tensor (found with ``nonzero``)."""
        rows, columns = torch.nonzero(dense, as_tuple=True)
        counts = torch.bincount(rows, minlength=dense.shape[0])
        row_starts = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
        return cls(rows * dense.shape[1] + columns, rows, row_starts, dense[rows, columns])

    @property
    def number_of_rows(self) -> int:
        """``B``."""
        return self.row_starts.numel() - 1

    def row_sums(self, terms: Tensor) -> Tensor:
        """Per-row sums of per-entry ``terms`` ``(..., n)``: shape ``(..., B)``.

        A segment reduction over the row starts on the CPU and CUDA (several times
        faster than scattering into rows, which other devices use).
        """
        if terms.device.type not in ("cpu", "cuda"):
            sums = terms.new_zeros(*terms.shape[:-1], self.number_of_rows)
            return sums.index_add_(-1, self.rows, terms)
        offsets = self.row_starts.expand(*terms.shape[:-1], self.row_starts.numel())
        return torch.segment_reduce(terms, "sum", offsets=offsets, axis=terms.dim() - 1)

    def pin_memory(self) -> StoredEntries:
        """The same entries in page-locked memory (copied to a GPU without waiting)."""
        return StoredEntries(
            *(t.pin_memory() for t in (self.positions, self.rows, self.row_starts, self.values))
        )

    def to(self, device: torch.device | str) -> StoredEntries:
        """The same entries on ``device``."""
        return StoredEntries(
            *(
                tensor.to(device, non_blocking=True)
                for tensor in (self.positions, self.rows, self.row_starts, self.values)
            )
        )
