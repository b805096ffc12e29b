"""Backed values: a CSR matrix left on disk (HDF5), read by row ranges when needed.

A :class:`BackedMatrix` stands in for the ``values`` of a :class:`~scvae.data.DataSet`
when the data set is larger than memory. It reads the CSR arrays (``data``,
``indices``, ``indptr``) of the project's cache files (group ``values``) or of an
``.h5ad`` file (group ``X``, a layer or ``raw/X``) with h5py: ``indptr`` is held in
memory (8 bytes per example), ``data`` and ``indices`` are sliced by row ranges.

Three pieces make up a matrix:

* :class:`~scvae.data.backed_store.CsrStore`, the file: it reads stored rows (in the
  stored dtype);
* ``_Layer``, what a data set makes of them: a :class:`Transform` (summed columns of
  ``--map-features``, the ``-p`` preprocessing of a network input, the columns kept
  by ``-F``) and the file rows of the data set (those ``-E`` kept, in their order).
  Its :meth:`~BackedMatrix.facts` (one chunked pass) describe those values;
* :class:`BackedMatrix`, a view: a layer and the file row of each example. Row
  subsets (``matrix[indices]``, as made by splits) are views of the same layer; they
  keep the row order they were given, share the open file and read their rows in
  file order, so reads stay sequential.

Whatever needs the whole matrix walks it in chunks of at most :data:`CHUNK_VALUES`
stored values: the checks of :func:`check_backed_values` here, and the statistics of
:mod:`scvae.data.chunked` (for backed and in-memory matrices).

Values are served as ``float32``, rounded to whole numbers when every value of the
layer is within the tolerance of one: exactly what :func:`~scvae.data.validation.check_values`
makes of the same (processed) matrix in memory, so both modes give identical minibatches.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from scvae.data.backed_store import CsrStore
from scvae.errors import DataError, NotSupportedYet

if TYPE_CHECKING:
    from scvae.data.chunked import ValueFacts

#: Most stored values read at once by the passes over a whole matrix (32 MiB of float64).
CHUNK_VALUES = 1 << 22


@dataclass(frozen=True, eq=False)
class Transform:
    """What a layer makes of stored rows, in the order of the in-memory pipeline.

    ``mapping`` (the mapped column of every stored column, and their number) sums
    columns (``--map-features``); ``steps`` preprocesses the rows (a
    :class:`~scvae.data.preprocessing.RowwisePreprocessing`, ``-p``); ``columns`` keeps
    those columns (``-F``).
    """

    mapping: tuple[np.ndarray, int] | None = None
    steps: Any = None
    columns: np.ndarray | None = None

    def width(self, stored: int) -> int:
        if self.columns is not None:
            return len(self.columns)
        return stored if self.mapping is None else int(self.mapping[1])

    def apply(self, raw: sp.csr_matrix, file_rows: np.ndarray) -> sp.csr_matrix:
        """The transformed rows (``raw`` holds the file rows ``file_rows``); ``raw`` is kept."""
        from scvae.data.processing import sum_columns

        values = raw
        if self.mapping is not None:
            values = sum_columns(values, *self.mapping)
        if self.steps is not None:
            values = self.steps(values, file_rows)
        if self.columns is not None:
            values = values[:, self.columns]
        return values


class _Layer:
    """The values of a data set: a store, a transform and the data set's file rows.

    ``rows`` are the file rows of the data set's examples in its order (``None``: the
    whole file in file order); :meth:`facts` describe the transformed values of
    those rows. Subsets of the data set are views sharing the layer (and its facts).
    """

    def __init__(
        self, store: CsrStore, transform: Transform | None = None, rows: np.ndarray | None = None
    ) -> None:
        self.store = store
        self.transform = transform or Transform()
        self.rows = rows
        examples = store.shape[0] if rows is None else len(rows)
        self.shape = (examples, self.transform.width(store.shape[1]))
        self.rounded = False
        self._facts: ValueFacts | None = None
        self._sums: dict[bool, np.ndarray] = {}
        self._nonzeros: dict[bool, np.ndarray] = {}

    def all_rows(self) -> np.ndarray:
        return np.arange(self.store.shape[0]) if self.rows is None else self.rows

    def raw(self, rows: np.ndarray) -> sp.csr_matrix:
        """Transformed (not yet served) values of the file rows ``rows`` (ascending)."""
        unique, inverse = np.unique(rows, return_inverse=True)
        block = self.transform.apply(self.store.raw_rows(unique), unique)
        return block if len(unique) == len(rows) else block[inverse.reshape(-1)]

    def serve(self, raw: sp.csr_matrix) -> sp.csr_matrix:
        """Transformed values as served: ``float32``, rounded when the layer is integral."""
        values = _served(raw.data, self.rounded)
        return sp.csr_matrix((values, raw.indices, raw.indptr), shape=raw.shape)

    def facts(self) -> ValueFacts:
        if self._facts is None:
            from scvae.data.chunked import scan_values

            rows = self.all_rows()
            order = np.argsort(rows, kind="stable")
            chunks = _chunks(self, rows, order, CHUNK_VALUES)
            self._facts, self._sums, self._nonzeros = scan_values(chunks, rows, self.store.shape[0])
            self.rounded = self._facts.near_integer
        return self._facts

    def row_sums(self) -> np.ndarray:
        """``float32`` sums of the served rows, by file row (computed during the scan)."""
        self.facts()
        return self._sums[self.rounded]

    def row_nonzeros(self) -> np.ndarray:
        """Non-zero served values of each row, by file row (computed during the scan)."""
        self.facts()
        return self._nonzeros[self.rounded]


class BackedMatrix:
    """An examples x features CSR matrix on disk, or a view (rows, columns) of one.

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
        _layer: _Layer | None = None,
        _rows: np.ndarray | None = None,
    ) -> None:
        self._layer = _layer or _Layer(CsrStore(path, group))
        if _rows is None:
            _rows = self._layer.rows
        self._rows = None if _rows is None else np.asarray(_rows, dtype=np.int64)
        self._file_order: np.ndarray | None = None

    # --------------------------------------------------------------- shape
    @property
    def _store(self) -> CsrStore:
        return self._layer.store

    @property
    def path(self) -> Path:
        return self._store.path

    @property
    def group(self) -> str:
        return self._store.group

    @property
    def shape(self) -> tuple[int, int]:
        n = self._store.shape[0] if self._rows is None else len(self._rows)
        return (n, self._layer.shape[1])

    ndim = 2
    dtype = np.dtype(np.float32)

    @property
    def file_rows(self) -> np.ndarray:
        """The file row of each example of this view."""
        return np.arange(self._store.shape[0]) if self._rows is None else self._rows

    @property
    def row_nnz(self) -> np.ndarray:
        """Non-zero values per example, as served (after the layer's one scan)."""
        return self._layer.row_nonzeros()[self.file_rows]

    @property
    def indptr(self) -> np.ndarray:
        """Row pointers of this view as if it were an in-memory CSR matrix."""
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
        if isinstance(index, tuple):
            if len(index) != 2:
                raise NotSupportedYet("indexing backed values with more than two indices")
            rows, columns = index
            view = self if _everything(rows) else self[rows]
            return view if _everything(columns) else view.select_columns(columns)
        if isinstance(index, (int, np.integer)):
            raise NotSupportedYet("indexing backed values by a single example")
        positions = np.arange(self.shape[0])[index]
        return BackedMatrix(
            self.path, self.group, _layer=self._layer, _rows=self.file_rows[positions]
        )

    def select_columns(self, index: Any) -> BackedMatrix:
        """A view keeping the features ``index`` (integers, a mask or a slice), in that order."""
        if isinstance(index, (int, np.integer)):
            raise NotSupportedYet("indexing backed values by a single feature")
        chosen = np.arange(self.shape[1])[index]
        earlier = self._layer.transform.columns
        columns = chosen if earlier is None else earlier[chosen]
        return self._transformed(replace(self._layer.transform, columns=columns))

    def mapped(self, columns: np.ndarray, width: int) -> BackedMatrix:
        """A view summing stored column ``j`` into column ``columns[j]`` of ``width`` columns."""
        transform = self._layer.transform
        if any(getattr(transform, field.name) is not None for field in fields(transform)):
            raise NotSupportedYet("mapping the features of processed backed values")
        mapping = (np.asarray(columns, dtype=np.int64), int(width))
        return self._transformed(Transform(mapping=mapping))

    def preprocessed(self, steps: Any) -> BackedMatrix:
        """A view serving the rows through ``steps`` (a fitted ``RowwisePreprocessing``).

        ``steps`` was fitted on this view's examples (its row statistics by position);
        they are kept by file row here.
        """
        transform = self._layer.transform
        if transform.steps is not None or transform.columns is not None:
            raise NotSupportedYet("preprocessing backed values after selecting features")
        if self._rows is not None:
            steps = steps.reindexed(self._rows, self._store.shape[0])
        return self._transformed(replace(transform, steps=steps))

    def restricted(self, positions: Any) -> BackedMatrix:
        """The examples at ``positions`` as a data set of their own (facts of their own).

        Unlike ``matrix[positions]`` (a subset sharing this data set's facts), the
        result's checks, rounding and zeros describe these examples only, as for an
        in-memory matrix filtered by ``-E``.
        """
        rows = self.file_rows[np.arange(self.shape[0])[positions]]
        layer = _Layer(self._store, self._layer.transform, rows)
        return BackedMatrix(self.path, self.group, _layer=layer)

    def _transformed(self, transform: Transform) -> BackedMatrix:
        layer = _Layer(self._store, transform, self._layer.rows)
        return BackedMatrix(self.path, self.group, _layer=layer, _rows=self._rows)

    def __array__(self, *_: Any, **__: Any) -> np.ndarray:
        raise NotSupportedYet("making backed values dense (this step needs the data in memory)")

    def __repr__(self) -> str:
        n, f = self.shape
        return f"BackedMatrix({str(self.path)!r}, {self.group!r}, {n} x {f})"

    # ------------------------------------------------------------ reading
    def read(self, positions: np.ndarray) -> sp.csr_matrix:
        """The examples at ``positions`` (any order, repeats allowed) as ``float32`` CSR."""
        return read_pair(self, None, positions)[0]

    def iter_chunks(
        self, max_values: int = CHUNK_VALUES, *, raw: bool = False
    ) -> Iterator[tuple[np.ndarray, Any]]:
        """Yield ``(positions, csr)`` over every example in file order, chunk by chunk.

        Chunks hold at most ``max_values`` stored values (or one example). With
        ``raw`` the values are not served: they keep the stored dtype and are not
        rounded (what the in-memory pipeline computes its statistics on).
        """
        rows = self.file_rows
        for positions, chunk in _chunks(self._layer, rows, self.file_order(), max_values):
            yield positions, chunk if raw else self._layer.serve(chunk)

    # --------------------------------------------------------- statistics
    def facts(self) -> ValueFacts:
        """Facts about the values of this data set (one pass, then remembered)."""
        return self._layer.facts()

    def row_sums(self) -> np.ndarray:
        """``float32`` row sums of the served values (as ``csr.sum(axis=1)`` gives them)."""
        return self._layer.row_sums()[self.file_rows]

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


