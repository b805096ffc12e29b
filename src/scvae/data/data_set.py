"""DataSet: sparse count values with labels, names, batches and descriptive metadata."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from scvae.data.matrix import CountMatrix, as_matrix
from scvae.data.options import ProcessingOptions
from scvae.data.raw import (
    COUNT_TERMS,
    DEFAULT_TERMS,
    RawData,
    ReadOptions,
    normalise_name,
    path_name,
)
from scvae.data.validation import check
from scvae.errors import DataError

__all__ = ["COUNT_TERMS", "DEFAULT_TERMS", "DataSet", "normalise_name"]

GENERIC_CLASS_NAMES = ("Others", "Unknown", "No class", "Remaining")


class DataSet:
    """A data set of examples (cells) x features (genes).

    A container: it holds the values, the per-example and per-feature arrays and the
    options they are (to be) read and processed with. Reading and processing are done
    by :func:`scvae.data.loading.load` (or :func:`~scvae.data.loading.open_data_set`
    from a configuration), conversions by :mod:`scvae.data.anndata`.

    Parameters
    ----------
    input_file_or_name
        Path to a data file or folder, a JSON specification, or a built-in data set name.
    data_format
        Format name (``None``/``"infer"`` guesses it from the path); always honoured.
    title, specifications
        Title for plots and metadata (keys as in a JSON specification).
    values, labels, example_names, feature_names, batch_indices
        In-memory data (then nothing is read); ``values`` is examples x features.
    feature_selection, example_filter, preprocessing_methods
        Processing options as lists (method, then parameters): ``-F``, ``-E``, ``-p``.
    directory
        Folder for downloads and caches (``-D``). Without it they go to the user's
        cache folder (:func:`user_cache_directory`), never to the current folder.
    genome, layer, labels_path, label_key, batch_key
        Reader options (``--genome``, ``--layer``, ``--labels``, ``--label-key``,
        ``--batch-key``); see :class:`~scvae.data.raw.ReadOptions`.
    read_options
        The reader options as one :class:`~scvae.data.raw.ReadOptions` (instead of
        the five keywords above).
    map_features, noisy_preprocessing_methods
        ``--map-features`` and ``--noisy-preprocessing-methods``.
    reconstruction_distribution
        The likelihood the values are for: count likelihoods refuse non-counts.
    kind, version
        Which part of a data set this is (``"full"``, ``"training"``, ...) and its version.
    class_names, excluded_classes
        Class names and excluded classes when not taken from the labels.
    feature_ids, batch_names, feature_mapping, split_indices
        Original feature identifiers, names of the batches, the ids each mapped feature
        sums over, and predefined splits (index arrays).
    preprocessed_values
        The network input, when already processed.

    After loading, ``values`` keep the counts the likelihood scores;
    ``preprocessed_values`` is the network input (``None`` without preprocessing
    methods); :attr:`processing` records what was done, and :attr:`options` stays
    what was asked for.
    """

    def __init__(
        self,
        input_file_or_name: str | Path,
        data_format: str | None = None,
        title: str | None = None,
        specifications: dict[str, Any] | None = None,
        values: Any = None,
        labels: Sequence | None = None,
        example_names: Sequence | None = None,
        feature_names: Sequence | None = None,
        batch_indices: Sequence | None = None,
        feature_selection: Sequence | None = None,
        example_filter: Sequence | None = None,
        preprocessing_methods: Sequence | None = None,
        directory: str | Path | None = None,
        *,
        genome: str | None = None,
        layer: str | None = None,
        labels_path: str | Path | None = None,
        label_key: str | None = None,
        batch_key: str | None = None,
        read_options: ReadOptions | None = None,
        map_features: bool = False,
        noisy_preprocessing_methods: Sequence | None = None,
        reconstruction_distribution: str | None = None,
        kind: str = "full",
        version: str = "original",
        class_names: Sequence | None = None,
        excluded_classes: Sequence | None = None,
        feature_ids: Sequence | None = None,
        batch_names: Sequence | None = None,
        feature_mapping: dict[str, list[str]] | None = None,
        split_indices: dict[str, np.ndarray] | None = None,
        preprocessed_values: Any = None,
    ) -> None:
        self.input = str(input_file_or_name)
        self.data_format = data_format or "infer"
        self.specifications = dict(specifications or {})
        self._title = title
        self.directory = Path(directory) if directory is not None else user_cache_directory()
        self.read_options = _read_options(
            read_options,
            genome=genome,
            layer=layer,
            labels_path=None if labels_path is None else str(labels_path),
            label_key=label_key,
            batch_key=batch_key,
        )
        self.options = ProcessingOptions.of(
            map_features,
            feature_selection,
            example_filter,
            preprocessing_methods,
            noisy_preprocessing_methods,
        )
        #: what was done to the values (``None`` until processed)
        self.processing: ProcessingOptions | None = None
        self.reconstruction_distribution = reconstruction_distribution
        self.kind = kind
        self.version = version
        self._excluded_classes = excluded_classes
        self._class_names = class_names
        self.feature_ids = _array(feature_ids)
        self.batch_names = _array(batch_names)
        self.feature_mapping = feature_mapping
        self.split_indices = split_indices
        self.preprocessed_values = preprocessed_values
        self._matrix: tuple[Any, CountMatrix] | None = None
        self.values: sp.csr_matrix | None = None
        self.labels = self.example_names = self.feature_names = self.batch_indices = None
        if values is not None:
            self._set(
                RawData(
                    values=_matrix_or_csr(values),
                    example_names=_array(example_names),
                    feature_names=_array(feature_names),
                    labels=_array(labels),
                    batch_indices=_array(batch_indices),
                )
            )

    # ----------------------------------------------------------------- loading
    def load(self) -> DataSet:
        """Deprecated (kept for one release): use :func:`scvae.data.load` (``load(data_set)``)."""
        _deprecated("DataSet.load()", "scvae.data.load(data_set)")
        from scvae.data.loading import load  # deprecation shim: loading sits above

        return load(self)

    def _as_raw(self) -> RawData:
        return RawData(
            values=self.values,
            example_names=self.example_names,
            feature_names=self.feature_names,
            labels=self.labels,
            batch_indices=self.batch_indices,
            feature_ids=self.feature_ids,
            feature_mapping=self.feature_mapping,
            split_indices=self.split_indices,
        )

    def _set(
        self,
        raw: RawData,
        values: Any = None,
        network: Any = None,
        processing: ProcessingOptions | None = None,
    ) -> None:
        """Take ``raw``'s arrays; ``values``: its checked values (else checked here).

        Values given as a :class:`~scvae.data.matrix.CountMatrix` are kept as they
        are (a view); others are materialised as a ``float32`` CSR matrix. With
        ``processing`` (the record of what was done), ``network`` becomes the
        preprocessed values and the data set counts as processed.
        """
        n, f = raw.values.shape
        if values is None:
            likelihood = self.reconstruction_distribution
            values = check(as_matrix(raw.values), self.input, likelihood=likelihood)
            if not isinstance(raw.values, CountMatrix):
                values = values.to_csr()
        self.values = values
        self.example_names = _names(raw.example_names, n, "example", self.input)
        self.feature_names = _names(raw.feature_names, f, "feature", self.input)
        self.labels = _checked(raw.labels, n, "labels", self.input)
        self.batch_indices = _checked(raw.batch_indices, n, "batch indices", self.input)
        if self.batch_indices is not None:
            self.batch_indices = self.batch_indices.astype(np.int64)
        if self.labels is not None:
            self.labels = self.labels.astype(str).astype(object)
        self.feature_ids = raw.feature_ids if raw.feature_ids is not None else self.feature_ids
        self.feature_mapping = raw.feature_mapping or self.feature_mapping
        self.split_indices = raw.split_indices or self.split_indices
        metadata = dict(raw.metadata)
        if raw.metadata.get("batch_names") is not None:
            self.batch_names = np.asarray(metadata.pop("batch_names"), dtype=object)
        self.specifications = {**metadata, **self.specifications}
        if processing is not None:
            self.preprocessed_values = network
            self.processing = processing

    def clear(self) -> None:
        """Forget the values and per-example arrays (loading reads them again)."""
        self.values = self.preprocessed_values = None
        self.labels = self.example_names = self.feature_names = self.batch_indices = None
        self.processing = None

    # ------------------------------------------------------ processing options
    @property
    def _done(self) -> ProcessingOptions:
        """What was done to the values, else (not yet processed) what was asked for."""
        return self.options if self.processing is None else self.processing

    @property
    def map_features(self) -> bool:
        return self._done.map_features

    @property
    def feature_selection(self) -> list[str]:
        return list(self._done.feature_selection)

    @property
    def example_filter(self) -> list[str]:
        return list(self._done.example_filter)

    @property
    def preprocessing_methods(self) -> list[str]:
        return list(self._done.preprocessing_methods)

    @property
    def noisy_preprocessing_methods(self) -> list[str]:
        return list(self._done.noisy_preprocessing_methods)

    # ------------------------------------------------------------- properties
    @property
    def name(self) -> str:
        """Short name used in file and folder names."""
        path = Path(self.input)
        return path_name(path) if path.exists() else normalise_name(self.input)

    @property
    def title(self) -> str:
        return self._title or self.specifications.get("title") or self.name

    @property
    def example_type(self) -> str:
        if "example type" in self.specifications:
            return self.specifications["example type"]
        return "counts" if self.is_counts else "unknown"

    @property
    def is_counts(self) -> bool:
        """Whether every value is a non-negative integer (one chunked pass, remembered)."""
        return self.matrix is not None and self.matrix.is_counts()

    @property
    def matrix(self) -> CountMatrix | None:
        """The values as a :class:`~scvae.data.matrix.CountMatrix` (remembered per values)."""
        if self.values is None:
            return None
        if self._matrix is None or self._matrix[0] is not self.values:
            self._matrix = (self.values, as_matrix(self.values))
        return self._matrix[1]

    @property
    def terms(self) -> dict[str, str]:
        base = COUNT_TERMS if self.example_type == "counts" else DEFAULT_TERMS
        return {**base, **self.specifications.get("terms", {})}

    @property
    def number_of_examples(self) -> int:
        return 0 if self.values is None else self.values.shape[0]

    @property
    def number_of_features(self) -> int:
        return 0 if self.values is None else self.values.shape[1]

    @property
    def number_of_values(self) -> int:
        return self.number_of_examples * self.number_of_features

    @property
    def has_labels(self) -> bool:
        return self.labels is not None

    @property
    def class_names(self) -> list[str] | None:
        """Sorted unique labels (numeric labels in numeric order; generic names last)."""
        if self._class_names is not None:
            return list(self._class_names)
        if self.labels is None:
            return None
        return sorted({str(label) for label in self.labels}, key=self._label_sort_key)

    def _label_sort_key(self, label: str) -> tuple:
        order = list(self.specifications.get("sorted class names", []))
        generic = order + [name for name in GENERIC_CLASS_NAMES if name not in order]
        position = generic.index(label) if label in generic else -1
        number = float(label) if label.isdigit() else float("inf")
        return (position >= len(order), number, position, label)

    @property
    def number_of_classes(self) -> int | None:
        names = self.class_names
        return None if names is None else len(names)

    @property
    def excluded_classes(self) -> list[str]:
        if self._excluded_classes is not None:
            return [str(name) for name in self._excluded_classes]
        if "excluded classes" in self.specifications:
            return [str(name) for name in self.specifications["excluded classes"]]
        names = self.class_names or []
        return ["No class"] if "No class" in names else []

    @property
    def number_of_excluded_classes(self) -> int:
        names = set(self.class_names or [])
        return sum(1 for name in self.excluded_classes if name in names)

    @property
    def label_ids(self) -> np.ndarray | None:
        """Labels as indices into :attr:`class_names`."""
        if self.labels is None:
            return None
        lookup = {name: index for index, name in enumerate(self.class_names)}
        return np.array([lookup[str(label)] for label in self.labels], dtype=np.int64)

    @property
    def class_palette(self) -> dict[str, str] | None:
        return self.specifications.get("class palette")

    @property
    def label_superset(self) -> dict[str, list[str]] | None:
        return self.specifications.get("label superset")

    @property
    def superset_labels(self) -> np.ndarray | None:
        """Labels mapped through the ``label superset`` (a dictionary or ``"infer"``)."""
        from scvae.data.processing import superset_labels

        superset = self.label_superset
        if superset is None or self.labels is None:
            return None
        return superset_labels(self.labels, superset)

    @property
    def number_of_batches(self) -> int | None:
        if self.batch_indices is None:
            return None
        return int(self.batch_indices.max()) + 1 if len(self.batch_indices) else 0

    @property
    def count_sum(self) -> np.ndarray | None:
        """Row sums (library sizes), shape (N, 1)."""
        if self.values is None:
            return None
        return np.asarray(self.values.sum(axis=1), dtype=np.float64).reshape(-1, 1)

    @property
    def normalised_count_sum(self) -> np.ndarray | None:
        """Count sums divided by their maximum (all zeros if the maximum is zero)."""
        count_sum = self.count_sum
        if count_sum is None:
            return None
        maximum = count_sum.max() if count_sum.size else 0.0
        return count_sum / maximum if maximum > 0 else np.zeros_like(count_sum)

    @property
    def feature_selection_method(self) -> str | None:
        return self.feature_selection[0] if self.feature_selection else None

    @property
    def feature_selection_parameters(self) -> list[str]:
        return list(self.feature_selection[1:])

    @property
    def example_filter_method(self) -> str | None:
        return self.example_filter[0] if self.example_filter else None

    @property
    def example_filter_parameters(self) -> list[str]:
        return list(self.example_filter[1:])

    # ---------------------------------------------------------------- subsets
    def subset(self, indices: np.ndarray, kind: str) -> DataSet:
        """A new DataSet holding the examples at ``indices`` (class names kept)."""
        self._require_loaded()
        indices = np.asarray(indices, dtype=np.int64)
        pick = _picker(indices)
        network = self.preprocessed_values
        subset = DataSet(
            self.input,
            data_format=self.data_format,
            title=self._title,
            specifications=self.specifications,
            values=self.values[indices],
            labels=pick(self.labels),
            example_names=pick(self.example_names),
            feature_names=self.feature_names,
            batch_indices=pick(self.batch_indices),
            feature_selection=self.feature_selection,
            example_filter=self.example_filter,
            preprocessing_methods=self.preprocessing_methods,
            directory=self.directory,
            read_options=self.read_options,
            kind=kind,
            version=self.version,
            reconstruction_distribution=self.reconstruction_distribution,
            class_names=self.class_names,
            excluded_classes=self._excluded_classes,
            feature_ids=self.feature_ids,
            batch_names=self.batch_names,
            feature_mapping=self.feature_mapping,
            preprocessed_values=None if network is None else network[indices],
            noisy_preprocessing_methods=self.noisy_preprocessing_methods,
            map_features=self.map_features,
        )
        subset.processing = subset.options  # the subset of processed values
        return subset

    def split(
        self, method: str | None = None, fraction: float | None = None, seed: int = 42
    ) -> tuple[DataSet, DataSet, DataSet]:
        """Split into training, validation and test sets (:mod:`scvae.data.splitting`)."""
        from scvae.data.splitting import split_indices

        self._require_loaded()
        nonzero = np.diff(self.values.indptr) if (method or "default") == "macosko" else None
        indices = split_indices(
            self.number_of_examples,
            method or "default",
            0.9 if fraction is None else fraction,
            seed=seed,
            predefined=self.split_indices,
            nonzero_counts=nonzero,
        )
        # each subset keeps the examples in their order in the data set (file order), so
        # in-memory and backed subsets read, batch and evaluate the examples alike
        return tuple(
            self.subset(np.sort(indices[kind]), kind) for kind in ("training", "validation", "test")
        )

    def _require_loaded(self) -> None:
        if self.values is None:
            raise ValueError("the data set is not loaded; load it first (scvae.data.load)")

    # ---------------------------------------------------------------- AnnData
    @classmethod
    def from_anndata(cls, adata: Any, **options: Any) -> DataSet:
        """Deprecated (kept for one release): use :func:`scvae.data.from_anndata`."""
        _deprecated("DataSet.from_anndata(adata)", "scvae.data.from_anndata(adata)")
        from scvae.data.anndata import from_anndata  # deprecation shim: conversions sit above

        return from_anndata(adata, **options)

    def to_anndata(self) -> Any:
        """Deprecated (kept for one release): use :func:`scvae.data.to_anndata`."""
        _deprecated("DataSet.to_anndata()", "scvae.data.to_anndata(data_set)")
        from scvae.data.anndata import to_anndata  # deprecation shim: conversions sit above

        return to_anndata(self)

    def __repr__(self) -> str:
        shape = f"{self.number_of_examples} x {self.number_of_features}"
        return f"DataSet({self.title!r}, kind={self.kind!r}, {shape})"


def user_cache_directory() -> Path:
    """Where a :class:`DataSet` given no ``directory`` keeps downloads and caches.

    ``$XDG_CACHE_HOME/scvae`` (``~/.cache/scvae`` when unset) on Linux and other
    Unix systems, ``~/Library/Caches/scvae`` on macOS, ``%LOCALAPPDATA%\\scvae\\Cache`` on
    Windows. The command line keeps its own default, ``data`` (``-D``).
    """
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
        return (Path(base) if base else Path.home() / "AppData" / "Local") / "scvae" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "scvae"
    base = os.environ.get("XDG_CACHE_HOME", "")
    # the XDG specification ignores a relative path
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "scvae"


def _read_options(given: ReadOptions | None, **keywords: Any) -> ReadOptions:
    """``given``, or the reader options of the keywords (not both)."""
    named = {key: value for key, value in keywords.items() if value is not None}
    if given is not None and named:
        raise TypeError(f"give read_options or {', '.join(sorted(named))}, not both")
    return given if given is not None else ReadOptions(**named)


def _deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release; use {new}",
        DeprecationWarning,
        stacklevel=3,
    )


def _matrix_or_csr(values: Any) -> Any:
    """A count matrix as it is; anything else as a CSR matrix."""
    if isinstance(values, CountMatrix) or sp.issparse(values):
        return values
    array = np.asarray(values)
    if array.ndim != 2:
        raise DataError(None, f"values must be a 2-D matrix, not {array.ndim}-D")
    return sp.csr_matrix(array)


def _array(values: Any) -> np.ndarray | None:
    return None if values is None else np.asarray(values)


def _picker(indices: np.ndarray):
    return lambda array: None if array is None else np.asarray(array)[indices]


def _names(names: np.ndarray | None, count: int, word: str, source: str) -> np.ndarray:
    if names is None:
        return np.array([f"{word} {i + 1}" for i in range(count)], dtype=object)
    names = _checked(names, count, f"{word} names", source)
    return names.astype(str).astype(object)


def _checked(array: np.ndarray | None, count: int, what: str, source: str) -> np.ndarray | None:
    if array is None:
        return None
    array = np.asarray(array).reshape(-1)
    if len(array) != count:
        raise DataError(source, f"{len(array)} {what} for {count} rows of values")
    return array
