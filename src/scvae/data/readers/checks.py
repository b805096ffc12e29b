"""Structural checks that every reader applies to what it reads, before anything is cached.

The checks refuse, with one :class:`DataError` naming the file:

* shapes beyond the limits below, and declared sizes that the file cannot hold or that
  would not fit the memory budget (checked *before* anything of that size is allocated);
* compressed (CSR/CSC) parts that are inconsistent: lengths, row pointers that do not
  start at 0, decrease or do not end at the number of values, indices outside the shape;
* values that are not finite or do not fit a 32-bit float (the type models train in);
* names of the wrong length, or holding a NUL character;
* inputs that are not regular files or folders (a FIFO would block, ``/dev/zero`` never
  ends), and HDF5 files whose links or datasets reach into other files.

The limits are module constants; the memory budget is the machine's physical memory,
or ``SCVAE_MEMORY_BUDGET`` (bytes, ``k``/``M``/``G`` suffixes allowed) when set.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from scvae.errors import DataError

#: most examples (rows) or features of a matrix: indices must fit 32-bit integers
MAX_DIMENSION = 2**31 - 1
#: most features: one dense row of this many 32-bit floats takes 40 MB
MAX_FEATURES = 10_000_000
#: largest ratio of uncompressed to compressed size that deflate (gzip) can reach
DEFLATE_RATIO = 1032
#: environment variable overriding the memory budget (bytes)
BUDGET_VARIABLE = "SCVAE_MEMORY_BUDGET"
#: values examined at a time
CHUNK = 1 << 22

FLOAT32_MAX = float(np.finfo(np.float32).max)
_SUFFIXES = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


# ---------------------------------------------------------------- budgets and sizes
def memory_budget() -> int:
    """Bytes one matrix may take in memory: ``SCVAE_MEMORY_BUDGET`` or the physical memory."""
    text = os.environ.get(BUDGET_VARIABLE, "").strip().lower().rstrip("b")
    if text:
        factor = _SUFFIXES.get(text[-1], 1)
        number = text[:-1] if text[-1] in _SUFFIXES else text
        try:
            return max(1, int(float(number) * factor))
        except ValueError:
            raise DataError(None, f"{BUDGET_VARIABLE}='{text}' is not a number of bytes") from None
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 16 << 30


def _bytes(count: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{int(count)} bytes"


def check_budget(path: object, entries: int, item_bytes: int, what: str) -> None:
    """Refuse ``entries`` items of ``item_bytes`` each when they exceed the memory budget."""
    needed = int(entries) * int(item_bytes)
    budget = memory_budget()
    if needed > budget:
        raise DataError(
            path,
            f"{what} declares {int(entries):,} entries ({_bytes(needed)}), more than the "
            f"memory budget of {_bytes(budget)} (set {BUDGET_VARIABLE} to change it)",
        )


def content_bound(
    path: str | os.PathLike[str], compressed: bool, ratio: int = DEFLATE_RATIO
) -> int:
    """Most bytes the file can hold once decompressed (its size if not compressed).

    ``ratio`` bounds the decompressed size per compressed byte (gzip cannot exceed 1032).
    """
    size = Path(path).stat().st_size
    return size * ratio + (1 << 16) if compressed else size


def check_dimension(path: object, value: Any, what: str, limit: int = MAX_DIMENSION) -> int:
    """A non-negative whole number of at most ``limit`` (examples, features, entries)."""
    try:
        number = int(value)
        exact = float(number) == float(value)
    except (TypeError, ValueError, OverflowError):
        raise DataError(path, f"{what} is not a whole number ({value!r})") from None
    if not exact or number < 0:
        raise DataError(path, f"{what} must be a non-negative whole number, not {value!r}")
    if number > limit:
        raise DataError(path, f"{what} is {number:,}, more than the limit of {limit:,}")
    return number


def check_shape(path: object, shape: Any, what: str = "the matrix") -> tuple[int, int]:
    """Two dimensions, each a whole number within :data:`MAX_DIMENSION`."""
    values = list(np.asarray(shape).reshape(-1)) if not isinstance(shape, tuple) else list(shape)
    if len(values) != 2:
        raise DataError(path, f"the shape of {what} must have two dimensions, not {values}")
    rows = check_dimension(path, values[0], f"the number of rows of {what}")
    columns = check_dimension(path, values[1], f"the number of columns of {what}")
    return rows, columns


# ---------------------------------------------------------------- files
def require_regular(path: str | os.PathLike[str], *, folder_ok: bool = False) -> Path:
    """Refuse FIFOs, devices and sockets (reading them blocks or never ends)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise DataError(path, "no such file or folder") from None
    except OSError as error:
        raise DataError(path, f"cannot be read ({error.strerror or error})") from None
    if stat.S_ISREG(mode) or (folder_ok and stat.S_ISDIR(mode)):
        return path
    if stat.S_ISDIR(mode):
        raise DataError(path, "is a folder, not a file")
    kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device or socket"
    raise DataError(path, f"is {kind}, not a regular file; refusing to read it")


