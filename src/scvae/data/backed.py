"""Backed values: a CSR matrix left on disk (HDF5), read by row ranges when needed.

A :class:`BackedMatrix` stands in for the ``values`` of a :class:`~scvae.data.DataSet`
when the data set is larger than memory. It reads the CSR arrays (``data``,
``indices``, ``indptr``) of the project's cache files (group ``values``) or of an
``.h5ad`` file (group ``X``, a layer or ``raw/X``) with h5py: ``indptr`` is held in
memory (8 bytes per example), ``data`` and ``indices`` are sliced by row ranges.

Row subsets (``matrix[indices]``, as made by splits) are *views*: they keep the row
order they were given, share the open file, and read their rows in file order, so
reads stay sequential. Whatever needs the whole matrix walks it in chunks of at most
:data:`CHUNK_VALUES` stored values: the checks of :func:`check_backed_values` here,
and the statistics of :mod:`scvae.data.chunked` (for backed and in-memory matrices).

Values are served as ``float32``, rounded to whole numbers when every stored value
is within the tolerance of one: exactly what :func:`~scvae.data.validation.check_values`
makes of the same matrix in memory, so both modes give identical minibatches.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from scvae.errors import DataError, NotSupportedYet

#: Most stored values read at once by the passes over a whole matrix (32 MiB of float64).
CHUNK_VALUES = 1 << 22

#: Rows whose stored values lie at most this many values apart are read in one slice.
MERGE_GAP = 1 << 16


@dataclass(frozen=True)
class ValueFacts:
    """What one pass over the stored values found (see :meth:`BackedMatrix.facts`)."""

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


class _Store:
    """The file behind every view: path, group, ``indptr`` and (once scanned) the facts."""

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
        self.rounded = False
        self._facts: ValueFacts | None = None
        self._sums: dict[bool, np.ndarray] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_file"], state["_pid"] = None, -1
        return state

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

    def read_range(self, start: int, stop: int) -> sp.csr_matrix:
        """Rows ``start:stop`` as ``float32`` CSR (rounded when the matrix is integral)."""
        data, indices, pointers = self.raw_range(start, stop)
        values = _served(data, self.rounded)
        return sp.csr_matrix((values, indices, pointers), shape=(stop - start, self.shape[1]))

    def read_rows(self, rows: np.ndarray) -> sp.csr_matrix:
        """The file rows ``rows`` (sorted, unique) in that order, in few contiguous reads."""
        if len(rows) == 0:
            return sp.csr_matrix((0, self.shape[1]), dtype=np.float32)
        gaps = self.indptr[rows[1:]] - self.indptr[rows[:-1] + 1]
        breaks = np.flatnonzero(gaps > MERGE_GAP) + 1
        pieces = []
        for group in np.split(rows, breaks):
            start, stop = int(group[0]), int(group[-1]) + 1
            block = self.read_range(start, stop)
            pieces.append(block if len(group) == stop - start else block[group - start])
        return pieces[0] if len(pieces) == 1 else sp.vstack(pieces, format="csr")

    def facts(self) -> ValueFacts:
        if self._facts is None:
            self._facts = _scan(self)
            self.rounded = self._facts.near_integer
        return self._facts

    def row_sums(self) -> np.ndarray:
        """``float32`` sums of the served rows (computed during the scan)."""
        self.facts()
        return self._sums[self.rounded]


class BackedMatrix:
    """An examples x features CSR matrix on disk, or a row subset (view) of one.

    Parameters
    ----------
    path
        An HDF5 file holding a CSR group (``data``, ``indices``, ``indptr`` and a
        ``shape`` dataset or attribute).
    group
        The group: ``values`` in scvae's cache files, ``X`` (or a layer) in ``.h5ad``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        group: str = "X",
        *,
        _store: _Store | None = None,
        _rows: np.ndarray | None = None,
    ) -> None:
        self._store = _store or _Store(path, group)
        self._rows = None if _rows is None else np.asarray(_rows, dtype=np.int64)
        self._file_order: np.ndarray | None = None

    # --------------------------------------------------------------- shape
    @property
    def path(self) -> Path:
        return self._store.path

    @property
    def group(self) -> str:
        return self._store.group

    @property
    def shape(self) -> tuple[int, int]:
        n = self._store.shape[0] if self._rows is None else len(self._rows)
        return (n, self._store.shape[1])

    ndim = 2
    dtype = np.dtype(np.float32)

    @property
    def file_rows(self) -> np.ndarray:
        """The file row of each example of this view."""
        return np.arange(self._store.shape[0]) if self._rows is None else self._rows

    @property
    def row_nnz(self) -> np.ndarray:
        """Stored values per example."""
        counts = np.diff(self._store.indptr)
        return counts if self._rows is None else counts[self._rows]

    @property
    def indptr(self) -> np.ndarray:
        """Row pointers of this view as if it were an in-memory CSR matrix."""
        if self._rows is None:
            return self._store.indptr
        return np.concatenate([[0], np.cumsum(self.row_nnz)]).astype(np.int64)

    @property
    def nnz(self) -> int:
        return int(self.row_nnz.sum())

    def file_order(self) -> np.ndarray:
        """Positions of this view's examples sorted by their row in the file."""
        if self._file_order is None:
            n = self.shape[0]
            rows = self._rows
            self._file_order = np.arange(n) if rows is None else np.argsort(rows, kind="stable")
        return self._file_order

    # ----------------------------------------------------------- subsets
    def __getitem__(self, index: Any) -> BackedMatrix:
        if isinstance(index, tuple) or isinstance(index, (int, np.integer)):
            raise NotSupportedYet("indexing backed values other than by rows")
        positions = np.arange(self.shape[0])[index]
        return BackedMatrix(
            self.path, self.group, _store=self._store, _rows=self.file_rows[positions]
        )

    def __array__(self, *_: Any, **__: Any) -> np.ndarray:
        raise NotSupportedYet("making backed values dense (this step needs the data in memory)")

    def __repr__(self) -> str:
        n, f = self.shape
        return f"BackedMatrix({str(self.path)!r}, {self.group!r}, {n} x {f})"

    # ------------------------------------------------------------ reading
    def read(self, positions: np.ndarray) -> sp.csr_matrix:
        """The examples at ``positions`` (any order, repeats allowed) as ``float32`` CSR."""
        positions = np.asarray(positions, dtype=np.int64)
        rows = self.file_rows[positions] if self._rows is not None else positions
        unique, inverse = np.unique(rows, return_inverse=True)
        block = self._store.read_rows(unique)
        if len(unique) == len(rows) and np.array_equal(unique, rows):
            return block
        return block[inverse.reshape(-1)]

    def _chunk_bounds(self, max_values: int) -> np.ndarray:
        """Cut points of the file-ordered examples into chunks of at most ``max_values``.

        Every chunk has at least one example, so a row longer than ``max_values``
        forms a chunk of its own.
        """
        counts = self.row_nnz[self.file_order()]
        return chunk_bounds(np.concatenate([[0], np.cumsum(counts)]), max_values)

    def iter_chunks(self, max_values: int = CHUNK_VALUES) -> Iterator[tuple[np.ndarray, Any]]:
        """Yield ``(positions, csr)`` over every example in file order, chunk by chunk."""
        order = self.file_order()
        bounds = self._chunk_bounds(max_values)
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
            positions = order[start:stop]
            if self._rows is None:
                yield positions, self._store.read_range(int(start), int(stop))
            else:
                yield positions, self._store.read_rows(self._rows[positions])

    # --------------------------------------------------------- statistics
    def facts(self) -> ValueFacts:
        """Facts about the stored values of the whole file (one pass, then remembered)."""
        return self._store.facts()

    def row_sums(self) -> np.ndarray:
        """``float32`` row sums of the served values (as ``csr.sum(axis=1)`` gives them)."""
        sums = self._store.row_sums()
        return sums if self._rows is None else sums[self._rows]

    def sum(self, axis: int | None = None) -> Any:
        """Like ``csr_matrix.sum``: ``axis=1`` gives an (N, 1) array, 0 a (1, F) one."""
        if axis in (1, -1):
            return self.row_sums().astype(np.float64).reshape(-1, 1)
        columns = np.zeros(self.shape[1])
        for _, chunk in self.iter_chunks():
            columns += np.bincount(chunk.indices, chunk.data, minlength=self.shape[1])
        return columns.reshape(1, -1) if axis in (0, -2) else float(columns.sum())

    def close(self) -> None:
        """Close the file (it is re-opened when read again)."""
        self._store.close()


