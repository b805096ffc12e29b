"""AnnData ``.h5ad`` reader.

Files written by anndata >= 0.7 (with encoding metadata) are read element by element,
so only the chosen matrix, ``obs`` and ``var`` are loaded. Older files (without
encoding metadata) are read whole through :func:`anndata.read_h5ad`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import scipy.sparse as sp

from scvae.data.raw import RawData, ReadOptions
from scvae.data.readers.checks import (
    CHUNK,
    check_dataset,
    check_indices,
    check_matrix,
    check_pointers,
    check_raw,
    check_shape,
    check_values,
    checked_reader,
    locator,
    require_regular,
)
from scvae.data.readers.hdf5 import (
    batch_indices,
    dense_to_csr,
    label_strings,
    labels_from_file,
    open_hdf5,
    read_compressed,
    reading,
    to_strings,
)
from scvae.errors import DataError

LABEL_KEYS = (
    "cell_type",
    "celltype",
    "cell_types",
    "labels",
    "label",
    "louvain",
    "leiden",
    "bulk_labels",
)
BATCH_KEYS = ("batch",)


@checked_reader
def read_h5ad(path: Path, options: ReadOptions) -> RawData:
    """Read counts, names, labels and batches from an AnnData file.

    Parameters
    ----------
    path
        The ``.h5ad`` file.
    options
        ``layer`` (a name in ``layers``, or ``"raw"`` for ``raw.X``; default ``X``),
        ``label_key`` and ``batch_key`` (``obs`` columns) and ``labels_path``.

    Returns
    -------
    RawData
        Cells x genes CSR; batch names in ``metadata["batch_names"]``.
    """
    path = Path(path)
    with reading(path, "an h5ad file"):
        with open_hdf5(path) as file:
            modern = _text(file.attrs.get("encoding-type")) == "anndata"
            if modern:
                matrix, obs, var = _read_elements(file, path, options.layer)
            else:
                _check_sizes(file, path)  # anndata reads old files whole
        if not modern:
            matrix, obs, var = _read_whole(path, options.layer)
        if sp.issparse(matrix):
            check_matrix(path, matrix)  # before any conversion touches its indices
    values = matrix.tocsr() if sp.issparse(matrix) else sp.csr_matrix(np.asarray(matrix))
    return _annotated(sp.csr_matrix(values), obs, var, options, path)


def read_h5ad_backed(path: Path, options: ReadOptions) -> RawData | None:
    """Like :func:`read_h5ad`, but the matrix stays on disk (a ``CountMatrix``).

    Returns ``None`` when the file is not a modern (encoded) h5ad file or when the
    chosen matrix is not stored as CSR; such files are read whole instead.
    """
    from scvae.data.matrix import open_hdf

    path = require_regular(Path(path))
    with reading(path, "an h5ad file"):
        with open_hdf5(path) as file:
            if _text(file.attrs.get("encoding-type")) != "anndata":
                return None
            matrix_key, var_key = _element_keys(file, path, options.layer)
            if _text(file[matrix_key].attrs.get("encoding-type")) != "csr_matrix":
                return None
            check_stored_csr(file[matrix_key], path)
            obs, var = _read_tables(file, path, var_key)
    raw = _annotated(open_hdf(path, matrix_key), obs, var, options, path)
    return check_raw(path, raw)


def check_stored_csr(group: Any, path: Path) -> tuple[int, int]:
    """Check a CSR group on disk chunk by chunk (row pointers, indices, values); its shape.

    The checks and messages are those of :func:`~scvae.data.readers.checks.check_compressed`.
    """
    missing = [key for key in ("data", "indices", "indptr") if key not in group]
    if missing:
        raise DataError(path, f"sparse matrix '{group.name}' lacks {', '.join(missing)}")
    rows, columns = check_shape(path, group.attrs.get("shape", ()), f"'{group.name}'")
    data, indices, indptr = (group[key] for key in ("data", "indices", "indptr"))
    for dataset in (data, indices, indptr):
        check_dataset(path, dataset)
    if data.ndim != 1 or data.shape != indices.shape:
        raise DataError(path, f"'data' has {data.shape} entries but 'indices' has {indices.shape}")
    pointers = np.asarray(indptr[()]).reshape(-1)
    check_pointers(path, pointers, rows, len(data))
    for start in range(0, len(data), CHUNK):
        stop = min(start + CHUNK, len(data))
        check_indices(path, indices[start:stop], columns, (rows, columns))
        check_values(path, data[start:stop], locator(indices, pointers, "csr", start))
    return rows, columns


def _annotated(values: Any, obs: Any, var: Any, options: ReadOptions, path: Path) -> RawData:
    """RawData of a matrix (CSR or backed) with the names, labels and batches of obs/var."""
    if values.shape != (len(obs), len(var)):
        raise DataError(
            path,
            f"matrix is {values.shape[0]} x {values.shape[1]} but there are {len(obs)} "
            f"observations and {len(var)} variables",
        )
    raw = RawData(
        values=values,
        example_names=to_strings(np.asarray(obs.index)),
        feature_names=to_strings(np.asarray(var.index)),
    )
    if "gene_ids" in var.columns:
        raw.feature_ids = to_strings(np.asarray(var["gene_ids"], dtype=object))
    labels = _column(obs, options.label_key, LABEL_KEYS, path, "label")
    raw.labels = None if labels is None else label_strings(labels)
    batches = _column(obs, options.batch_key, BATCH_KEYS, path, "batch")
    if batches is not None:
        raw.batch_indices, raw.metadata["batch_names"] = batch_indices(batches)
    from_file = labels_from_file(raw.example_names, options)
    if from_file is not None:
        raw.labels = from_file
    return raw


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _anndata_call(path: Path, function: Any, *arguments: Any, **keywords: Any) -> Any:
    """Call an anndata function, silencing its format warnings and naming the file on errors."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return function(*arguments, **keywords)
    except (DataError, MemoryError, KeyboardInterrupt):
        raise
    except Exception as error:  # anndata raises many types for malformed files
        raise DataError(path, f"could not be read as an h5ad file ({error})") from error


