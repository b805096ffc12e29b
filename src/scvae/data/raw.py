"""The one structure every reader returns, and the words and names of a data set."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

DEFAULT_TERMS = {
    "example": "example",
    "feature": "feature",
    "mapped feature": "feature",
    "class": "class",
    "type": "value",
    "item": "item",
}
COUNT_TERMS = {
    "example": "cell",
    "feature": "gene",
    "mapped feature": "gene",
    "class": "cell type",
    "type": "count",
    "item": "transcript",
}

#: The name of a data set whose file or folder name gives nothing usable.
FALLBACK_NAME = "data"


def normalise_name(name: str) -> str:
    """Lower case; spaces, '-' and '/' become '_'; unsafe characters removed.

    Never empty: a name that leaves nothing becomes :data:`FALLBACK_NAME`.
    """
    name = re.sub(r"[ /\-]", "_", str(name).lower())
    return re.sub(r'[(),$<>:"\\|?*]', "", name) or FALLBACK_NAME


def path_name(path: str | Path) -> str:
    """The data-set name of a file or folder: its name up to the first dot.

    Leading dots are skipped (``.hidden.tsv`` gives ``hidden``); a name that leaves
    nothing gives :data:`FALLBACK_NAME`. Never a path: no separators, never ``..``.
    """
    for candidate in (Path(path).name, Path(path).resolve().name):
        stem = candidate.lstrip(".").split(".")[0]
        if stem:
            return stem
    return FALLBACK_NAME


@dataclass(frozen=True)
class ReadOptions:
    """Options a reader may use; each reader ignores those that do not apply.

    Parameters
    ----------
    labels_path
        A separate labels file (see :func:`scvae.data.readers.labels.read_labels`).
    genome
        Genome group to pick from a multi-genome 10x ``.h5``.
    layer
        AnnData layer to read instead of ``X`` (``"raw"`` means ``raw.X``).
    label_key
        Column of ``obs`` (h5ad) or column attribute (Loom) holding labels.
    batch_key
        Column of ``obs`` (h5ad) or column attribute (Loom) holding batches.
    data_directory
        Where a JSON specification's ``URLs`` are downloaded (``<it>/<name>/original``).
    """

    labels_path: str | None = None
    genome: str | None = None
    layer: str | None = None
    label_key: str | None = None
    batch_key: str | None = None
    data_directory: str | None = None


@dataclass
class RawData:
    """A parsed count matrix, always examples x features, as CSR.

    ``feature_ids`` keeps original identifiers (e.g. Ensembl ids) when the
    feature names are symbols. ``feature_mapping`` maps a feature name to the list
    of original feature names (ids) it sums over (used by ``--map-features``).
    ``split_indices`` maps ``"training"``/``"validation"``/``"test"`` to index arrays.
    """

    values: sp.csr_matrix
    example_names: np.ndarray | None = None
    feature_names: np.ndarray | None = None
    labels: np.ndarray | None = None
    batch_indices: np.ndarray | None = None
    feature_ids: np.ndarray | None = None
    feature_mapping: dict[str, list[str]] | None = None
    split_indices: dict[str, np.ndarray] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape
