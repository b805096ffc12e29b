"""The processing pipeline: options -> a view of the raw values, with one decisions cache.

Order: map features; preprocess a copy (the network input); select features (the
statistics come from the count values, the selection applies to both); filter
examples (values, network input, labels, names, batches and predefined splits).
The likelihood always scores the count values; only the network sees the
preprocessed ones.

:func:`process` works on :class:`~scvae.data.matrix.CountMatrix` views wherever the
values are stored: statistics are computed in chunks, and each step gives a view
that maps, preprocesses and selects the rows it reads. Nothing is written but the
chosen features and examples (``decisions-...npz`` beside the raw cache, keyed by
the raw data's identity and the options), so another run skips the passes that
chose them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from scvae.data import preprocessing, processing
from scvae.data.cache import cache_key
from scvae.data.matrix import CountMatrix, as_matrix
from scvae.data.options import ProcessingOptions
from scvae.data.raw import RawData
from scvae.io import atomic_path

#: Bumped whenever processing results change for the same options.
PIPELINE_VERSION = 1
_NAME_LIMIT = 80

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelRules:
    """What the label-based example filters compare against.

    ``superset`` is the data set's ``label superset`` (a dictionary or ``"infer"``);
    with a superset, ``keep``/``remove``/``excluded_classes`` act on superset labels
    and ``excluded_superset_classes``.
    """

    superset: Mapping[str, Sequence[str]] | str | None = None
    excluded_classes: tuple[str, ...] = ()
    excluded_superset_classes: tuple[str, ...] = field(default=("No class",))

    def filter_labels(self, labels: np.ndarray | None) -> tuple[np.ndarray | None, tuple]:
        if labels is None or self.superset is None:
            return labels, self.excluded_classes
        return processing.superset_labels(labels, self.superset), self.excluded_superset_classes


def process(
    raw: RawData,
    options: ProcessingOptions,
    rules: LabelRules = LabelRules(),
    decisions: Decisions | None = None,
) -> tuple[RawData, CountMatrix | None]:
    """Run the pipeline; returns the processed data (values: a view) and the network input.

    ``raw`` is not changed. The network input is ``None`` without ``-p`` methods.
    ``decisions`` remembers the chosen features and examples.
    """
    values = as_matrix(raw.values)
    names, feature_ids = raw.feature_names, raw.feature_ids
    mapping = raw.feature_mapping
    if options.map_features and mapping:
        if names is None:
            names = np.array([f"feature {j + 1}" for j in range(values.shape[1])], dtype=object)
        values, names = processing.map_features(values, names, mapping)
        feature_ids, mapping = None, None
    network = None
    if options.preprocessing_methods:
        network = preprocessing.preprocessed_view(values, options.preprocessing_methods)
    result = replace(raw, values=values, feature_names=names, feature_ids=feature_ids)
    result.feature_mapping = mapping
    if options.feature_selection:
        method, *parameters = options.feature_selection
        columns = _decided(
            decisions,
            "columns",
            lambda: processing.select_features(values, method, parameters),
            values.shape[1],
        )
        result, network = _take_features(result, network, columns)
    if options.example_filter:
        method, *parameters = options.example_filter
        labels, excluded = rules.filter_labels(_strings(result.labels))
        rows = _decided(
            decisions,
            "rows",
            lambda: processing.filter_examples(
                result.values, method, parameters, labels=labels, excluded_classes=excluded
            ),
            result.values.shape[0],
        )
        result, network = _take_examples(result, network, rows)
    return result, network


def process_remembered(
    raw: RawData,
    options: ProcessingOptions,
    rules: LabelRules,
    folder: str | os.PathLike[str] | None,
    source: str | os.PathLike[str] | None,
) -> tuple[RawData, CountMatrix | None]:
    """:func:`process`, remembering its choices in ``folder`` for the raw data of ``source``.

    ``source`` is the file the raw values were read from (the raw cache or an
    ``.h5ad`` file): its identity (path, size, time) keys the decisions file. Without
    ``folder`` or ``source``, or when nothing is chosen, nothing is remembered.
    """
    path = None
    if folder is not None and source is not None and options.reshapes:
        identity = {
            **_shape_options(options, rules),
            "shape": list(raw.values.shape),
            "metadata": _with_metadata(hashlib.sha256(), raw),
        }
        key = cache_key([source], identity)
        name = _readable(["decisions", *_shape_parts(options)], key).removesuffix(".h5")
        path = Path(folder) / f"{name}.npz"
    decisions = Decisions(path)
    result = process(raw, options, rules, decisions)
    decisions.save()
    return result


def _with_metadata(digest: Any, raw: RawData) -> str:
    """Add the names, labels, batches, mapping and split of ``raw`` to ``digest``."""
    for array in (raw.feature_names, raw.example_names, raw.labels, raw.feature_ids):
        digest.update(b"\1" if array is None else _text_bytes(array))
    digest.update(b"\2" if raw.batch_indices is None else _text_bytes(raw.batch_indices))
    mapping = raw.feature_mapping or {}
    digest.update(repr(sorted((str(k), [str(i) for i in v]) for k, v in mapping.items())).encode())
    split = raw.split_indices or {}
    for kind in sorted(split):
        digest.update(kind.encode() + np.asarray(split[kind], dtype=np.int64).tobytes())
    return digest.hexdigest()


# ------------------------------------------------------------------ decisions
class Decisions:
    """The chosen ``columns`` and ``rows`` of a run, remembered in a small file.

    A missing or unreadable file means nothing is known yet; :meth:`save` writes what
    was decided (atomically: a temporary file renamed into place).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.known: dict[str, np.ndarray] = {} if path is None else _read_decisions(path)
        self.changed = False

    def get(self, name: str, decide: Callable[[], np.ndarray], limit: int) -> np.ndarray:
        """The remembered indices ``name`` (all below ``limit``), else ``decide()``'s."""
        known = self.known.get(name)
        if known is None or known.ndim != 1 or not np.all((known >= 0) & (known < limit)):
            self.known[name] = np.asarray(decide(), dtype=np.int64)
            self.changed = True
        return self.known[name]

    def save(self) -> None:
        if not self.changed or self.path is None:
            return
        try:
            with atomic_path(self.path) as temporary, open(temporary, "wb") as file:
                np.savez(file, **self.known)
        except OSError as error:
            logger.warning("could not remember the processing choices in %s: %s", self.path, error)


