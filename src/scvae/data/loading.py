"""Open a data set: resolve DATA, read it through the raw cache, process, check.

:func:`open_data_set` is the one function that decides whether the values are
held in memory or left on disk (``--backed``, or automatically when their
in-memory size, :func:`estimated_bytes`, would pass ``--backed-above`` gigabytes).
Both go the same way:

1. the raw values: scvae's cache (``<data dir>/<name>/cache/original-*.h5``, built
   first when missing or corrupt; its checksum is verified either way), or an
   ``.h5ad`` file whose matrix is stored as CSR, read in place when left on disk;
2. :func:`scvae.data.pipeline.process_remembered`: the processing options as views
   of those values (the chosen features and examples remembered beside the cache);
3. :func:`scvae.data.validation.check`: one chunked pass over the values;
4. :meth:`~scvae.data.matrix.CountMatrix.to_memory` unless they stay on disk.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from scvae.config import DataConfig
from scvae.data import pipeline
from scvae.data.cache import cache_key, load_or_build
from scvae.data.catalogue import CATALOGUE, find_built_in
from scvae.data.data_set import DataSet
from scvae.data.matrix import CountMatrix, as_matrix
from scvae.data.raw import RawData, ReadOptions, path_name
from scvae.data.validation import check
from scvae.errors import DataError

CACHE_VERSION = 1

#: Bytes per stored value in memory (float32 value + int32 column index), the cost
#: the automatic switch to values on disk compares with ``--backed-above``.
BYTES_PER_STORED_VALUE = 8


def open_data_set(
    config: DataConfig,
    input_file_or_name: str,
    likelihood: str | None = None,
    **kwargs: Any,
) -> DataSet:
    """The loaded :class:`DataSet` of ``input_file_or_name`` with the options of ``config``.

    ``likelihood`` is the likelihood the values are for (count likelihoods refuse
    non-counts); ``kwargs`` go to :class:`DataSet`. Its values are a SciPy CSR
    matrix in memory, or a :class:`~scvae.data.matrix.CountMatrix` left on disk.
    """
    if likelihood is not None:
        kwargs["reconstruction_distribution"] = likelihood
    data_set = configured_data_set(config, input_file_or_name, **kwargs)
    on_disk = use_backed(config, input_file_or_name)
    raw, source = _raw(data_set, on_disk)
    return load_into(data_set, raw, source=source, in_memory=not on_disk)


def load_into(
    data_set: DataSet,
    raw: RawData,
    *,
    source: Path | None,
    in_memory: bool,
    resolved: pipeline.Resolved | None = None,
) -> DataSet:
    """Process and check ``raw`` into ``data_set`` (values materialised when ``in_memory``).

    ``resolved``: the data set's options resolved for ``raw`` (else resolved here).
    """
    resolved = resolved or _resolve(data_set, raw)
    options, rules = resolved.applied, resolved.rules
    if options.active:
        folder = None if source is None else data_set.directory / data_set.name / "cache"
        raw, network = pipeline.process_remembered(raw, options, rules, folder, source)
    else:
        raw, network = pipeline.process(raw, options, rules)
    values = check(raw.values, data_set.input, likelihood=data_set.reconstruction_distribution)
    if in_memory:
        values = values.to_csr()
        network = None if network is None else network.to_csr()
    data_set._set(raw, values, network, pipeline.recorded(resolved, raw))
    return data_set


def load(data_set: DataSet) -> DataSet:
    """Read (through the cache), process and check a data set, in memory; returns it.

    ``data_set`` is filled in place; one already processed is returned as it is. A
    data set built from values is processed and checked again (views of its values).
    """
    if data_set.values is None:
        raw, source = _raw(data_set, on_disk=False)
        return load_into(data_set, raw, source=source, in_memory=True)
    if data_set.processing is not None:
        return data_set
    raw = data_set._as_raw()
    resolved = _resolve(data_set, raw)
    if not resolved.applied.active:
        data_set.processing = resolved.record
        return data_set
    in_memory = not isinstance(raw.values, CountMatrix)
    return load_into(data_set, raw, source=None, in_memory=in_memory, resolved=resolved)


def _resolve(data_set: DataSet, raw: RawData) -> pipeline.Resolved:
    return pipeline.resolve(
        data_set.options,
        raw,
        data_set.specifications,
        data_set._excluded_classes,
        source=data_set.input,
    )


def read_options(config: DataConfig) -> ReadOptions:
    """The reader options of a data configuration."""
    return ReadOptions(
        labels_path=config.labels,
        genome=config.genome,
        layer=config.layer,
        label_key=config.label_key,
        batch_key=config.batch_key,
    )


def configured_data_set(config: DataConfig, input_file_or_name: str, **kwargs: Any) -> DataSet:
    """A (not yet loaded) :class:`DataSet` with the reader and processing options of ``config``."""
    return DataSet(
        input_file_or_name,
        data_format=config.format,
        directory=config.data_directory,
        read_options=read_options(config),
        feature_selection=config.feature_selection,
        example_filter=config.example_filter,
        preprocessing_methods=config.preprocessing_methods,
        map_features=config.map_features,
        noisy_preprocessing_methods=config.noisy_preprocessing_methods,
        **kwargs,
    )


def estimated_bytes(stored_values: int, examples: int) -> int:
    """Memory the values would take when loaded: 8 bytes a stored value, 8 an example."""
    return BYTES_PER_STORED_VALUE * int(stored_values) + 8 * (int(examples) + 1)


def use_backed(config: DataConfig, input_file_or_name: str) -> bool:
    """Whether to leave the values on disk: ``--backed``, or a large h5ad file or cache."""
    if config.backed:
        return True
    threshold = config.backed_above
    if threshold is None or not threshold > 0 or threshold == float("inf"):
        return False
    size = _known_size(config, input_file_or_name)
    return size is not None and estimated_bytes(*size) > threshold * 1e9


# ------------------------------------------------------------------ raw values
def load_raw(
    input_file_or_name: str,
    data_format: str | None,
    directory: str | Path,
    options: ReadOptions,
) -> RawData:
    """Read a file, folder, JSON specification or built-in data set (cached on disk)."""
    cache_path, build = cache_location(input_file_or_name, data_format, directory, options)
    return load_or_build(cache_path, build)


def _raw(data_set: DataSet, on_disk: bool) -> tuple[RawData, Path | None]:
    """The raw data (values as a count matrix) and the file they were read from."""
    name, fmt = data_set.input, data_set.data_format
    options = data_set.read_options
    h5ad = _h5ad_path(fmt, name) if on_disk else None
    if h5ad is not None:
        from scvae.data.readers.h5ad import read_h5ad_backed

        raw = read_h5ad_backed(h5ad, options)
        if raw is not None:
            raw.values = as_matrix(raw.values)
            if data_set.options.active:  # what the cache refuses before processing
                check(raw.values, name, structure_only=True)
            return raw, h5ad
    path, build = cache_location(name, fmt, data_set.directory, options)
    raw = load_or_build(path, build, on_disk=on_disk)
    raw.values = CountMatrix(raw.values) if on_disk else as_matrix(raw.values)
    return raw, path


def cache_location(
    input_file_or_name: str,
    data_format: str | None,
    directory: str | Path,
    options: ReadOptions,
) -> tuple[Path, Callable[[], RawData]]:
    """The cache file of an input and the function that builds its content.

    Raises
    ------
    DataError
        When the input is neither a file or folder nor a built-in data set.
    """
    from scvae.data.readers import read

    path = Path(input_file_or_name)
    if path.exists():
        fmt = data_format or "infer"
        sources = _source_files(path, options)
        key = cache_key(
            sources, {"format": fmt, "options": asdict(options), "version": CACHE_VERSION}
        )
        cache_path = Path(directory) / path_name(path) / "cache" / f"original-{key}.h5"
        reading = replace(options, data_directory=str(directory))  # for a JSON's URLs
        return cache_path, lambda: _checked(read(path, fmt, reading), path)
    entry = find_built_in(str(input_file_or_name))
    if entry is not None:
        _, built_in = entry
        cache_path = built_in.folder(directory) / "cache" / f"original-v{CACHE_VERSION}.h5"
        return cache_path, lambda: _checked(built_in.build(directory), built_in.folder(directory))
    names = ", ".join(built_in.title for built_in in CATALOGUE.values())
    raise DataError(
        input_file_or_name, f"no such file or folder, nor a built-in data set (built-in: {names})"
    )


def _checked(raw: RawData, source: Path) -> RawData:
    """Refuse non-finite values and empty matrices before anything is cached."""
    check(as_matrix(raw.values), source, structure_only=True)
    return raw


def _source_files(path: Path, options: ReadOptions) -> list[Path]:
    """Files whose size and modification time key the cache (every file of a folder)."""
    files = _files_under(path)
    if path.is_file() and path.name.lower().endswith(".json"):
        for reference in _json_references(path):
            files += _files_under(reference)
    if options.labels_path:
        files.append(Path(options.labels_path))
    return [file for file in files if file.exists()]


SPECIFICATION_BYTES = 16 * 2**20
"""Largest JSON specification read for the cache key."""


def _files_under(path: Path) -> list[Path]:
    """``path`` itself, or every file in the folder ``path`` (sorted)."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    return [path]


