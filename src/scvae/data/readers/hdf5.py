"""Generic HDF5 reader (sparse or dense layout) and helpers shared by the binary readers.

Two layouts are understood:

* **sparse**: one group (or the root) holding ``data``, ``indices``, ``indptr`` and
  ``shape``. Whether the arrays are compressed by rows (CSR) or by columns (CSC) is
  read from the length of ``indptr``: ``shape[0] + 1`` means rows and ``shape[1] + 1``
  columns. For a square matrix the two agree, so a group attribute
  (``h5sparse_format``, ``encoding-type`` or ``format``) decides, and without one the
  arrays are taken as CSC, as 10x Genomics writes them.
* **dense**: a 2-D dataset (``X``, ``counts``, ``matrix``, ``data``, or the only 2-D
  dataset), with labels optionally in a 1-D dataset (``Y``, ``labels``, ...).

Name arrays beside the matrix are found by their normalised names, and the matrix is
transposed when their lengths say features are rows.
"""

from __future__ import annotations

import gzip
import tarfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from scvae.data.raw import RawData, ReadOptions
from scvae.data.readers.checks import (
    check_compressed,
    check_dataset,
    check_hdf5_links,
    check_shape,
    checked_reader,
    require_regular,
)
from scvae.errors import DataError

EXAMPLE_NAME_KEYS = (
    "barcodes",
    "cells",
    "cell_names",
    "cell_ids",
    "samples",
    "sample_names",
    "sample_ids",
    "examples",
    "example_names",
    "example_ids",
    "obs_names",
)
FEATURE_NAME_KEYS = (
    "genes",
    "gene_names",
    "gene_ids",
    "features",
    "feature_names",
    "feature_ids",
    "var_names",
)
DENSE_MATRIX_KEYS = ("X", "counts", "matrix", "data")
LABEL_KEYS = ("Y", "y", "labels", "cell_types", "celltype")
SPARSE_PARTS = ("data", "indices", "indptr", "shape")

#: Number of matrix entries read from disk at a time when densely stored.
CHUNK_ENTRIES = 1 << 22

_READ_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    UnicodeDecodeError,
    zlib.error,
    gzip.BadGzipFile,
    tarfile.TarError,
)


# ---------------------------------------------------------------- shared helpers
@contextmanager
def reading(path: object, what: str) -> Iterator[None]:
    """Turn any low-level parsing error raised inside the block into a :class:`DataError`."""
    try:
        yield
    except DataError:
        raise
    except _READ_ERRORS as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if isinstance(error, (EOFError, zlib.error, gzip.BadGzipFile)):
            raise DataError(path, f"is damaged or cut short ({detail})") from error
        raise DataError(path, f"could not be read as {what} ({detail})") from error


def open_hdf5(path: Path) -> Any:
    """Open ``path`` read-only with h5py, or raise :class:`DataError`.

    Files whose links or datasets reach into other files are refused.
    """
    import h5py

    require_regular(path)
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise DataError(path, f"is not a readable HDF5 file ({error})") from None
    try:
        check_hdf5_links(file, path)
    except BaseException:
        file.close()
        raise
    return file


def read_dataset(dataset: Any, path: object) -> np.ndarray:
    """The whole of an HDF5 dataset, once its declared size has been checked."""
    check_dataset(path, dataset)
    return dataset[()]


def to_strings(values: Any) -> np.ndarray:
    """A flat object array of ``str`` (bytes decoded as UTF-8)."""
    array = np.asarray(values)
    if array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)
    if array.dtype.kind == "S":
        return np.char.decode(array, "utf-8", errors="replace").astype(object)
    if array.dtype.kind == "O":
        return np.array(
            [
                v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)
                for v in array
            ],
            dtype=object,
        )
    return array.astype(str).astype(object)


def label_strings(values: Any) -> np.ndarray:
    """Labels as strings; whole-number floats are written as integers ("1", not "1.0").

    Missing labels (NaN, ``None``, a NaN category) become ``"No class"``, never ``"nan"``.
    """
    from scvae.data.readers.labels import NO_CLASS

    array = np.asarray(values)
    if array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)
    missing = _missing(array)
    if array.dtype.kind == "f":
        known = array[~missing]
        if np.all(known == np.round(known)) and np.all(np.abs(known) < 2**62):
            array = np.where(missing, 0, array).astype(np.int64)
    strings = to_strings(array)
    strings[missing] = NO_CLASS
    return strings