def _read_decisions(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {name: np.asarray(stored[name], dtype=np.int64) for name in stored.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        logger.warning("ignoring the unreadable processing choices in %s: %s", path, error)
        return {}


def _decided(
    decisions: Decisions | None, name: str, decide: Callable[[], np.ndarray], limit: int
) -> np.ndarray:
    return decide() if decisions is None else decisions.get(name, decide, limit)


# -------------------------------------------------------------------- helpers
def _take_features(result: RawData, network, columns: np.ndarray):
    def pick(array):
        return None if array is None else np.asarray(array)[columns]

    taken = replace(
        result,
        values=result.values[:, columns],
        feature_names=pick(result.feature_names),
        feature_ids=pick(result.feature_ids),
    )
    return taken, None if network is None else network[:, columns]


def _take_examples(result: RawData, network, rows: np.ndarray):
    def pick(array):
        return None if array is None else np.asarray(array)[rows]

    taken = replace(
        result,
        values=_examples(result.values, rows),
        example_names=pick(result.example_names),
        labels=pick(result.labels),
        batch_indices=pick(result.batch_indices),
        split_indices=_remap_split(result.split_indices, rows, result.values.shape[0]),
    )
    return taken, None if network is None else _examples(network, rows)


def _examples(values: CountMatrix, rows: np.ndarray) -> CountMatrix:
    """The examples ``rows`` of a matrix, as a data set of their own."""
    return values.restricted(rows)


def _remap_split(split: Mapping[str, np.ndarray] | None, rows: np.ndarray, n: int):
    """Predefined split indices in the filtered data (filtered-out examples dropped)."""
    if not split:
        return split
    position = np.full(n, -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    remapped = {}
    for kind, indices in split.items():
        new = position[np.asarray(indices, dtype=np.int64)]
        remapped[kind] = new[new >= 0]
    return remapped


def _strings(labels: np.ndarray | None) -> np.ndarray | None:
    return None if labels is None else np.asarray(labels).astype(str).astype(object)


def _shape_options(options: ProcessingOptions, rules: LabelRules) -> dict[str, Any]:
    shape = {
        "version": PIPELINE_VERSION,
        "map_features": options.map_features,
        "feature_selection": list(options.feature_selection),
        "example_filter": list(options.example_filter),
    }
    if options.example_filter:
        superset = rules.superset
        shape["rules"] = {
            "superset": superset if isinstance(superset, (str, type(None))) else dict(superset),
            "excluded": list(rules.excluded_classes),
            "excluded_superset": list(rules.excluded_superset_classes),
        }
    return shape


def _shape_parts(options: ProcessingOptions) -> list[str]:
    parts = ["features_mapped"] if options.map_features else []
    for option in (options.feature_selection, options.example_filter):
        if option:
            parts.append("_".join(processing.normalise_label(item) for item in option))
    return parts


def _readable(parts: Sequence[str], key: str) -> str:
    """``<parts joined by '-'>-<key>.h5``, the readable part cut to a safe length."""
    text = "-".join(processing.normalise_label(part) for part in parts)
    text = "".join(c for c in text if c.isalnum() or c in "_-.+")[:_NAME_LIMIT]
    return f"{text}-{key}.h5"


def _text_bytes(array: Any) -> bytes:
    array = np.asarray(array)
    if array.dtype.kind in "biuf":
        return array.dtype.str.encode() + np.ascontiguousarray(array).tobytes()
    return "\0".join(str(item) for item in array.ravel()).encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Resolved:
    """What :func:`resolve` makes of a data set's options and its freshly read data.

    ``applied`` is what :func:`process` does; ``record`` is what the data set reports
    as done (a specification's ``preprocessing methods`` are recorded, not applied).
    """

    applied: ProcessingOptions
    record: ProcessingOptions
    rules: LabelRules


def resolve(
    options: ProcessingOptions,
    raw: RawData,
    specifications: Mapping[str, Any] | None = None,
    excluded_classes: Sequence | None = None,
    source: Any = None,
) -> Resolved:
    """The processing of ``raw`` that ``options`` ask for, with the label rules.

    ``specifications`` (the data set's, over those ``raw`` brings) may say that the
    values are already preprocessed: its ``preprocessing methods`` are then recorded,
    none applied, and noisy methods dropped. ``map_features`` without a mapping is
    switched off (with a warning naming ``source``); ``keep_variances_above`` gets its
    default threshold. Method names are checked here, before any work. Nothing given
    is changed.
    """
    specifications = {**raw.metadata, **(specifications or {})}
    methods, noisy = options.preprocessing_methods, options.noisy_preprocessing_methods
    recorded = methods
    if "preprocessing methods" in specifications:
        recorded = tuple(str(method) for method in specifications["preprocessing methods"])
        methods, noisy = (), ()
    preprocessing.check_preprocessing_methods(methods)
    preprocessing.check_preprocessing_methods(noisy, "--noisy-preprocessing-methods")
    map_features = options.map_features
    if map_features and not raw.feature_mapping:
        logger.warning("%s has no feature mapping; features are not mapped", source)
        map_features = False
    selection = options.feature_selection
    if selection == ("keep_variances_above",):
        selection += (str(processing.DEFAULTS.variance_threshold),)
    applied = replace(
        options,
        map_features=map_features,
        feature_selection=selection,
        preprocessing_methods=methods,
        noisy_preprocessing_methods=noisy,
    )
    rules = label_rules(specifications, raw.labels, excluded_classes)
    return Resolved(applied, replace(applied, preprocessing_methods=recorded), rules)


def recorded(resolved: Resolved, processed: RawData) -> ProcessingOptions:
    """The record of what was done to give ``processed``: ``keep_highest_variances``
    without a number records the number of features it kept."""
    record = resolved.record
    if record.feature_selection == ("keep_highest_variances",):
        kept = str(processed.values.shape[1])
        record = replace(record, feature_selection=(*record.feature_selection, kept))
    return record


def label_rules(
    specifications: Mapping[str, Any], labels: Any, excluded: Sequence | None = None
) -> LabelRules:
    """Label rules from a specification (docs/data-processing.md): excluded classes default to
    ``["No class"]`` when that class is present; excluded superset classes default to
    ``["No class"]``."""
    present = set() if labels is None else {str(label) for label in labels}
    if excluded is None:
        default = ["No class"] if "No class" in present else []
        excluded = specifications.get("excluded classes", default)
    superset_excluded = specifications.get("excluded superset classes", ["No class"])
    return LabelRules(
        superset=specifications.get("label superset"),
        excluded_classes=tuple(str(name) for name in excluded),
        excluded_superset_classes=tuple(str(name) for name in superset_excluded),
    )