# ---------------------------------------------------------------- values
def _format(value: object) -> str:
    return f"{float(value):.6g}" if isinstance(value, (float, np.floating)) else str(value)


def check_values(path: object, data: np.ndarray, where: Callable[[int], str] | None = None) -> None:
    """Values must be real numbers, finite and within the range of 32-bit floats.

    ``where`` describes a position of ``data`` (by default, the stored position).
    """
    data = np.asarray(data)
    if data.dtype.kind not in "biuf":
        raise DataError(path, f"matrix values have a non-numeric type ({data.dtype})")
    if data.dtype.kind != "f" or data.dtype.itemsize < 4:
        return
    describe = where or (lambda position: f"at stored position {position}")
    for start in range(0, data.size, CHUNK):
        chunk = data[start : start + CHUNK]
        finite = np.isfinite(chunk)
        if not finite.all():
            position = start + int(np.argmin(finite))
            example = f"{_format(data[position])} {describe(position)}"
            raise DataError(
                path,
                f"values contain NaN or infinite numbers (e.g. {example}); remove or replace them",
            )
        if data.dtype.itemsize > 4:
            large = np.abs(chunk) > FLOAT32_MAX
            if large.any():
                position = start + int(np.argmax(large))
                example = f"{_format(data[position])} {describe(position)}"
                raise DataError(
                    path,
                    f"values are too large for 32-bit floats (e.g. {example}; the largest "
                    f"is {FLOAT32_MAX:.4g})",
                )


def check_pointers(
    path: object, indptr: np.ndarray, outer: int, stored: int, layout: str = "csr"
) -> None:
    """Row (or column) pointers: ``outer + 1`` integers from 0 to ``stored``, never decreasing."""
    if indptr.dtype.kind not in "iu":
        raise DataError(path, f"'indptr' must hold integers, not {indptr.dtype}")
    if len(indptr) != outer + 1:
        what = "rows" if layout == "csr" else "columns"
        raise DataError(path, f"'indptr' has {len(indptr)} entries, not {outer} {what} + 1")
    if indptr[0] != 0 or int(indptr[-1]) != stored:
        raise DataError(
            path,
            f"'indptr' must start at 0 and end at the number of values ({stored}), "
            f"not run from {int(indptr[0])} to {int(indptr[-1])}",
        )
    if len(indptr) > 1 and (np.diff(indptr) < 0).any():
        raise DataError(path, "'indptr' decreases somewhere (it must be non-decreasing)")


def check_indices(path: object, indices: np.ndarray, bound: int, shape: tuple[int, int]) -> None:
    """Integer indices within ``0..bound-1``."""
    if indices.dtype.kind not in "iu":
        raise DataError(path, f"'indices' must hold integers, not {indices.dtype}")
    if len(indices) and (indices.min() < 0 or indices.max() >= bound):
        bad = int(indices.max()) if indices.max() >= bound else int(indices.min())
        raise DataError(
            path,
            f"'indices' hold the position {bad}, outside the matrix shape {shape[0]} x {shape[1]}",
        )


def check_compressed(
    path: object,
    parts: tuple[Any, Any, Any],
    shape: tuple[int, int],
    layout: str,
    *,
    values: bool = True,
) -> sp.csr_matrix | sp.csc_matrix:
    """Build a CSR or CSC matrix from ``(data, indices, indptr)`` after checking them.

    The structure is always checked; the values only when ``values`` (readers that
    transpose check them later, in the examples x features orientation of messages).
    """
    rows, columns = check_shape(path, shape)
    data, indices, indptr = (np.asarray(part).reshape(-1) for part in parts)
    _check_parts(path, data, indices, indptr, (rows, columns), layout, values)
    outer, inner = (rows, columns) if layout == "csr" else (columns, rows)
    index_type = np.int32 if max(outer, inner, len(data)) < 2**31 else np.int64
    kind = sp.csr_matrix if layout == "csr" else sp.csc_matrix
    return kind(
        (data, indices.astype(index_type, copy=False), indptr.astype(index_type, copy=False)),
        shape=(rows, columns),
    )


def _check_parts(
    path: object,
    data: np.ndarray,
    indices: np.ndarray,
    indptr: np.ndarray,
    shape: tuple[int, int],
    layout: str,
    values: bool,
) -> None:
    if data.dtype.kind not in "biuf":
        raise DataError(path, f"matrix values have a non-numeric type ({data.dtype})")
    if indices.dtype.kind not in "iu":
        raise DataError(path, f"'indices' must hold integers, not {indices.dtype}")
    if len(data) != len(indices):
        raise DataError(path, f"'data' has {len(data)} entries but 'indices' has {len(indices)}")
    outer, inner = shape if layout == "csr" else shape[::-1]
    check_pointers(path, indptr, outer, len(data), layout)
    check_indices(path, indices, inner, shape)
    if values:
        check_values(path, data, locator(indices, indptr, layout))


