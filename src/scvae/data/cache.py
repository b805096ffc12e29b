"""On-disk cache of a :class:`RawData` in HDF5 (h5py), written atomically and checksummed.

Layout of a cache file (every dataset optional except ``values``)::

    values/{data, indices, indptr, shape}   CSR arrays
    example_names, feature_names, labels,   strings (UTF-8, variable length) or numbers
    feature_ids, batch_indices
    feature_mapping/{feature_names, feature_counts, feature_ids}   ids flattened
    split_indices/{training, validation, test}   (an empty dict is stored as None)
    attributes: format_version, metadata (JSON), checksum (sha256), complete (= 1)

The checksum covers every dataset (name, type, shape and content) and the metadata, so
a truncated or altered file is detected on reading and rebuilt by :func:`load_or_build`.
A file is written to a temporary name in the same folder and renamed into place only
when complete, so a crash never leaves a half-written cache under the real name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import scipy.sparse as sp

from scvae.data.raw import RawData
from scvae.data.storage import chunks
from scvae.data.storage.store import HdfStore
from scvae.io import atomic_path

#: Bumped whenever the layout changes; older files are then rebuilt.
FORMAT_VERSION = 1

_ARRAY_FIELDS = ("example_names", "feature_names", "labels", "feature_ids", "batch_indices")
_CSR_PARTS = ("data", "indices", "indptr", "shape")

logger = logging.getLogger(__name__)


class CacheCorrupt(Exception):
    """A cache file is unreadable, incomplete, stale or does not match its checksum."""


def cache_key(source_paths: Iterable[str | os.PathLike[str]], options: Mapping[str, Any]) -> str:
    """Short hex digest of the sources (absolute path, size, mtime) and the options.

    Parameters
    ----------
    source_paths
        Files the data is read from, in a fixed order. A missing file contributes a
        marker instead of its size and time.
    options
        Anything else that changes the result; serialised as JSON with sorted keys
        (values JSON cannot express are written with ``str``).

    Returns
    -------
    str
        16 hex characters.
    """
    digest = hashlib.sha256()
    for source in source_paths:
        path = Path(source).absolute()
        try:
            status = path.stat()
            stamp = f"{status.st_size}:{status.st_mtime_ns}"
        except FileNotFoundError:
            stamp = "missing"
        digest.update(f"{path}\0{stamp}\n".encode("utf-8", "surrogatepass"))
    digest.update(json.dumps(dict(options), sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def write_raw(path: str | os.PathLike[str], raw: RawData) -> Path:
    """Write ``raw`` to an HDF5 cache at ``path`` (atomically); return the path."""
    arrays = _to_arrays(raw)
    metadata = json.dumps(raw.metadata, sort_keys=True, default=_json_default)
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as file:
        for name, array in arrays.items():
            if array.dtype == object:
                file.create_dataset(name, data=array, dtype=h5py.string_dtype("utf-8"))
            else:
                file.create_dataset(name, data=array)
        file.attrs["format_version"] = FORMAT_VERSION
        file.attrs["metadata"] = metadata
        file.attrs["checksum"] = _checksum(arrays, metadata)
        file.attrs["complete"] = 1
    return Path(path)


def read_raw(path: str | os.PathLike[str]) -> RawData:
    """Read a cache written by :func:`write_raw`.

    Raises
    ------
    CacheCorrupt
        On any problem: unreadable or truncated file, missing ``complete`` mark,
        another format version, checksum mismatch or inconsistent arrays.
    """
    return _read(path, on_disk=False)


def read_backed(path: str | os.PathLike[str]) -> RawData:
    """:func:`read_raw`, but the values stay on disk (an :class:`~scvae.data.storage.HdfStore`).

    Everything is checked as by :func:`read_raw`: the values are streamed through
    the checksum in chunks (never all in memory at once).
    """
    return _read(path, on_disk=True)


def _read(path: str | os.PathLike[str], *, on_disk: bool) -> RawData:
    try:
        with h5py.File(path, "r") as file:
            _check_marks(file, path)
            arrays = _read_datasets(file, skip="values/" if on_disk else None)
            metadata = str(file.attrs["metadata"])
            summed = dict(arrays)
            if on_disk:
                summed.update({f"values/{part}": file[f"values/{part}"] for part in _CSR_PARTS})
            if _checksum(summed, metadata) != str(file.attrs["checksum"]):
                raise CacheCorrupt(f"{path}: checksum mismatch")
        values = HdfStore(path, "values") if on_disk else None
        return _from_arrays(arrays, json.loads(metadata), values=values)
    except CacheCorrupt:
        raise
    except Exception as error:  # h5py and numpy raise many kinds on damaged files
        raise CacheCorrupt(f"{path}: unreadable cache ({type(error).__name__}: {error})") from error


def _check_marks(file: h5py.File, path: object) -> None:
    if file.attrs.get("complete") != 1:
        raise CacheCorrupt(f"{path}: incomplete cache (no 'complete' mark)")
    if file.attrs.get("format_version") != FORMAT_VERSION:
        raise CacheCorrupt(f"{path}: cache written by another format version")


def load_or_build(
    path: str | os.PathLike[str], build: Callable[[], RawData], *, on_disk: bool = False
) -> RawData:
    """Read the cache at ``path``, or build the data, cache it and return it.

    A corrupt or stale cache is deleted and rebuilt. If ``build`` raises, the error
    propagates and no file is left behind. If the cache cannot be written (for
    example a read-only folder) the built data is returned and a warning is logged,
    unless the values are to stay ``on_disk`` (:func:`read_backed`): they need the
    file, so the error propagates. The result is read back from the new cache, so a
    first (building) run and later (cached) runs see identical data.
    """
    read = read_backed if on_disk else read_raw
    path = Path(path)
    if path.exists():
        try:
            return read(path)
        except CacheCorrupt as error:
            logger.warning("rebuilding the cache: %s", error)
            path.unlink(missing_ok=True)
    raw = build()
    try:
        write_raw(path, raw)
    except OSError as error:
        if on_disk:
            raise
        logger.warning("could not write the cache %s: %s", path, error)
        return raw
    del raw
    return read(path)


# ----------------------------------------------------------------- conversion
def _to_arrays(raw: RawData) -> dict[str, np.ndarray]:
    """Flatten ``raw`` into named arrays (HDF5 dataset paths), strings as ``object``."""
    values = sp.csr_matrix(raw.values)
    arrays = {
        "values/data": values.data,
        "values/indices": values.indices,
        "values/indptr": values.indptr,
        "values/shape": np.asarray(values.shape, dtype=np.int64),
    }
    for name in _ARRAY_FIELDS:
        array = getattr(raw, name)
        if array is not None:
            arrays[name] = _canonical(array)
    if raw.feature_mapping is not None:
        mapping = raw.feature_mapping
        ids = [str(feature_id) for feature in mapping.values() for feature_id in feature]
        arrays["feature_mapping/feature_names"] = _canonical(list(mapping))
        arrays["feature_mapping/feature_counts"] = np.asarray(
            [len(ids_of) for ids_of in mapping.values()], dtype=np.int64
        )
        arrays["feature_mapping/feature_ids"] = _canonical(ids)
    for kind, indices in (raw.split_indices or {}).items():
        arrays[f"split_indices/{kind}"] = np.asarray(indices, dtype=np.int64)
    return {name: np.ascontiguousarray(array) for name, array in arrays.items()}


def _from_arrays(
    arrays: dict[str, np.ndarray], metadata: dict[str, Any], values: Any = None
) -> RawData:
    fields: dict[str, Any] = {name: arrays.get(name) for name in _ARRAY_FIELDS}
    if "feature_mapping/feature_names" in arrays:
        fields["feature_mapping"] = _mapping_from_arrays(
            arrays["feature_mapping/feature_names"],
            arrays["feature_mapping/feature_counts"],
            arrays["feature_mapping/feature_ids"],
        )
    prefix = "split_indices/"
    split = {name[len(prefix) :]: a for name, a in arrays.items() if name.startswith(prefix)}
    fields["split_indices"] = split or None
    if values is None:
        shape = tuple(int(size) for size in arrays["values/shape"])
        parts = (arrays["values/data"], arrays["values/indices"], arrays["values/indptr"])
        values = sp.csr_matrix(parts, shape=shape)
    return RawData(values=values, metadata=metadata, **fields)


def _mapping_from_arrays(
    names: np.ndarray, counts: np.ndarray, ids: np.ndarray
) -> dict[str, list[str]]:
    if len(names) != len(counts) or int(counts.sum()) != len(ids):
        raise ValueError("inconsistent feature mapping")
    groups = np.split(ids, np.cumsum(counts)[:-1]) if len(counts) else []
    return {str(name): [str(i) for i in group] for name, group in zip(names, groups, strict=True)}


def _canonical(array: Any) -> np.ndarray:
    """Numbers as they are; strings (and anything else) as an ``object`` array of ``str``."""
    array = np.asarray(array)
    if array.dtype.kind in "biuf":
        return array
    return np.array([str(item) for item in array.ravel()], dtype=object).reshape(array.shape)


def _read_datasets(file: h5py.File, skip: str | None = None) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}

    def visit(name: str, item: Any) -> None:
        if skip is not None and name.startswith(skip):
            return
        if isinstance(item, h5py.Dataset):
            if h5py.check_string_dtype(item.dtype) is not None:
                arrays[name] = np.asarray(item.asstr()[()], dtype=object)
            else:
                arrays[name] = item[()]

    file.visititems(visit)
    return arrays


def _checksum(arrays: Mapping[str, Any], metadata: str) -> str:
    """sha256 over each array's name, type, shape and content, then the metadata.

    An array may be an h5py dataset of numbers: it is then read in chunks.
    """
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = arrays[name]
        digest.update(f"{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        if array.dtype == object:
            texts = [item.encode("utf-8", "surrogatepass") for item in array.ravel()]
            digest.update(np.asarray([len(text) for text in texts], dtype=np.int64).tobytes())
            digest.update(b"".join(texts))
        elif isinstance(array, h5py.Dataset) and array.ndim == 1:
            step = chunks.CHUNK_VALUES
            for start in range(0, array.shape[0], step):
                digest.update(np.ascontiguousarray(array[start : start + step]).data)
        else:
            digest.update(
                np.ascontiguousarray(array[()] if isinstance(array, h5py.Dataset) else array).data
            )
    digest.update(metadata.encode())
    return digest.hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"metadata value of type {type(value).__name__} cannot be cached")