# ------------------------------------------------------------------ helpers
def is_backed(values: Any) -> bool:
    """Whether ``values`` is a :class:`BackedMatrix`."""
    return isinstance(values, BackedMatrix)


def has_zeros(values: Any) -> bool:
    """Whether any of the N x F values is zero (implicit or stored)."""
    if not is_backed(values):
        matrix = sp.csr_matrix(values)
        n, f = matrix.shape
        return matrix.nnz < n * f or bool((matrix.data == 0).any())
    facts = values.facts()
    n, f = values._store.shape
    zeros = facts.zeros_when_rounded if values._store.rounded else facts.zeros_as_stored
    return facts.stored - zeros < n * f


def check_backed_values(
    matrix: BackedMatrix,
    path: object,
    *,
    count_likelihood: bool,
    likelihood_name: str | None = None,
) -> BackedMatrix:
    """The checks of :func:`~scvae.data.validation.check_values`, done in chunks.

    The first check scans the file once (the facts are remembered). A problem is
    reported by running ``check_values`` on the offending row, so the messages are
    the same as for in-memory data. Returns ``matrix`` (now serving rounded values
    when every stored value is near a whole number).
    """
    from scvae.data.validation import check_values

    rows, columns = matrix.shape
    if rows == 0 or columns == 0:
        raise DataError(path, f"has no values ({rows} examples x {columns} features)")
    facts = matrix.facts()
    bad = facts.first_nonfinite_row
    if bad is None and count_likelihood:
        candidates = [facts.first_negative_row, facts.first_fractional_row]
        bad = min((row for row in candidates if row is not None), default=None)
    if bad is not None:
        check_values(
            _padded_row(matrix._store, bad),
            path,
            count_likelihood=count_likelihood,
            likelihood_name=likelihood_name,
        )
        raise DataError(path, f"row {bad} holds values that cannot be used")  # not reached
    return matrix