def read_pair(
    values: BackedMatrix, other: BackedMatrix | None, positions: np.ndarray
) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
    """The examples at ``positions`` of ``values`` and of ``other`` (e.g. the network input).

    When both are views of the same rows of one file (as a data set's values and
    its preprocessed values are), the file is read once for both.
    """
    positions = np.asarray(positions, dtype=np.int64)
    rows = values.file_rows[positions]
    views = [values] if other is None else [values, other]
    if other is not None and (
        other._store is not values._store or not np.array_equal(other.file_rows[positions], rows)
    ):
        return values.read(positions), other.read(positions)
    unique, inverse = np.unique(rows, return_inverse=True)
    raw = values._store.raw_rows(unique)
    blocks = [view._layer.serve(view._layer.transform.apply(raw, unique)) for view in views]
    if not (len(unique) == len(rows) and np.array_equal(unique, rows)):
        blocks = [block[inverse.reshape(-1)] for block in blocks]
    return blocks[0], (blocks[1] if other is not None else None)


def has_zeros(values: Any) -> bool:
    """Whether any of the N x F values is zero (implicit or stored)."""
    if not is_backed(values):
        matrix = sp.csr_matrix(values)
        n, f = matrix.shape
        return matrix.nnz < n * f or bool((matrix.data == 0).any())
    facts = values.facts()
    layer = values._layer
    n, f = layer.shape
    zeros = facts.zeros_when_rounded if layer.rounded else facts.zeros_as_stored
    return facts.stored - zeros < n * f