def _read_elements(file: Any, path: Path, layer: str | None) -> tuple[Any, Any, Any]:
    """Read only the chosen matrix, ``obs`` and ``var`` of a modern h5ad file."""
    from anndata.io import read_elem

    matrix_key, var_key = _element_keys(file, path, layer)
    element = file[matrix_key]
    encoding = _text(element.attrs.get("encoding-type"))
    if isinstance(element, h5py.Dataset) and encoding in (None, "array"):
        matrix = dense_to_csr(element, path)
    elif isinstance(element, h5py.Group) and encoding in ("csr_matrix", "csc_matrix"):
        shape = check_shape(path, element.attrs.get("shape", ()), f"'{element.name}'")
        if "indptr" not in element:
            raise DataError(path, f"sparse matrix '{element.name}' lacks 'indptr'")
        matrix = read_compressed(element, path, shape, encoding[:3])
    else:
        matrix = _anndata_call(path, read_elem, element)
    obs, var = _read_tables(file, path, var_key)
    return matrix, obs, var


def _read_tables(file: Any, path: Path, var_key: str) -> tuple[Any, Any]:
    """``obs`` and the chosen ``var`` as data frames."""
    from anndata.io import read_elem

    for key in ("obs", var_key):
        _check_sizes(file[key], path)
    obs = _anndata_call(path, read_elem, file["obs"])
    var = _anndata_call(path, read_elem, file[var_key])
    return obs, var


def _check_sizes(element: Any, path: Path) -> None:
    """Check the declared size of every dataset of an element before anndata reads it."""
    if isinstance(element, h5py.Dataset):
        check_dataset(path, element)
        return
    datasets: list[Any] = []
    element.visititems(
        lambda _, item: datasets.append(item) if isinstance(item, h5py.Dataset) else None
    )
    for dataset in datasets:
        check_dataset(path, dataset)


def _element_keys(file: Any, path: Path, layer: str | None) -> tuple[str, str]:
    """Keys of the chosen matrix and of its ``var`` table (checked to exist)."""
    layers = file.get("layers")
    layer_names = list(layers.keys()) if isinstance(layers, h5py.Group) else []
    has_raw = "raw" in file and "X" in file["raw"]
    if layer in (None, "", "X"):
        matrix_key, var_key = "X", "var"
    elif layer == "raw":
        matrix_key, var_key = "raw/X", "raw/var"
    else:
        matrix_key, var_key = f"layers/{layer}", "var"
    if matrix_key not in file:
        known = ", ".join(["X"] * ("X" in file) + ["raw"] * has_raw + layer_names) or "none"
        raise DataError(path, f"has no matrix '{layer or 'X'}' (available: {known})")
    for key in ("obs", var_key):
        if key not in file:
            raise DataError(path, f"has no '{key}' element")
    return matrix_key, var_key


def _read_whole(path: Path, layer: str | None) -> tuple[Any, Any, Any]:
    """Read an old-layout h5ad file with anndata and pick the chosen matrix."""
    import anndata

    adata = _anndata_call(path, anndata.read_h5ad, path)
    if layer in (None, "", "X"):
        matrix, var = adata.X, adata.var
    elif layer == "raw" and adata.raw is not None:
        matrix, var = adata.raw.X, adata.raw.var
    elif layer in adata.layers:
        matrix, var = adata.layers[layer], adata.var
    else:
        known = ", ".join(["X"] + ["raw"] * (adata.raw is not None) + list(adata.layers.keys()))
        raise DataError(path, f"has no matrix '{layer}' (available: {known})")
    if matrix is None:
        raise DataError(path, "has no X matrix")
    return matrix, adata.obs, var


def _column(
    obs: Any, key: str | None, defaults: tuple[str, ...], path: Path, what: str
) -> np.ndarray | None:
    if key:
        if key not in obs.columns:
            known = ", ".join(map(str, obs.columns)) or "none"
            raise DataError(path, f"has no {what} column '{key}' in obs (columns: {known})")
        return np.asarray(obs[key], dtype=object if obs[key].dtype == "category" else None)
    for candidate in defaults:
        if candidate in obs.columns:
            column = obs[candidate]
            return np.asarray(column, dtype=object if column.dtype == "category" else None)
    return None