def _missing(array: np.ndarray) -> np.ndarray:
    """Where an array of labels holds NaN or ``None``."""
    if array.dtype.kind == "f":
        return np.isnan(array)
    if array.dtype.kind == "O":
        return np.array(
            [item is None or (isinstance(item, float) and item != item) for item in array],
            dtype=bool,
        ).reshape(array.shape)
    return np.zeros(array.shape, dtype=bool)


def batch_indices(values: Any) -> tuple[np.ndarray, list[str]]:
    """Integer batch indices ``0..B-1`` and the batch names, in sorted order."""
    array = np.asarray(values)
    if array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)
    if array.dtype.kind in "biuf":
        unique, inverse = np.unique(array, return_inverse=True)
        return inverse.astype(np.int64), [str(v) for v in label_strings(unique)]
    unique, inverse = np.unique(to_strings(array).astype(str), return_inverse=True)
    return inverse.astype(np.int64), [str(v) for v in unique]


def labels_from_file(example_names: np.ndarray | None, options: ReadOptions) -> np.ndarray | None:
    """Labels from ``options.labels_path`` matched to ``example_names`` (or ``None``)."""
    if not options.labels_path:
        return None
    from scvae.data.readers.labels import match_labels, read_labels

    names, labels = read_labels(options.labels_path)
    return match_labels(example_names, names, labels, options.labels_path)


def compressed_matrix(
    path: object,
    parts: Sequence[Any],
    shape: tuple[int, int],
    layout: str,
) -> sp.csr_matrix | sp.csc_matrix:
    """Build a CSR or CSC matrix from ``(data, indices, indptr)`` after checking them."""
    data, indices, indptr = parts
    return check_compressed(path, (data, indices, indptr), shape, layout)


def read_compressed(group: Any, path: object, shape: tuple[int, int], layout: str) -> Any:
    """Check and read the ``data``, ``indices`` and ``indptr`` datasets of a sparse group."""
    rows, columns = check_shape(path, shape)
    pointers = group["indptr"]
    outer = rows if layout == "csr" else columns
    if pointers.ndim != 1 or len(pointers) != outer + 1:
        raise DataError(path, f"'{pointers.name}' has {pointers.shape} entries, not {outer + 1}")
    parts = tuple(read_dataset(group[key], path) for key in ("data", "indices", "indptr"))
    return check_compressed(path, parts, (rows, columns), layout, values=False)