def check_backed_values(
    matrix: BackedMatrix,
    path: object,
    *,
    count_likelihood: bool,
    likelihood_name: str | None = None,
) -> BackedMatrix:
    """The checks of :func:`~scvae.data.validation.check_values`, done in chunks.

    The first check scans the data set's values once (the facts are remembered). A
    problem is reported by running ``check_values`` on the offending row, so the
    messages are the same as for in-memory data. Returns ``matrix`` (now serving
    rounded values when every value is near a whole number).
    """
    from scvae.data.validation import check_values

    rows, columns = matrix.shape
    if rows == 0 or columns == 0:
        raise DataError(path, f"has no values ({rows} examples x {columns} features)")
    facts = matrix.facts()
    bad = facts.first_nonfinite_row
    if bad is None and count_likelihood:
        negative, fractional = facts.first_negative_row, facts.first_fractional_row
        bad = negative if negative is not None else fractional
    if bad is not None:
        check_values(
            _padded_row(matrix._layer, bad),
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


def read_rows(values: Any, rows: Any) -> sp.csr_matrix:
    """The examples at ``rows`` as CSR, from in-memory or backed values alike."""
    if is_backed(values):
        positions = np.arange(values.shape[0])[rows]
        return values.read(np.atleast_1d(positions))
    return sp.csr_matrix(values[rows])


def chunk_bounds(pointers: np.ndarray, max_values: int) -> np.ndarray:
    """Row cut points so that each chunk holds at most ``max_values`` (>= 1 row)."""
    n = len(pointers) - 1
    bounds = [0]
    while bounds[-1] < n:
        start = bounds[-1]
        stop = int(np.searchsorted(pointers, pointers[start] + max_values, side="right")) - 1
        bounds.append(min(max(stop, start + 1), n))
    return np.asarray(bounds, dtype=np.int64)


# ---------------------------------------------------------------- internals
def _everything(index: Any) -> bool:
    return isinstance(index, slice) and index == slice(None)


def _served(data: np.ndarray, rounded: bool) -> np.ndarray:
    """Values as served: ``float32``, rounded first when the values are integral."""
    if rounded and not _is_integer(data):
        data = np.rint(data)
    return data.astype(np.float32, copy=False)


def _is_integer(data: np.ndarray) -> bool:
    return np.issubdtype(data.dtype, np.integer) or data.dtype == np.bool_


def _chunks(
    layer: _Layer, file_rows: np.ndarray, order: np.ndarray, max_values: int
) -> Iterator[tuple[np.ndarray, sp.csr_matrix]]:
    """``(positions, transformed rows)`` of the examples in ``order`` (file order), chunked.

    ``file_rows`` holds the file row of every position; a chunk reads at most
    ``max_values`` stored values (or one example).
    """
    counts = np.diff(layer.store.indptr)[file_rows[order]]
    bounds = chunk_bounds(np.concatenate([[0], np.cumsum(counts)]), max_values)
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        positions = order[start:stop]
        yield positions, layer.raw(file_rows[positions])


def _padded_row(layer: _Layer, position: int) -> sp.csr_matrix:
    """A CSR matrix whose row ``position`` is that example's and whose earlier rows are empty."""
    row = layer.raw(layer.all_rows()[[position]])
    pointers = np.zeros(position + 2, dtype=np.int64)
    pointers[-1] = row.nnz
    return sp.csr_matrix((row.data, row.indices, pointers), shape=(position + 1, row.shape[1]))
