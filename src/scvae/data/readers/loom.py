"""Loom reader (h5py only; Loom stores ``matrix`` as genes x cells)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from scvae.data.raw import RawData, ReadOptions
from scvae.data.readers.checks import checked_reader
from scvae.data.readers.hdf5 import (
    batch_indices,
    dense_to_csr,
    label_strings,
    labels_from_file,
    open_hdf5,
    read_dataset,
    reading,
    to_strings,
)
from scvae.errors import DataError

EXAMPLE_NAME_KEYS = ("CellID", "Cell", "Barcodes", "barcodes")
FEATURE_NAME_KEYS = ("Gene", "Accession")
BATCH_KEYS = ("BatchID", "Batch_id")


@checked_reader
def read_loom(path: Path, options: ReadOptions) -> RawData:
    """Read a Loom file into cells x genes CSR.

    Labels come from the column attribute ``options.label_key``, else ``ClusterName``,
    else ``ClusterID`` (mapped through the global ``CellTypes`` if present), else
    ``Clusters``. Batches come from ``options.batch_key``, ``BatchID`` or ``Batch_id``.
    ``options.layer`` reads ``layers/<name>`` instead of ``matrix``.

    Parameters
    ----------
    path
        The ``.loom`` file.
    options
        Reading options.

    Returns
    -------
    RawData
        Values, names, labels and batch indices (names in ``metadata["batch_names"]``).
    """
    path = Path(path)
    with reading(path, "a Loom file"), open_hdf5(path) as file:
        dataset = _matrix(file, path, options.layer)
        values = dense_to_csr(dataset, path, transpose=True)
        n_cells, n_genes = values.shape
        columns = _attributes(file, "col_attrs", n_cells, path)
        rows = _attributes(file, "row_attrs", n_genes, path)
        labels = _labels(file, columns, path, options.label_key)
        batch_key = _pick(columns, (options.batch_key,) if options.batch_key else BATCH_KEYS)
        if options.batch_key and batch_key is None:
            raise DataError(path, _missing("batch", options.batch_key, columns))
    raw = RawData(values=values, labels=labels)
    example_key = _pick(columns, EXAMPLE_NAME_KEYS)
    feature_key = _pick(rows, FEATURE_NAME_KEYS)
    raw.example_names = None if example_key is None else to_strings(columns[example_key])
    raw.feature_names = None if feature_key is None else to_strings(rows[feature_key])
    if feature_key == "Gene" and "Accession" in rows:
        raw.feature_ids = to_strings(rows["Accession"])
    if batch_key is not None:
        raw.batch_indices, names = batch_indices(columns[batch_key])
        raw.metadata["batch_names"] = names
    from_file = labels_from_file(raw.example_names, options)
    if from_file is not None:
        raw.labels = from_file
    return raw


def _matrix(file: Any, path: Path, layer: str | None) -> Any:
    import h5py

    if layer in (None, "", "matrix"):
        item = file.get("matrix")
        if not isinstance(item, h5py.Dataset):
            raise DataError(path, "has no 'matrix' dataset, so it is not a Loom file")
        return item
    layers = file.get("layers")
    if not isinstance(layers, h5py.Group) or not isinstance(layers.get(layer), h5py.Dataset):
        known = ", ".join(["matrix", *(layers.keys() if isinstance(layers, h5py.Group) else [])])
        raise DataError(path, f"has no layer '{layer}' (available: {known})")
    return layers[layer]


def _attributes(file: Any, group_name: str, size: int, path: Path) -> dict[str, np.ndarray]:
    """1-D attribute arrays of a Loom attribute group (``(n, 1)`` arrays flattened)."""
    import h5py

    group = file.get(group_name)
    if not isinstance(group, h5py.Group):
        return {}
    attributes = {}
    for key, item in group.items():
        if not isinstance(item, h5py.Dataset) or item.ndim == 0:
            continue
        if item.shape[0] != size:
            raise DataError(
                path, f"attribute '{group_name}/{key}' has {item.shape[0]} entries, not {size}"
            )
        values = read_dataset(item, path)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values.reshape(-1)
        if values.ndim != 1:
            continue  # multidimensional attributes (embeddings) are not needed
        if len(values) != size:
            raise DataError(
                path, f"attribute '{group_name}/{key}' has {len(values)} entries, not {size}"
            )
        attributes[key] = values
    return attributes


def _pick(attributes: dict[str, np.ndarray], keys: tuple[str | None, ...]) -> str | None:
    return next((key for key in keys if key is not None and key in attributes), None)


def _missing(what: str, key: str, attributes: dict[str, np.ndarray]) -> str:
    known = ", ".join(sorted(attributes)) or "none"
    return f"has no {what} column attribute '{key}' (column attributes: {known})"


def _labels(
    file: Any, columns: dict[str, np.ndarray], path: Path, label_key: str | None
) -> np.ndarray | None:
    if label_key:
        if label_key not in columns:
            raise DataError(path, _missing("label", label_key, columns))
        return label_strings(columns[label_key])
    if "ClusterName" in columns:
        return label_strings(columns["ClusterName"])
    if "ClusterID" in columns:
        return _cluster_names(file, columns["ClusterID"], path)
    if "Clusters" in columns:
        return label_strings(columns["Clusters"])
    return None


def _cluster_names(file: Any, ids: np.ndarray, path: Path) -> np.ndarray:
    """Cluster ids mapped through the global attribute ``CellTypes`` when it exists."""
    cell_types = file.attrs.get("CellTypes")
    if cell_types is None and "attrs" in file and "CellTypes" in file["attrs"]:
        cell_types = read_dataset(file["attrs"]["CellTypes"], path)
    if cell_types is None:
        return label_strings(ids)
    names = to_strings(np.atleast_1d(cell_types))
    codes = np.asarray(ids)
    if codes.dtype.kind == "f" and np.all(codes == np.round(codes)):
        codes = codes.astype(np.int64)
    if codes.dtype.kind not in "iu" or (
        len(codes) and (codes.min() < 0 or codes.max() >= len(names))
    ):
        raise DataError(path, f"'ClusterID' values do not index the {len(names)} 'CellTypes'")
    return names[codes]
