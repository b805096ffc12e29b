"""JSON specifications: a values file plus optional labels, batches and descriptive keys.

Paths in the specification are relative to the JSON file's folder. The values are read by
the reader of ``format`` (inferred from the values path when absent); the descriptive keys
go into ``RawData.metadata`` under their JSON spelling.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from scvae.data.raw import RawData, ReadOptions
from scvae.data.readers import get_reader, infer_format, normalise_format
from scvae.data.readers.checks import checked_reader, require_regular
from scvae.data.readers.labels import read_labels
from scvae.errors import DataError

#: keys naming files (relative to the JSON's folder)
PATH_KEYS = ("values", "labels", "batches")

#: descriptive keys copied into the metadata, with the JSON type each must have
DESCRIPTIVE_KEYS: dict[str, tuple[type, str]] = {
    "title": (str, "a string"),
    "terms": (dict, "an object"),
    "example type": (str, "a string"),
    "feature dimensions": (list, "a list"),
    "label superset": (dict, "an object"),
    "sorted class names": (list, "a list"),
    "sorted superset class names": (list, "a list"),
    "excluded classes": (list, "a list"),
    "excluded superset classes": (list, "a list"),
    "class palette": (dict, "an object"),
    "preprocessing methods": (list, "a list"),
}

KNOWN_KEYS = {*PATH_KEYS, "format", "split indices", *DESCRIPTIVE_KEYS}
SPLIT_NAMES = ("training", "validation", "test")
#: largest specification read
MAX_SPEC_BYTES = 64 << 20


def _load(path: Path) -> dict[str, Any]:
    try:
        require_regular(path)
        if path.stat().st_size > MAX_SPEC_BYTES:
            raise DataError(
                path, f"is larger than {MAX_SPEC_BYTES:,} bytes; is it a JSON specification?"
            )
        specification = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(path, f"cannot be read ({error})") from None
    except json.JSONDecodeError as error:
        raise DataError(
            path, f"is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None
    except (ValueError, RecursionError) as error:
        raise DataError(path, f"is not a usable JSON specification ({error})") from None
    if not isinstance(specification, dict):
        raise DataError(path, "must hold a JSON object with at least a 'values' key")
    return specification


def _check_keys(path: Path, specification: dict[str, Any]) -> None:
    if "URLs" in specification:
        raise DataError(path, "key 'URLs' (downloads) is not supported; give 'values' as a path")
    unknown = sorted(set(specification) - KNOWN_KEYS)
    if unknown:
        known = ", ".join(f"'{k}'" for k in sorted(KNOWN_KEYS))
        raise DataError(path, f"has unknown key '{unknown[0]}' (known keys: {known})")
    if "values" not in specification:
        raise DataError(path, "is missing the key 'values' (the path of the values file)")
    for key in (*PATH_KEYS, "format"):
        value = specification.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise DataError(path, f"key '{key}' must be a non-empty string")
    for key, (kind, description) in DESCRIPTIVE_KEYS.items():
        if key in specification and not isinstance(specification[key], kind):
            raise DataError(path, f"key '{key}' must be {description}")


def _resolve(path: Path, specification: dict[str, Any], key: str) -> Path | None:
    value = specification.get(key)
    if value is None:
        return None
    resolved = path.parent / Path(value).expanduser()
    if not resolved.exists():
        raise DataError(path, f"key '{key}' points to {resolved}, which does not exist")
    try:
        require_regular(resolved, folder_ok=key == "values")
    except DataError as error:
        raise DataError(path, f"key '{key}' points to {resolved}, which {error.problem}") from None
    return resolved


def _format(path: Path, specification: dict[str, Any], values: Path) -> str:
    name = specification.get("format")
    try:
        fmt = infer_format(values) if name is None else normalise_format(name)
    except DataError as error:
        raise DataError(path, f"key 'format': {error}") from None
    if fmt == "json":
        raise DataError(path, "key 'values' must not point to another JSON specification")
    return fmt


def _sort_key(name: str) -> tuple[int, float, str]:
    try:
        return 0, float(int(name)), ""
    except ValueError:
        return 1, 0.0, name


def _batches(
    path: Path, batches: Path, example_names: np.ndarray | None, count: int
) -> tuple[np.ndarray, list[str]]:
    """Batch indices 0..B-1 per example and the sorted batch names."""
    names, values = read_labels(batches, example_names)
    if names is not None:
        if example_names is None:
            raise DataError(path, "key 'batches' lists ids, but the data have no example names")
        lookup = dict(zip((str(n) for n in names), values, strict=True))
        missing = [str(n) for n in example_names if str(n) not in lookup]
        if missing:
            raise DataError(
                path, f"key 'batches': {batches} gives no batch for example '{missing[0]}'"
            )
        values = np.array([lookup[str(n)] for n in example_names], dtype=object)
    if len(values) != count:
        raise DataError(
            path, f"key 'batches': {batches} has {len(values)} batches for {count} examples"
        )
    batch_names = sorted({str(v) for v in values}, key=_sort_key)
    index = {name: i for i, name in enumerate(batch_names)}
    return np.array([index[str(v)] for v in values], dtype=np.int64), batch_names


def _split_entry(path: Path, name: str, entry: Any, count: int) -> np.ndarray:
    """One split's indices: a list of integers or ``{"start": a, "stop": b}``, within 0..count-1."""
    problem = f"key 'split indices': '{name}'"
    if isinstance(entry, dict) and set(entry) == {"start", "stop"}:
        start, stop = entry["start"], entry["stop"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, stop)):
            raise DataError(path, f"{problem} must give whole numbers for 'start' and 'stop'")
        if not 0 <= start <= stop <= count:
            raise DataError(path, f"{problem} runs from {start} to {stop}, outside 0..{count}")
        return np.arange(start, stop, dtype=np.int64)
    if not isinstance(entry, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in entry
    ):
        raise DataError(path, f"{problem} must be a list of integers")
    if any(i < 0 or i >= count for i in entry):
        raise DataError(path, f"{problem} has indices outside 0..{count - 1}")
    indices = np.asarray(entry, dtype=np.int64)
    if len(np.unique(indices)) != len(indices):
        raise DataError(path, f"{problem} lists an index more than once")
    return indices


