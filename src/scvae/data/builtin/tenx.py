"""10x Genomics built-in sets: stacked PBMC populations, PBMC 68k, and the brain cells."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from scvae.data.builtin.common import column_labels, count_metadata
from scvae.data.raw import RawData, ReadOptions
from scvae.errors import DataError


def _read(path: Path) -> RawData:
    from scvae.data.readers.tenx import read_10x

    return read_10x(path, ReadOptions())


def read_populations(files: Mapping[str, Path], title: str) -> RawData:
    """Stack sorted cell populations (one 10x archive each); the population is the label.

    Parameters
    ----------
    files
        Population name (the label) -> its 10x matrix (tarball, folder or ``.h5``).
    title
        Title of the data set, kept in the metadata.

    Returns
    -------
    RawData
        The populations stacked in sorted name order. Example names are the barcodes
        with ``_<normalised population>`` appended, since barcodes repeat across
        populations. All populations must share the genome and the gene list.
    """
    from scvae.data.raw import normalise_name

    if not files:
        raise DataError(None, f"{title} has no populations to combine")
    parts = [(label, _read(files[label])) for label in sorted(files)]
    first_label, first = parts[0]
    for label, raw in parts[1:]:
        genome, expected = raw.metadata.get("genome"), first.metadata.get("genome")
        if genome != expected:
            raise DataError(
                files[label],
                f"has genome '{genome}', but '{first_label}' has '{expected}'; "
                "populations must share one genome",
            )
        if not np.array_equal(raw.feature_ids, first.feature_ids):
            raise DataError(
                files[label],
                f"has a different gene list from '{first_label}' "
                f"({raw.shape[1]} vs {first.shape[1]} genes); populations must share one",
            )
    names = [
        np.array([f"{barcode}_{normalise_name(label)}" for barcode in raw.example_names], object)
        for label, raw in parts
    ]
    labels = [np.full(raw.shape[0], label, dtype=object) for label, raw in parts]
    metadata = count_metadata(title, **{"genome": first.metadata.get("genome")})
    return RawData(
        values=sp.vstack([raw.values for _, raw in parts], format="csr"),
        example_names=np.concatenate(names),
        feature_names=first.feature_names,
        feature_ids=first.feature_ids,
        labels=np.concatenate(labels),
        metadata={key: value for key, value in metadata.items() if value is not None},
    )


def read_annotated(files: Mapping[str, Path], title: str) -> RawData:
    """A 10x matrix (``values``) with optional barcode annotations (``labels``).

    The annotation table is tab-separated with a header; its ``celltype`` column is
    matched to the barcodes on its ``barcodes`` column (unlisted cells: ``No class``).
    """
    raw = _read(files["values"])
    if "labels" in files:
        raw.labels = column_labels(files["labels"], raw.example_names, "barcodes", "celltype")
    raw.metadata = {**raw.metadata, **count_metadata(title)}
    return raw
