"""Resolve the positional DATA argument and read it, through the on-disk cache."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from scvae.data.catalogue import CATALOGUE, find_built_in
from scvae.data.raw import RawData, ReadOptions
from scvae.errors import DataError

CACHE_VERSION = 1
_MAX_SOURCE_FILES = 64


def load_raw(
    input_file_or_name: str,
    data_format: str | None,
    directory: str | Path,
    options: ReadOptions,
) -> RawData:
    """Read a file, folder, JSON specification or built-in data set (cached on disk)."""
    from scvae.data.cache import load_or_build

    cache_path, build = cache_location(input_file_or_name, data_format, directory, options)
    return load_or_build(cache_path, build)


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
    from scvae.data.cache import cache_key
    from scvae.data.readers import read

    path = Path(input_file_or_name)
    if path.exists():
        fmt = data_format or "infer"
        sources = _source_files(path, options)
        key = cache_key(
            sources, {"format": fmt, "options": asdict(options), "version": CACHE_VERSION}
        )
        cache_path = Path(directory) / _data_name(path) / "cache" / f"original-{key}.h5"
        return cache_path, lambda: _checked(read(path, fmt, options), path)
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
    from scvae.data.validation import check_values

    check_values(raw.values, source, count_likelihood=False)
    return raw


def _data_name(path: Path) -> str:
    name = path.resolve().name.split(".")[0]
    return name or "data"


def _source_files(path: Path, options: ReadOptions) -> list[Path]:
    """Files whose size and modification time key the cache."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())[:_MAX_SOURCE_FILES]
    else:
        files = [path]
        if path.name.lower().endswith(".json"):
            files += _json_references(path)
    if options.labels_path:
        files.append(Path(options.labels_path))
    return [file for file in files if file.exists()]


def _json_references(path: Path) -> list[Path]:
    try:
        specification = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return []
    if not isinstance(specification, dict):
        return []
    references = []
    for key in ("values", "labels", "batches"):
        value = specification.get(key)
        if isinstance(value, str):
            references.append(path.parent / value)
    return references