def locator(
    indices: Any, indptr: np.ndarray, layout: str = "csr", offset: int = 0
) -> Callable[[int], str]:
    """Describe a stored position (of values from ``offset`` on) by its row and column.

    Rows and columns count from 0, as in the value checks made later.
    """

    def where(position: int) -> str:
        stored = offset + position
        outer = int(np.searchsorted(indptr, stored, side="right")) - 1
        inner = int(indices[stored])
        row, column = (outer, inner) if layout == "csr" else (inner, outer)
        return f"at row {row}, column {column}"

    return where


def check_matrix(path: object, values: Any) -> None:
    """Check a matrix a reader returns: shape, structure and values."""
    rows, columns = check_shape(path, values.shape)
    check_dimension(path, columns, "the number of features", MAX_FEATURES)
    if not sp.issparse(values):
        return  # a matrix kept on disk: its reader checks the stored parts in chunks
    if isinstance(values, (sp.csr_matrix, sp.csc_matrix)):
        layout = "csr" if isinstance(values, sp.csr_matrix) else "csc"
        check_compressed(
            path, (values.data, values.indices, values.indptr), (rows, columns), layout
        )
    else:
        check_values(path, values.tocoo().data)


# ---------------------------------------------------------------- names and annotations
def check_names(path: object, names: Any, size: int, what: str) -> None:
    """``size`` names without NUL characters (``None`` passes: defaults come later)."""
    if names is None:
        return
    if len(names) != size:
        raise DataError(path, f"has {len(names)} {what} names but the matrix has {size} {what}s")
    if "\x00" not in "".join(map(str, names)):
        return
    for position, name in enumerate(names):
        if "\x00" in str(name):
            shown = str(name).replace("\x00", "\\0")
            raise DataError(path, f"{what} name {position + 1} ('{shown}') holds a NUL character")


def check_raw(path: object, raw: Any) -> Any:
    """Check everything a reader returns (matrix, names, labels, batches, splits)."""
    check_matrix(path, raw.values)
    rows, columns = raw.values.shape
    check_names(path, raw.example_names, rows, "example")
    check_names(path, raw.feature_names, columns, "feature")
    if raw.feature_ids is not None:
        check_names(path, raw.feature_ids, columns, "feature id")
    if raw.labels is not None:
        check_names(path, raw.labels, rows, "label")
    if raw.batch_indices is not None and len(raw.batch_indices) != rows:
        raise DataError(path, f"has {len(raw.batch_indices)} batch indices for {rows} examples")
    return raw


def checked_reader(reader: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a reader ``(path, options) -> RawData`` to check its input and result."""

    @wraps(reader)
    def read(path: Any, options: Any = None) -> Any:
        require_regular(path, folder_ok=True)
        return check_raw(path, reader(path, options))

    return read


# ---------------------------------------------------------------- HDF5
def check_hdf5_links(file: Any, path: object, limit: int = 1_000_000) -> None:
    """Refuse external links, virtual datasets and external storage (they read other files)."""
    import h5py

    pending, seen, visited = [file], 0, {file.id}
    while pending:
        group = pending.pop()
        for key in group:
            seen += 1
            if seen > limit:
                raise DataError(path, f"holds more than {limit:,} HDF5 objects")
            link = group.get(key, getlink=True)
            name = f"{group.name.rstrip('/')}/{key}"
            if isinstance(link, h5py.ExternalLink):
                raise DataError(
                    path, f"'{name}' is an HDF5 external link (to {link.filename}); refusing it"
                )
            if isinstance(link, h5py.SoftLink):
                continue
            item = group.get(key)
            if isinstance(item, h5py.Group) and item.id not in visited:  # hard links may loop
                visited.add(item.id)
                pending.append(item)
            elif isinstance(item, h5py.Dataset) and (item.is_virtual or item.external):
                raise DataError(
                    path, f"dataset '{name}' keeps its data in other files; refusing it"
                )


def check_dataset(path: object, dataset: Any, what: str | None = None) -> None:
    """Refuse an HDF5 dataset whose declared size the budget or its stored bytes cannot back.

    A dataset may be declared far larger than what it stores (unwritten chunks read as
    the fill value), so a small file could otherwise make a reader allocate terabytes.
    """
    what = what or f"dataset '{dataset.name}'"
    entries = int(np.prod(dataset.shape, dtype=np.float64)) if dataset.shape else 1
    check_budget(path, entries, dataset.dtype.itemsize, what)
    declared = entries * dataset.dtype.itemsize
    stored = dataset.id.get_storage_size()
    if declared > (1 << 20) and declared > stored * DEFLATE_RATIO * 4:
        raise DataError(
            path,
            f"{what} declares {_bytes(declared)} of values but stores only {_bytes(stored)}",
        )
