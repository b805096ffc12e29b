"""Stores of count values: a CSR matrix in memory or in an HDF5 group, read by rows.

Every store answers the same questions: ``shape``, ``dtype``, ``indptr`` (row
pointers, held in memory: 8 bytes a row) and :meth:`raw_rows` (the stored values of
some rows, as CSR in the stored dtype). :class:`HdfStore` slices the ``data`` and
``indices`` of an HDF5 CSR group (scvae's cache files, ``.h5ad``) with h5py;
:class:`MemoryStore` gathers them from a SciPy CSR matrix.

Two store properties tell the layers above how to use a store without asking
where it is: ``sequential`` (reads are cheap only in file order, so minibatches are
drawn chunk-shuffled) and :meth:`held` (the matrix itself when it is in memory).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from scvae.errors import DataError

__all__ = ["MERGE_GAP", "HdfStore", "MemoryStore", "Store"]

#: Rows whose stored values lie at most this many values apart are read in one slice.
MERGE_GAP = 1 << 16


class Store(Protocol):
    """What :class:`~scvae.data.matrix.CountMatrix` asks of a store."""

    shape: tuple[int, int]
    indptr: np.ndarray
    dtype: np.dtype
    sequential: bool

    def raw_rows(self, rows: np.ndarray) -> sp.csr_matrix: ...

    def held(self) -> sp.csr_matrix | None: ...

    def close(self) -> None: ...


class MemoryStore:
    """A SciPy CSR matrix as a store (sorted column indices, no duplicates)."""

    sequential = False
    path = None
    group = None

    def __init__(self, matrix: Any) -> None:
        matrix = matrix if isinstance(matrix, sp.csr_matrix) else sp.csr_matrix(matrix)
        if not matrix.has_canonical_format:
            matrix = matrix.copy()
            matrix.sum_duplicates()
        self.matrix = matrix
        self.shape = matrix.shape
        self.dtype = matrix.dtype
        self.indptr = matrix.indptr.astype(np.int64, copy=False)

    def raw_rows(self, rows: np.ndarray) -> sp.csr_matrix:
        """The rows ``rows`` (any order, repeats allowed), gathered from the CSR arrays."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and rows[-1] - rows[0] + 1 == rows.size and np.all(np.diff(rows) == 1):
            return self._row_range(int(rows[0]), int(rows[-1]) + 1)
        starts = self.indptr[rows]
        lengths = self.indptr[rows + 1] - starts
        indptr = np.zeros(rows.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        taken = np.arange(indptr[-1], dtype=np.int64) + np.repeat(starts - indptr[:-1], lengths)
        parts = (self.matrix.data[taken], self.matrix.indices[taken], indptr)
        gathered = sp.csr_matrix(parts, shape=(rows.size, self.shape[1]))
        gathered.has_canonical_format = True  # rows of a canonical matrix
        return gathered

    def _row_range(self, start: int, stop: int) -> sp.csr_matrix:
        """Rows ``start:stop``, copied in slices."""
        low, high = int(self.indptr[start]), int(self.indptr[stop])
        parts = (
            self.matrix.data[low:high].copy(),
            self.matrix.indices[low:high].copy(),
            self.indptr[start : stop + 1] - low,
        )
        block = sp.csr_matrix(parts, shape=(stop - start, self.shape[1]))
        block.has_canonical_format = True
        return block

    def held(self) -> sp.csr_matrix:
        return self.matrix

    def close(self) -> None:
        """Nothing to close."""


class HdfStore:
    """A CSR group of an HDF5 file: path, group, ``indptr``; reads stored rows."""

    sequential = True

    def __init__(self, path: str | os.PathLike[str], group: str) -> None:
        import h5py

        self.path, self.group = Path(path), group
        self._file: Any = None
        self._pid = -1
        try:
            with h5py.File(self.path, "r") as file:
                element = file[group]
                self.indptr = np.asarray(element["indptr"][()], dtype=np.int64)
                self.shape = _shape(element)
                self.dtype = element["data"].dtype
        except (OSError, KeyError, ValueError) as error:
            raise DataError(path, f"has no readable CSR matrix '{group}' ({error})") from error
        if len(self.indptr) != self.shape[0] + 1:
            raise DataError(path, f"'{group}/indptr' does not match the matrix shape")

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_file"], state["_pid"] = None, -1
        return state

    def held(self) -> None:
        """Values on disk are not held in memory."""
        return None

    def file(self) -> Any:
        """The open file (re-opened in a new process, e.g. after a fork)."""
        import h5py

        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def raw_range(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stored values, column indices and (0-based) row pointers of rows ``start:stop``."""
        low, high = int(self.indptr[start]), int(self.indptr[stop])
        element = self.file()[self.group]
        data = element["data"][low:high]
        indices = element["indices"][low:high]
        return data, indices, self.indptr[start : stop + 1] - low

    def raw_rows(self, rows: np.ndarray) -> sp.csr_matrix:
        """The file rows ``rows`` (sorted, unique) as stored, in few contiguous reads."""
        width = self.shape[1]
        if len(rows) == 0:
            return sp.csr_matrix((0, width), dtype=self.dtype)
        breaks = _merged_reads(self.indptr[rows[1:]] - self.indptr[rows[:-1] + 1])
        pieces = []
        for group in np.split(rows, breaks):
            start, stop = int(group[0]), int(group[-1]) + 1
            data, indices, pointers = self.raw_range(start, stop)
            block = sp.csr_matrix((data, indices, pointers), shape=(stop - start, width))
            pieces.append(block if len(group) == stop - start else block[group - start])
        return pieces[0] if len(pieces) == 1 else sp.vstack(pieces, format="csr")


def _shape(element: Any) -> tuple[int, int]:
    if "shape" in element.attrs:
        shape = element.attrs["shape"]
    elif "shape" in element:
        shape = element["shape"][()]
    else:
        raise KeyError("no shape")
    encoding = element.attrs.get("encoding-type", b"csr_matrix")
    encoding = encoding.decode() if isinstance(encoding, bytes) else str(encoding)
    if encoding != "csr_matrix":
        raise ValueError(f"stored as {encoding}, not as CSR")
    return int(shape[0]), int(shape[1])


def _merged_reads(gaps: np.ndarray) -> np.ndarray:
    """Where to cut rows into slices, given the values skipped between neighbours.

    A slice skips at most :data:`MERGE_GAP` values in all, so reading one holds at most
    that many values more than were asked for.
    """
    skipped = np.cumsum(gaps)
    bucket = skipped // max(MERGE_GAP, 1)
    cut = (gaps > MERGE_GAP) | (bucket != np.concatenate([[0], bucket[:-1]]))
    return np.flatnonzero(cut) + 1
