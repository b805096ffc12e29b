"""Count matrices: a lazy view (rows x columns x transform) over a store.

Every data set's values are read through a :class:`CountMatrix`, whatever holds
them: a :class:`~scvae.data.storage.store.MemoryStore` (a SciPy CSR matrix) or an
:class:`~scvae.data.storage.store.HdfStore` (a CSR group of an HDF5 file).

* the store reads stored rows (in the stored dtype);
* a layer (``_Layer``) is what a data set makes of them: a :class:`Transform`
  (columns summed by ``--map-features``, the ``-p`` preprocessing of a network
  input, the columns kept by ``-F``) and the store rows of the data set (those
  ``-E`` kept, in their order). Its :meth:`~CountMatrix.facts` (one chunked pass)
  describe those values;
* the matrix is a layer and the store row of each example. Row subsets
  (``matrix[indices]``, as made by splits) are views of the same layer; they keep
  the row order they were given and read their rows in store order.

Values are served as ``float32``, rounded to whole numbers when every value of the
layer is within the tolerance of one. :meth:`CountMatrix.to_memory` is the one step
that materialises a view: served values in a new memory store, identity transform.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from scvae.data.statistics import ValueFacts, scan_values
from scvae.data.storage import chunks
from scvae.data.storage.store import HdfStore, MemoryStore, Store
from scvae.errors import NotSupportedYet

__all__ = ["CountMatrix", "Transform", "as_matrix", "open_hdf", "read_pair", "sum_columns"]

#: Transformed rows of the given store rows: ``steps(values, store_rows)``.
RowSteps = Callable[[sp.csr_matrix, np.ndarray], sp.csr_matrix]


def sum_columns(values: sp.csr_matrix, columns: np.ndarray, width: int) -> sp.csr_matrix:
    """Add column ``j`` of ``values`` into column ``columns[j]`` of a ``width``-column CSR.

    Row by row, so a chunk of rows gives those rows of the whole result.
    """
    summing = sp.csr_matrix(
        (np.ones(len(columns), dtype=values.dtype), (np.arange(len(columns)), columns)),
        shape=(len(columns), width),
    )
    mapped = sp.csr_matrix(values @ summing)
    mapped.sort_indices()
    return mapped


@dataclass(frozen=True, eq=False)
class Transform:
    """What a layer makes of stored rows, in this order.

    ``mapping`` (the mapped column of every stored column, and their number) sums
    columns (``--map-features``); ``steps`` preprocesses the rows (a callable such as
    :class:`~scvae.data.preprocessing.RowwisePreprocessing`, ``-p``); ``columns``
    keeps those columns (``-F``).
    """

    mapping: tuple[np.ndarray, int] | None = None
    steps: RowSteps | None = None
    columns: np.ndarray | None = None

    def width(self, stored: int) -> int:
        if self.columns is not None:
            return len(self.columns)
        return stored if self.mapping is None else int(self.mapping[1])

    @property
    def identity(self) -> bool:
        return all(getattr(self, field.name) is None for field in fields(self))

    def apply(self, raw: sp.csr_matrix, store_rows: np.ndarray) -> sp.csr_matrix:
        """The transformed rows (``raw`` holds the store rows ``store_rows``); ``raw`` is kept."""
        values = raw
        if self.mapping is not None:
            values = sum_columns(values, *self.mapping)
        if self.steps is not None:
            values = self.steps(values, store_rows)
        if self.columns is not None:
            values = values[:, self.columns]
        return values


class _Layer:
    """The values of a data set: a store, a transform and the data set's store rows.

    ``rows`` are the store rows of the data set's examples in its order (``None``: the
    whole store in store order); :meth:`facts` describe the transformed values of
    those rows. Subsets of the data set are views sharing the layer (and its facts).
    """

    def __init__(
        self, store: Store, transform: Transform | None = None, rows: np.ndarray | None = None
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
        """Transformed (not yet served) values of the store rows ``rows`` (ascending)."""
        unique, inverse = np.unique(rows, return_inverse=True)
        block = self.transform.apply(self.store.raw_rows(unique), unique)
        return block if len(unique) == len(rows) else block[inverse.reshape(-1)]

    def serve(self, raw: sp.csr_matrix) -> sp.csr_matrix:
        """Transformed values as served: ``float32``, rounded when the layer is integral."""
        if raw.dtype == np.float32 and not self.rounded:
            return raw
        values = _served(raw.data, self.rounded)
        return sp.csr_matrix((values, raw.indices, raw.indptr), shape=raw.shape)

    def facts(self) -> ValueFacts:
        if self._facts is None:
            rows = self.all_rows()
            order = np.argsort(rows, kind="stable")
            found = _chunks(self, rows, order, chunks.CHUNK_VALUES)
            self._facts, self._sums, self._nonzeros = scan_values(found, rows, self.store.shape[0])
            self.rounded = self._facts.near_integer
        return self._facts

    def row_sums(self) -> np.ndarray:
        """``float32`` sums of the rows as served, by store row.

        From the scan of :meth:`facts` once it is made (a checked matrix), else from
        one pass summing the rows (values that were checked before, e.g. in memory).
        """
        if self._facts is None and False not in self._sums:
            sums = np.zeros(self.store.shape[0], np.float32)
            rows = self.all_rows()
            for positions, chunk in _chunks(
                self, rows, np.argsort(rows, kind="stable"), chunks.CHUNK_VALUES
            ):
                sums[rows[positions]] = np.asarray(self.serve(chunk).sum(axis=1)).reshape(-1)
            self._sums[False] = sums
        return self._sums[self.rounded]

    def row_nonzeros(self) -> np.ndarray:
        """Non-zero served values of each row, by store row (computed during the scan)."""
        self.facts()
        return self._nonzeros[self.rounded]


class CountMatrix:
    """An examples x features matrix over a store, or a view (rows, columns) of one.

    Parameters
    ----------
    store
        A :class:`~scvae.data.storage.store.MemoryStore` or
        :class:`~scvae.data.storage.store.HdfStore`.
    """

    ndim = 2
    dtype = np.dtype(np.float32)

    def __init__(
        self, store: Store, *, _layer: _Layer | None = None, _rows: np.ndarray | None = None
    ) -> None:
        self._layer = _layer or _Layer(store)
        if _rows is None:
            _rows = self._layer.rows
        self._rows = None if _rows is None else np.asarray(_rows, dtype=np.int64)
        self._file_order: np.ndarray | None = None

    @classmethod
    def from_csr(cls, values: Any) -> CountMatrix:
        """A matrix over a memory store of ``values`` (SciPy sparse or array-like)."""
        return cls(MemoryStore(values))

    # --------------------------------------------------------------- shape
    @property
    def store(self) -> Store:
        return self._layer.store

    @property
    def path(self) -> Path | None:
        return getattr(self.store, "path", None)

    @property
    def group(self) -> str | None:
        return getattr(self.store, "group", None)

    @property
    def sequential(self) -> bool:
        """Whether rows are cheap to read only in store order (see the store)."""
        return bool(self.store.sequential)

    @property
    def shape(self) -> tuple[int, int]:
        n = self.store.shape[0] if self._rows is None else len(self._rows)
        return (n, self._layer.shape[1])

    @property
    def file_rows(self) -> np.ndarray:
        """The store row of each example of this view."""
        return np.arange(self.store.shape[0]) if self._rows is None else self._rows

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
        """Positions of this view's examples sorted by their row in the store."""
        if self._file_order is None:
            n = self.shape[0]
            rows = self._rows
            self._file_order = np.arange(n) if rows is None else np.argsort(rows, kind="stable")
        return self._file_order

    def held(self) -> sp.csr_matrix | None:
        """The SciPy matrix itself when these values are held in memory as they are served."""
        if self._rows is not None or not self._layer.transform.identity:
            return None
        return self.store.held()

    # ----------------------------------------------------------- subsets
    def __getitem__(self, index: Any) -> CountMatrix:
        if isinstance(index, tuple):
            if len(index) != 2:
                raise NotSupportedYet("indexing count matrices with more than two indices")
            rows, columns = index
            view = self if _everything(rows) else self[rows]
            return view if _everything(columns) else view.select_columns(columns)
        if isinstance(index, (int, np.integer)):
            raise NotSupportedYet("indexing count matrices by a single example")
        positions = np.arange(self.shape[0])[index]
        return CountMatrix(self.store, _layer=self._layer, _rows=self.file_rows[positions])

    def select_columns(self, index: Any) -> CountMatrix:
        """A view keeping the features ``index`` (integers, a mask or a slice), in that order."""
        if isinstance(index, (int, np.integer)):
            raise NotSupportedYet("indexing count matrices by a single feature")
        chosen = np.arange(self.shape[1])[index]
        earlier = self._layer.transform.columns
        columns = chosen if earlier is None else earlier[chosen]
        return self._transformed(replace(self._layer.transform, columns=columns))

    def mapped(self, columns: np.ndarray, width: int) -> CountMatrix:
        """A view summing stored column ``j`` into column ``columns[j]`` of ``width`` columns."""
        if not self._layer.transform.identity:
            raise NotSupportedYet("mapping the features of processed values")
        mapping = (np.asarray(columns, dtype=np.int64), int(width))
        return self._transformed(Transform(mapping=mapping))

    def preprocessed(self, steps: Any) -> CountMatrix:
        """A view serving the rows through ``steps`` (a fitted ``RowwisePreprocessing``).

        ``steps`` was fitted on this view's examples (its row statistics by position);
        they are kept by store row here.
        """
        transform = self._layer.transform
        if transform.steps is not None or transform.columns is not None:
            raise NotSupportedYet("preprocessing values after selecting features")
        if self._rows is not None:
            steps = steps.reindexed(self._rows, self.store.shape[0])
        return self._transformed(replace(transform, steps=steps))

    def restricted(self, positions: Any) -> CountMatrix:
        """The examples at ``positions`` as a data set of their own (facts of their own).

        Unlike ``matrix[positions]`` (a subset sharing this data set's facts), the
        result's checks, rounding and zeros describe these examples only.
        """
        rows = self.file_rows[np.arange(self.shape[0])[positions]]
        return CountMatrix(self.store, _layer=_Layer(self.store, self._layer.transform, rows))

    def _transformed(self, transform: Transform) -> CountMatrix:
        layer = _Layer(self.store, transform, self._layer.rows)
        return CountMatrix(self.store, _layer=layer, _rows=self._rows)

    def __array__(self, *_: Any, **__: Any) -> np.ndarray:
        raise NotSupportedYet("making a count matrix dense (use to_memory() or read())")

    def __repr__(self) -> str:
        n, f = self.shape
        where = "memory" if self.path is None else f"{str(self.path)!r}, {self.group!r}"
        return f"CountMatrix({where}, {n} x {f})"

    # ------------------------------------------------------------ reading
    def read(self, positions: Any) -> sp.csr_matrix:
        """The examples at ``positions`` (any order, repeats allowed) as ``float32`` CSR."""
        positions = np.atleast_1d(np.arange(self.shape[0])[positions])
        return read_pair(self, None, positions)[0]

    def iter_chunks(
        self, max_values: int | None = None, *, raw: bool = False
    ) -> Iterator[tuple[np.ndarray, Any]]:
        """Yield ``(positions, csr)`` over every example in store order, chunk by chunk.

        Chunks hold at most ``max_values`` stored values (default
        :data:`~scvae.data.storage.chunks.CHUNK_VALUES`; or one example). With ``raw``
        the values are not served: they keep the stored dtype and are not rounded
        (what processing computes its statistics on).
        """
        limit = chunks.CHUNK_VALUES if max_values is None else max_values
        rows = self.file_rows
        for positions, chunk in _chunks(self._layer, rows, self.file_order(), limit):
            yield positions, chunk if raw else self._layer.serve(chunk)

    def to_memory(self) -> CountMatrix:
        """The served values in a new memory store (identity transform, no stored zeros).

        The result is allocated once, at its final size, and filled chunk by chunk.
        """
        indptr = np.zeros(self.shape[0] + 1, dtype=np.int64)
        np.cumsum(self._served_nonzeros(), out=indptr[1:])
        total = int(indptr[-1])
        wide = max(total, self.shape[1]) >= np.iinfo(np.int32).max
        data = np.empty(total, dtype=np.float32)
        indices = np.empty(total, dtype=np.int64 if wide else np.int32)
        lengths = np.diff(indptr)
        for positions, chunk in self.iter_chunks(chunks.CHUNK_VALUES // 4):
            kept = chunk.data != 0  # the lengths count the non-zero served values
            local = np.zeros(len(positions) + 1, dtype=np.int64)
            np.cumsum(lengths[positions], out=local[1:])
            at = np.repeat(indptr[positions] - local[:-1], lengths[positions])
            at += np.arange(local[-1])
            data[at], indices[at] = chunk.data[kept], chunk.indices[kept]
        return CountMatrix.from_csr(sp.csr_matrix((data, indices, indptr), shape=self.shape))

    def _served_nonzeros(self) -> np.ndarray:
        """Non-zero served values per example: from the scan, else from one counting pass."""
        if self._layer._facts is not None:
            return self.row_nnz
        counts = np.zeros(self.shape[0], dtype=np.int64)
        for positions, chunk in self.iter_chunks():
            rows = np.repeat(np.arange(len(positions)), np.diff(chunk.indptr))
            counts[positions] = np.bincount(rows[chunk.data != 0], minlength=len(positions))
        return counts

    def to_csr(self) -> sp.csr_matrix:
        """All examples as served, in a new ``float32`` SciPy CSR matrix (no stored zeros)."""
        return self.to_memory().store.held()

    def padded_row(self, position: int) -> sp.csr_matrix:
        """A CSR matrix whose row ``position`` is that example's (as transformed, not served)
        and whose earlier rows are empty."""
        row = self._layer.raw(self.file_rows[[position]])
        pointers = np.zeros(position + 2, dtype=np.int64)
        pointers[-1] = row.nnz
        return sp.csr_matrix((row.data, row.indices, pointers), shape=(position + 1, row.shape[1]))

    # --------------------------------------------------------- statistics
    def facts(self) -> ValueFacts:
        """Facts about the values of this data set (one pass, then remembered)."""
        return self._layer.facts()

    @property
    def rounded(self) -> bool:
        """Whether values are served rounded (known after :meth:`facts`)."""
        return self._layer.rounded

    def row_sums(self) -> np.ndarray:
        """``float32`` row sums of the served values (as ``csr.sum(axis=1)`` gives them)."""
        return self._layer.row_sums()[self.file_rows]

    def has_zeros(self) -> bool:
        """Whether any of the N x F served values is zero (implicit or stored)."""
        facts = self.facts()
        layer = self._layer
        n, f = layer.shape
        zeros = facts.zeros_when_rounded if layer.rounded else facts.zeros_as_stored
        return facts.stored - zeros < n * f

    def minimum(self) -> float:
        """The smallest served value (``0`` when any value is not stored)."""
        facts = self.facts()
        return min(facts.minimum_when_rounded if facts.near_integer else facts.minimum, 0.0)

    def is_counts(self) -> bool:
        """Whether every value is a finite, non-negative whole number."""
        facts = self.facts()
        return facts.all_finite and facts.near_integer and facts.minimum_when_rounded >= 0

    def sum(self, axis: int | None = None) -> Any:
        """Like ``csr_matrix.sum``: ``axis=1`` gives an (N, 1) array, 0 a (1, F) one."""
        if axis in (1, -1):
            return self.row_sums().astype(np.float64).reshape(-1, 1)
        columns = np.zeros(self.shape[1])
        for _, chunk in self.iter_chunks():
            columns += np.bincount(chunk.indices, chunk.data, minlength=self.shape[1])
        return columns.reshape(1, -1) if axis in (0, -2) else float(columns.sum())

    def close(self) -> None:
        """Close the store's file, if any (it is re-opened when read again)."""
        self.store.close()


# ------------------------------------------------------------------ helpers
def as_matrix(values: Any) -> CountMatrix:
    """``values`` as a :class:`CountMatrix` (SciPy or array-like values in a memory store)."""
    return values if isinstance(values, CountMatrix) else CountMatrix.from_csr(values)


def open_hdf(path: str | Any, group: str = "X") -> CountMatrix:
    """The CSR matrix in ``group`` of the HDF5 file ``path``, left on disk."""
    return CountMatrix(HdfStore(path, group))


def read_pair(
    values: CountMatrix, other: CountMatrix | None, positions: np.ndarray
) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
    """The examples at ``positions`` of ``values`` and of ``other`` (e.g. the network input).

    When both are views of the same rows of one store (as a data set's values and
    its preprocessed values are), the store is read once for both.
    """
    positions = np.asarray(positions, dtype=np.int64)
    rows = positions if values._rows is None else values._rows[positions]
    views = [values] if other is None else [values, other]
    if other is not None and (
        other.store is not values.store or not np.array_equal(other.file_rows[positions], rows)
    ):
        return values.read(positions), other.read(positions)
    # a sequential store reads rows in ascending order, once each
    ordered = not values.sequential or len(rows) < 2 or bool(np.all(rows[1:] > rows[:-1]))
    unique, inverse = (rows, None) if ordered else np.unique(rows, return_inverse=True)
    raw = values.store.raw_rows(unique)
    blocks = [view._layer.serve(view._layer.transform.apply(raw, unique)) for view in views]
    if inverse is not None:
        blocks = [block[inverse.reshape(-1)] for block in blocks]
    return blocks[0], (blocks[1] if other is not None else None)


def read_rows(values: Any, rows: Any) -> sp.csr_matrix:
    """The examples at ``rows`` as ``float32`` CSR, wherever the values are stored."""
    return as_matrix(values).read(rows)


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
    """``(positions, transformed rows)`` of the examples in ``order`` (store order), chunked.

    ``file_rows`` holds the store row of every position; a chunk reads at most
    ``max_values`` stored values (or one example).
    """
    counts = np.diff(layer.store.indptr)[file_rows[order]]
    bounds = chunks.chunk_bounds(np.concatenate([[0], np.cumsum(counts)]), max_values)
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        positions = order[start:stop]
        yield positions, layer.raw(file_rows[positions])