def dense_to_csr(dataset: Any, path: object, transpose: bool = False) -> sp.csr_matrix:
    """Read a 2-D dataset in row blocks (column blocks if ``transpose``) into CSR.

    Blocks follow the dataset's HDF5 chunks, so each compressed chunk is decoded once.
    """
    if dataset.ndim != 2:
        raise DataError(path, f"'{dataset.name}' is not a 2-D matrix (shape {dataset.shape})")
    if dataset.dtype.kind not in "biuf":
        raise DataError(path, f"'{dataset.name}' holds non-numeric values ({dataset.dtype})")
    check_shape(path, dataset.shape, f"'{dataset.name}'")
    check_dataset(path, dataset)
    axis = 1 if transpose else 0
    length, width = dataset.shape[axis], dataset.shape[1 - axis]
    step = max(1, CHUNK_ENTRIES // max(width, 1))
    if dataset.chunks is not None:
        chunk = dataset.chunks[axis]
        step = max(chunk, step // chunk * chunk)
    blocks = []
    for start in range(0, length, step):
        if transpose:
            blocks.append(sp.csr_matrix(dataset[:, start : start + step].T))
        else:
            blocks.append(sp.csr_matrix(dataset[start : start + step]))
    if not blocks:
        return sp.csr_matrix((length, width), dtype=dataset.dtype)
    return sp.vstack(blocks, format="csr")


def normalise_key(name: str) -> str:
    """Lower case with spaces and dashes as underscores (for name lookups)."""
    return name.strip().lower().replace(" ", "_").replace("-", "_")


# ---------------------------------------------------------------- the reader
@checked_reader
def read_hdf5(path: Path, options: ReadOptions) -> RawData:
    """Read a generic sparse or dense HDF5 count matrix.

    Parameters
    ----------
    path
        The ``.h5``/``.hdf5`` file.
    options
        ``labels_path`` and ``label_key`` (a label dataset name) are used.

    Returns
    -------
    RawData
        Examples x features as CSR.
    """
    path = Path(path)
    with reading(path, "an HDF5 count matrix"), open_hdf5(path) as file:
        groups = _sparse_groups(file)
        if len(groups) > 1:
            names = ", ".join(group.name for group in groups)
            raise DataError(
                path,
                f"holds several sparse matrices ({names}) but the generic HDF5 reader "
                "needs exactly one (is it a 10x or h5ad file?)",
            )
        if groups:
            raw = _read_sparse(groups[0], path, options)
        else:
            raw = _read_dense(file, path, options)
    from_file = labels_from_file(raw.example_names, options)
    if from_file is not None:
        raw.labels = from_file
    return raw


def _sparse_groups(file: Any) -> list[Any]:
    import h5py

    groups = [file]
    file.visititems(lambda _, item: groups.append(item) if isinstance(item, h5py.Group) else None)

    def is_sparse(group: Any) -> bool:
        members = {key: group.get(key) for key in SPARSE_PARTS if key in group}
        datasets = {k: v for k, v in members.items() if isinstance(v, h5py.Dataset)}
        if "indptr" in datasets or "indices" in datasets:
            return True
        return "data" in datasets and datasets["data"].ndim == 1 and "shape" in datasets

    return [group for group in groups if is_sparse(group)]


def _read_sparse(group: Any, path: Path, options: ReadOptions) -> RawData:
    missing = [key for key in ("data", "indices", "indptr") if key not in group]
    if missing:
        where = group.name if group.name != "/" else "the file root"
        raise DataError(
            path, f"sparse matrix in {where} lacks {', '.join(repr(m) for m in missing)}"
        )
    shape = _shape(group, path)
    layout = _layout(group, path, group["indptr"].size, shape)
    matrix = read_compressed(group, path, shape, layout)
    arrays = _name_arrays(group)
    examples = _names(arrays, EXAMPLE_NAME_KEYS, shape, path)
    features = _names(arrays, FEATURE_NAME_KEYS, shape, path)
    transpose = _should_transpose(shape, examples, features)
    values = matrix.T.tocsr() if transpose else matrix.tocsr()
    _check_names(path, values.shape, examples, features)
    labels = _label_dataset(group, path, options, values.shape[0])
    return RawData(values=values, example_names=examples, feature_names=features, labels=labels)


def _shape(group: Any, path: Path) -> tuple[int, int]:
    raw = read_dataset(group["shape"], path) if "shape" in group else None
    for key in ("h5sparse_shape", "shape"):
        if raw is None and key in group.attrs:
            raw = group.attrs[key]
    if raw is None:
        raise DataError(path, "sparse matrix lacks 'shape' (as a dataset or an attribute)")
    shape = np.asarray(raw).reshape(-1)
    if len(shape) != 2 or shape.dtype.kind not in "iuf" or np.any(shape < 0):
        raise DataError(path, f"'shape' must hold two non-negative integers, not {shape.tolist()}")
    return check_shape(path, shape)


def _layout(group: Any, path: Path, pointers: int, shape: tuple[int, int]) -> str:
    rows, columns = shape
    if pointers == rows + 1 and pointers != columns + 1:
        return "csr"
    if pointers == columns + 1 and pointers != rows + 1:
        return "csc"
    if pointers != rows + 1:
        raise DataError(
            path,
            f"'indptr' has {pointers} entries, which fits neither {rows} rows nor "
            f"{columns} columns of the shape {shape}",
        )
    for key in ("h5sparse_format", "encoding-type", "format"):
        if key in group.attrs:
            hint = str(to_strings([group.attrs[key]])[0]).lower()
            if hint.startswith("csr"):
                return "csr"
            if hint.startswith("csc"):
                return "csc"
    return "csc"  # square and unlabelled: 10x Genomics stores CSC


def _name_arrays(group: Any) -> dict[str, Any]:
    import h5py

    arrays: dict[str, Any] = {}
    for location in (group, group.file):
        for key, item in location.items():
            if isinstance(item, h5py.Dataset) and item.ndim == 1 and key not in SPARSE_PARTS:
                arrays.setdefault(normalise_key(key), item)
    return arrays


def _names(
    arrays: dict[str, Any], keys: Sequence[str], shape: tuple[int, int], path: Path
) -> np.ndarray | None:
    """The first name array found, read only when its length fits one of the dimensions."""
    for key in keys:
        if key in arrays:
            dataset = arrays[key]
            if len(dataset) not in shape:
                raise DataError(
                    path,
                    f"'{dataset.name}' has {len(dataset)} names, but the matrix is "
                    f"{shape[0]} x {shape[1]}",
                )
            return to_strings(read_dataset(dataset, path))
    return None


def _should_transpose(
    shape: tuple[int, int], examples: np.ndarray | None, features: np.ndarray | None
) -> bool:
    rows, columns = shape
    if rows == columns:
        return False  # ambiguous: rows are taken as examples
    n_examples = None if examples is None else len(examples)
    n_features = None if features is None else len(features)
    if n_examples is not None and n_features is not None:
        return n_examples == columns and n_features == rows
    return n_examples == columns or n_features == rows


def _check_names(
    path: Path, shape: tuple[int, int], examples: np.ndarray | None, features: np.ndarray | None
) -> None:
    for names, size, what in ((examples, shape[0], "example"), (features, shape[1], "feature")):
        if names is not None and len(names) != size:
            raise DataError(
                path,
                f"has {len(names)} {what} names but the matrix ({shape[0]} x {shape[1]}) "
                f"has {size} {what}s",
            )


def _label_dataset(group: Any, path: Path, options: ReadOptions, n: int) -> np.ndarray | None:
    import h5py

    keys = (options.label_key,) if options.label_key else LABEL_KEYS
    for location in (group, group.file):
        for key in keys:
            item = location.get(key)
            if isinstance(item, h5py.Dataset):
                if item.ndim == 0 or item.shape[0] != n:
                    raise DataError(
                        path, f"label dataset '{key}' has {item.shape} entries, not {n}"
                    )
                labels = label_strings(read_dataset(item, path))
                if len(labels) != n:
                    raise DataError(
                        path, f"label dataset '{key}' has {len(labels)} entries, not {n}"
                    )
                return labels
    if options.label_key:
        raise DataError(path, f"has no label dataset '{options.label_key}'")
    return None


def _read_dense(file: Any, path: Path, options: ReadOptions) -> RawData:
    dataset = _dense_dataset(file, path)
    shape = check_shape(path, dataset.shape, f"'{dataset.name}'")
    arrays = _name_arrays(dataset.parent)
    examples = _names(arrays, EXAMPLE_NAME_KEYS, shape, path)
    features = _names(arrays, FEATURE_NAME_KEYS, shape, path)
    transpose = _should_transpose(dataset.shape, examples, features)
    values = dense_to_csr(dataset, path, transpose=transpose)
    _check_names(path, values.shape, examples, features)
    labels = _label_dataset(dataset.parent, path, options, values.shape[0])
    return RawData(values=values, example_names=examples, feature_names=features, labels=labels)


def _dense_dataset(file: Any, path: Path) -> Any:
    import h5py

    found: list[Any] = []
    file.visititems(
        lambda _, item: (
            found.append(item) if isinstance(item, h5py.Dataset) and item.ndim == 2 else None
        )
    )
    if not found:
        raise DataError(
            path, "holds neither a sparse matrix (data/indices/indptr/shape) nor a 2-D dataset"
        )
    by_depth = sorted(found, key=lambda item: item.name.count("/"))
    for key in DENSE_MATRIX_KEYS:
        for item in by_depth:
            if item.name.rsplit("/", 1)[-1] == key:
                return item
    if len(found) > 1:
        names = ", ".join(item.name for item in found)
        raise DataError(path, f"holds several 2-D datasets ({names}) and none is named X")
    return found[0]