def minimum_stored_value(values: Any) -> float:
    """The smallest stored value (``0`` when nothing is stored), backed or not."""
    if is_backed(values):
        facts = values.facts()
        return min(facts.minimum_when_rounded if facts.near_integer else facts.minimum, 0.0)
    return float(sp.csr_matrix(values).data.min(initial=0))


# ---------------------------------------------------------------- internals
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


def _served(data: np.ndarray, rounded: bool) -> np.ndarray:
    """Stored values as served: ``float32``, rounded first when the matrix is integral."""
    if rounded and not np.issubdtype(data.dtype, np.integer) and data.dtype != np.bool_:
        data = np.rint(data)
    return data.astype(np.float32, copy=False)


def chunk_bounds(pointers: np.ndarray, max_values: int) -> np.ndarray:
    """Row cut points so that each chunk holds at most ``max_values`` (>= 1 row)."""
    n = len(pointers) - 1
    bounds = [0]
    while bounds[-1] < n:
        start = bounds[-1]
        stop = int(np.searchsorted(pointers, pointers[start] + max_values, side="right")) - 1
        bounds.append(min(max(stop, start + 1), n))
    return np.asarray(bounds, dtype=np.int64)


def _scan(store: _Store, tolerance: float = 1e-6) -> ValueFacts:
    """One pass: finiteness, sign, integrality, zeros and both kinds of row sums."""
    n = store.shape[0]
    integer = np.issubdtype(store.dtype, np.integer) or store.dtype == np.bool_
    sums = {False: np.zeros(n, np.float32), True: np.zeros(n, np.float32)}
    state = dict(minimum=np.inf, minimum_rounded=np.inf, zeros=0, zeros_rounded=0)
    first: dict[str, int | None] = {"nonfinite": None, "negative": None, "fractional": None}
    bounds = chunk_bounds(store.indptr, CHUNK_VALUES)
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        data, indices, pointers = store.raw_range(int(start), int(stop))
        rounded = data if integer else np.rint(data)
        checks = {
            "nonfinite": None if integer else ~np.isfinite(data),
            "negative": data < 0,
            "fractional": None if integer else ~(np.abs(data - rounded) <= tolerance),
        }
        for name, mask in checks.items():
            if first[name] is None and mask is not None and mask.any():
                position = int(np.argmax(mask))
                first[name] = (
                    int(start) + int(np.searchsorted(pointers, position, side="right")) - 1
                )
        finite = np.isfinite(data) if not integer else slice(None)
        # integer stores cannot take an infinite initial value: compare as float64
        state["minimum"] = min(state["minimum"], _least(data[finite]))
        state["minimum_rounded"] = min(state["minimum_rounded"], _least(rounded[finite]))
        state["zeros"] += int(np.count_nonzero(data == 0))
        state["zeros_rounded"] += int(np.count_nonzero(rounded == 0))
        for key, values in ((False, data), (True, rounded)):
            chunk = sp.csr_matrix(
                (values.astype(np.float32), indices, pointers), shape=(stop - start, store.shape[1])
            )
            sums[key][start:stop] = np.asarray(chunk.sum(axis=1)).reshape(-1)
    store._sums = sums
    return ValueFacts(
        stored=int(store.indptr[-1]),
        minimum=state["minimum"],
        minimum_when_rounded=state["minimum_rounded"],
        all_finite=first["nonfinite"] is None,
        near_integer=first["fractional"] is None and first["nonfinite"] is None,
        zeros_as_stored=state["zeros"],
        zeros_when_rounded=state["zeros_rounded"],
        first_nonfinite_row=first["nonfinite"],
        first_negative_row=first["negative"],
        first_fractional_row=first["fractional"],
    )


def _least(values: np.ndarray) -> float:
    """The smallest value as a float (``inf`` for none)."""
    return float(values.min()) if values.size else float("inf")


def _padded_row(store: _Store, row: int) -> sp.csr_matrix:
    """A CSR matrix whose row ``row`` is the file's row and whose earlier rows are empty."""
    data, indices, _ = store.raw_range(row, row + 1)
    pointers = np.zeros(row + 2, dtype=np.int64)
    pointers[-1] = len(data)
    return sp.csr_matrix((data, indices, pointers), shape=(row + 1, store.shape[1]))


def read_rows(values: Any, rows: Any) -> sp.csr_matrix:
    """The examples at ``rows`` as CSR, from in-memory or backed values alike."""
    if is_backed(values):
        positions = np.arange(values.shape[0])[rows]
        return values.read(np.atleast_1d(positions))
    return sp.csr_matrix(values[rows])