def _split_indices(path: Path, value: Any, count: int) -> dict[str, np.ndarray]:
    if not isinstance(value, dict) or not set(value) <= set(SPLIT_NAMES) or not value:
        raise DataError(path, "key 'split indices' must map training/validation/test to indices")
    result = {name: _split_entry(path, name, entry, count) for name, entry in value.items()}
    seen = np.zeros(count, dtype=bool)
    for name, indices in result.items():
        if seen[indices].any():
            shared = int(indices[np.argmax(seen[indices])])
            raise DataError(
                path, f"key 'split indices': index {shared} is in '{name}' and an earlier split"
            )
        seen[indices] = True
    return result


@checked_reader
def read_json_spec(path: str | Path, options: ReadOptions | None = None) -> RawData:
    """Read the data described by a JSON specification.

    Parameters
    ----------
    path
        The JSON file: ``values`` (required), ``labels``, ``format``, ``batches``,
        ``split indices`` and descriptive keys (``title``, ``terms``, ``example type``, ...).
    options
        Passed on to the values reader; the specification's ``labels`` replaces
        ``labels_path``.
    """
    path = Path(path)
    specification = _load(path)
    _check_keys(path, specification)
    values = _resolve(path, specification, "values")
    labels = _resolve(path, specification, "labels")
    batches = _resolve(path, specification, "batches")
    options = options or ReadOptions()
    if labels is not None:
        options = dataclasses.replace(options, labels_path=str(labels))
    raw = get_reader(_format(path, specification, values))(values, options)
    count = raw.values.shape[0]
    if batches is not None:
        raw.batch_indices, batch_names = _batches(path, batches, raw.example_names, count)
        raw.metadata["batch_names"] = batch_names
    if "split indices" in specification:
        raw.split_indices = _split_indices(path, specification["split indices"], count)
    for key in DESCRIPTIVE_KEYS:
        if key in specification:
            raw.metadata[key] = specification[key]
    return raw