def _json_references(path: Path) -> list[Path]:
    """Files a JSON specification names (for the cache key); none for what is not one.

    Only a regular file of reasonable size is read here: a FIFO or an endless device is
    left to the reader, which refuses it with a message.
    """
    try:
        if not path.is_file() or path.stat().st_size > SPECIFICATION_BYTES:
            return []
        specification = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return []
    if not isinstance(specification, dict):
        return []
    references = []
    for key in ("values", "labels", "batches", "feature mapping"):
        value = specification.get(key)
        if isinstance(value, str):
            references.append(path.parent / value)
    urls = specification.get("URLs")  # local paths among them (downloads are kept as they are)
    for kinds in urls.values() if isinstance(urls, dict) else ():
        for value in kinds.values() if isinstance(kinds, dict) else ():
            if isinstance(value, str) and "://" not in value:
                references.append(path.parent / value)
    return references


def _h5ad_path(data_format: str | None, input_file_or_name: str) -> Path | None:
    path = Path(input_file_or_name)
    is_h5ad = data_format in ("h5ad", "anndata") or (
        data_format in (None, "infer") and path.suffix.lower() == ".h5ad"
    )
    return path if is_h5ad and path.is_file() else None


def _known_size(config: DataConfig, input_file_or_name: str) -> tuple[int, int] | None:
    """(stored values, examples) of an h5ad CSR matrix or of an existing cache, else None."""
    import h5py

    h5ad = _h5ad_path(config.format, input_file_or_name)
    if h5ad is not None:
        layer = config.layer
        key = {None: "X", "": "X", "X": "X", "raw": "raw/X"}.get(layer, f"layers/{layer}")
        path = h5ad
    else:
        try:
            options = read_options(config)
            path, _ = cache_location(
                input_file_or_name, config.format, config.data_directory, options
            )
        except Exception:  # an unknown input is reported by the normal loading
            return None
        key = "values"
    try:
        with h5py.File(path, "r") as file:
            group = file.get(key)
            if isinstance(group, h5py.Group) and {"data", "indptr"} <= set(group):
                return int(group["data"].shape[0]), int(group["indptr"].shape[0]) - 1
    except OSError:  # missing or unreadable: the normal loading reports it
        return None
    return None
