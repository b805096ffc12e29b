"""JSON specifications: a values file plus optional labels, batches and descriptive keys.

Paths in the specification are relative to the JSON file's folder. The values are read by
the reader of ``format`` (inferred from the values path when absent); the descriptive keys
go into ``RawData.metadata`` under their JSON spelling. ``label superset`` is an object
(superset name -> member labels) or ``"infer"``.

Instead of ``values`` a specification may give ``URLs``: role (``values``, ``labels``,
``feature mapping`` or ``all``) -> kind (``full``; ``training``/``validation``/``test``
for the MNIST formats; a population name for ``10x_combine``'s ``all``) -> a URL or a
path. URLs are downloaded (resumably, verified) into
``<data directory>/<JSON name>/original/<title>-<role>-<kind><extension>``; paths are
used where they are. ``feature mapping`` (also a plain key) is a file of feature id and
name per line (a Xena probe map), grouping ids by name for ``--map-features``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from scvae.data.raw import RawData, ReadOptions, normalise_name, path_name
from scvae.data.readers import get_reader, infer_format, normalise_format
from scvae.data.readers.checks import checked_reader, require_regular
from scvae.data.readers.labels import read_labels
from scvae.errors import DataError

#: keys naming files (relative to the JSON's folder)
PATH_KEYS = ("values", "labels", "batches", "feature mapping")
#: roles of the ``URLs`` object
URL_ROLES = ("values", "labels", "feature mapping", "all")
#: schemes downloaded; a location without "://" is a path
URL_SCHEMES = ("http://", "https://")
#: formats that need no values file
GENERATED_FORMATS = ("development",)

#: descriptive keys copied into the metadata, with the JSON type each must have
DESCRIPTIVE_KEYS: dict[str, tuple[type, str]] = {
    "title": (str, "a string"),
    "terms": (dict, "an object"),
    "example type": (str, "a string"),
    "feature dimensions": (list, "a list"),
    "label superset": ((dict, str), 'an object or "infer"'),
    "sorted class names": (list, "a list"),
    "sorted superset class names": (list, "a list"),
    "excluded classes": (list, "a list"),
    "excluded superset classes": (list, "a list"),
    "class palette": (dict, "an object"),
    "preprocessing methods": (list, "a list"),
}

KNOWN_KEYS = {*PATH_KEYS, "format", "split indices", "URLs", *DESCRIPTIVE_KEYS}
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
    unknown = sorted(set(specification) - KNOWN_KEYS)
    if unknown:
        known = ", ".join(f"'{k}'" for k in sorted(KNOWN_KEYS))
        raise DataError(path, f"has unknown key '{unknown[0]}' (known keys: {known})")
    for key in (*PATH_KEYS, "format"):
        value = specification.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise DataError(path, f"key '{key}' must be a non-empty string")
    if "URLs" in specification:
        _check_urls(path, specification)
    elif "values" not in specification and not _generated(specification):
        raise DataError(path, "is missing the key 'values' (the path of the values file) or 'URLs'")
    for key, (kind, description) in DESCRIPTIVE_KEYS.items():
        if key in specification and not isinstance(specification[key], kind):
            raise DataError(path, f"key '{key}' must be {description}")
    superset = specification.get("label superset")
    if isinstance(superset, str) and superset != "infer":
        raise DataError(
            path, f"key 'label superset' must be an object or \"infer\", not {superset!r}"
        )


def _generated(specification: dict[str, Any]) -> bool:
    name = specification.get("format")
    return isinstance(name, str) and _normalised(name) in GENERATED_FORMATS


def _normalised(name: str) -> str | None:
    try:
        return normalise_format(name)
    except DataError:
        return None


def _check_urls(path: Path, specification: dict[str, Any]) -> None:
    urls = specification["URLs"]
    if "values" in specification:
        raise DataError(path, "gives both 'values' and 'URLs'; give one of them")
    problem = "key 'URLs' must map roles (values, labels, feature mapping, all) to objects"
    if not isinstance(urls, dict) or not urls:
        raise DataError(path, problem)
    for role, kinds in urls.items():
        if role not in URL_ROLES:
            roles = ", ".join(URL_ROLES)
            raise DataError(path, f"key 'URLs' has the unknown role '{role}' (roles: {roles})")
        if not isinstance(kinds, dict):
            raise DataError(path, f"{problem}; '{role}' is not an object")
        for kind, location in kinds.items():
            if location is not None and (not isinstance(location, str) or not location.strip()):
                raise DataError(
                    path, f"key 'URLs': '{role}'/'{kind}' must be a URL, a path or null"
                )
    if not any(urls.get(role) for role in ("values", "all")) and not _generated(specification):
        raise DataError(path, "key 'URLs' gives neither 'values' nor 'all'")


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


def _format(path: Path, specification: dict[str, Any], values: Path | None) -> str:
    name = specification.get("format")
    if name is None and values is None:
        raise DataError(path, "key 'format' is needed to read these files")
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


Sources = dict[str, dict[str, Path]]


def _local_sources(path: Path, specification: dict[str, Any]) -> Sources:
    sources: Sources = {}
    for key in ("values", "labels", "feature mapping"):
        resolved = _resolve(path, specification, key)
        if resolved is not None:
            sources[key] = {"full": resolved}
    return sources


def _fetched_sources(path: Path, specification: dict[str, Any], options: ReadOptions) -> Sources:
    """Download the URLs (or find the paths) of ``URLs``, by role and kind."""
    from urllib.parse import urlsplit

    from scvae import progress
    from scvae.data.catalogue import file_extension
    from scvae.data.download import download

    title = specification.get("title") or path_name(path)
    original = Path(options.data_directory or "data") / path_name(path) / "original"
    sources: Sources = {}
    for role, kinds in specification["URLs"].items():
        for kind, location in kinds.items():
            if location is None:
                continue
            if "://" in location and not location.strip().lower().startswith(URL_SCHEMES):
                raise DataError(
                    path, f"key 'URLs': '{role}'/'{kind}' must be an http(s) URL or a path"
                )
            if location.strip().lower().startswith(URL_SCHEMES):
                stem = "-".join(normalise_name(part) for part in (title, role, kind))
                target = original / (stem + file_extension(urlsplit(location.strip()).path))
                download(location.strip(), target, progress=not progress.is_quiet())
            else:
                target = path.parent / Path(location).expanduser()
                if not target.exists():
                    raise DataError(
                        path,
                        f"key 'URLs': '{role}'/'{kind}' points to {target}, which does not exist",
                    )
                require_regular(target, folder_ok=True)
            sources.setdefault(role, {})[kind] = target
    return sources


def _single(path: Path, sources: Sources, role: str) -> Path | None:
    """The one file of ``role`` (kind ``full``), or ``None``."""
    kinds = sources.get(role) or {}
    if not kinds:
        return None
    if set(kinds) != {"full"}:
        raise DataError(
            path, f"key 'URLs': this format takes one '{role}' file, under the kind 'full'"
        )
    return kinds["full"]


def _split_kinds(sources: Sources, role: str) -> bool:
    kinds = sources.get(role) or {}
    return bool(kinds) and set(kinds) != {"full"}


def _read_sources(
    path: Path, specification: dict[str, Any], sources: Sources, options: ReadOptions
) -> RawData:
    """Read the values (and labels) of ``sources`` with the reader of the format."""
    from scvae.data.readers import mnist

    if (
        "all" in sources
        and specification.get("format") is not None
        and _normalised(specification["format"]) == "10x_combine"
    ):
        from scvae.data.builtin.tenx import read_populations

        title = specification.get("title") or path_name(path)
        raw = read_populations(sources["all"], title)
        raw.metadata = {k: v for k, v in raw.metadata.items() if k == "genome"}
        return raw
    if _split_kinds(sources, "values"):
        fmt = _format(path, specification, None)
        if fmt == "mnist_original":
            return mnist.read_original_files(sources["values"], sources.get("labels"))
        if fmt == "mnist_binarised":
            return mnist.read_binarised_files(sources["values"])
        raise DataError(
            path,
            f"key 'URLs': format '{fmt}' takes one values file, under the kind 'full' "
            "(training/validation/test files are for mnist_original and mnist_binarised)",
        )
    values = _single(path, sources, "values") or _single(path, sources, "all")
    if values is None:
        fmt = _format(path, specification, None)
        if fmt not in GENERATED_FORMATS:
            raise DataError(path, f"format '{fmt}' needs a values file")
        from scvae.data.development import generate_development

        return generate_development()
    labels = _single(path, sources, "labels")
    if labels is not None:
        options = dataclasses.replace(options, labels_path=str(labels))
    return get_reader(_format(path, specification, values))(values, options)


@checked_reader
def read_json_spec(path: str | Path, options: ReadOptions | None = None) -> RawData:
    """Read the data described by a JSON specification.

    Parameters
    ----------
    path
        The JSON file: ``values`` or ``URLs`` (one is required, except for the generated
        ``development`` format), ``labels``, ``format``, ``batches``, ``feature mapping``,
        ``split indices`` and descriptive keys (``title``, ``terms``, ``example type``,
        ``label superset``, ...).
    options
        Passed on to the values reader; the specification's ``labels`` replaces
        ``labels_path``. ``data_directory`` is where ``URLs`` are downloaded.
    """
    path = Path(path)
    specification = _load(path)
    _check_keys(path, specification)
    options = options or ReadOptions()
    sources = _local_sources(path, specification)
    if "URLs" in specification:  # a plain 'labels' or 'feature mapping' adds to them
        sources = {**sources, **_fetched_sources(path, specification, options)}
    batches = _resolve(path, specification, "batches")
    raw = _read_sources(path, specification, sources, options)
    count = raw.values.shape[0]
    mapping = _single(path, sources, "feature mapping")
    if mapping is not None:
        from scvae.data.builtin.tcga import read_probe_map

        raw.feature_mapping = read_probe_map(mapping, raw.feature_names)
    if batches is not None:
        raw.batch_indices, batch_names = _batches(path, batches, raw.example_names, count)
        raw.metadata["batch_names"] = batch_names
    if "split indices" in specification:
        raw.split_indices = _split_indices(path, specification["split indices"], count)
    for key in DESCRIPTIVE_KEYS:
        if key in specification:
            raw.metadata[key] = specification[key]
    return raw
