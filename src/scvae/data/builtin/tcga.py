"""TCGA pan-cancer sets from UCSC Xena: log2(x+1) matrices with samples as columns.

Values are turned back into counts as ``round(2^v - 1)``; labels are the
``_primary_site`` column of the clinical matrix matched on ``sampleID``; the probe map
(``id``, ``gene``, ... columns) groups feature ids by gene name for ``--map-features``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from scvae.data.builtin.common import column_labels, count_metadata
from scvae.data.raw import RawData
from scvae.data.readers.text import read_text_table
from scvae.data.readers.text_io import bounded_lines, open_text, reading
from scvae.errors import DataError


def counts_from_log2(values: sp.csr_matrix) -> sp.csr_matrix:
    """``round(2^v - 1)`` of the stored values (zeros stay zeros), as a new CSR matrix."""
    counts = sp.csr_matrix(values, dtype=np.float64, copy=True)
    counts.data = np.rint(np.expm1(counts.data * np.log(2.0)))
    np.maximum(counts.data, 0.0, out=counts.data)  # tiny negative log values round to 0
    counts.eliminate_zeros()
    return counts.astype(np.float32) if _fits_float32(counts) else counts


def _fits_float32(matrix: sp.csr_matrix) -> bool:
    return matrix.nnz == 0 or float(matrix.data.max()) < 2**24  # integers exact in float32


def read_probe_map(
    path: Path, feature_ids: Sequence[str] | np.ndarray | None
) -> dict[str, list[str]]:
    """Gene name -> feature ids, from a probe map (id, then gene name, per line).

    Lines starting with ``#`` are skipped; the first other line is a header when its id
    is not one of ``feature_ids`` (Xena's ``id gene chrom ...`` line), so it does not
    become a mapping entry.
    """
    known = None if feature_ids is None else {str(name) for name in feature_ids}
    mapping: dict[str, list[str]] = {}
    first = True
    with reading(path), open_text(path) as stream:
        for number, line in bounded_lines(path, stream, 1 << 20):
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) < 2:
                raise DataError(path, f"line {number} has no gene name after the id")
            if first and _is_header(fields[0], known):
                first = False
                continue
            first = False
            mapping.setdefault(fields[1].strip(), []).append(fields[0].strip())
    if not mapping:
        raise DataError(path, "maps no feature ids to names")
    return mapping


def _is_header(first_field: str, known: set[str] | None) -> bool:
    if known is None:
        return first_field.strip().lower() in ("id", "probe", "gene_id")
    return first_field.strip() not in known


def read_tcga(files: Mapping[str, Path], title: str, feature: str = "gene ID") -> RawData:
    """Read a Xena matrix (``values``), clinical matrix (``labels``) and probe map.

    Returns
    -------
    RawData
        Samples x features counts, sample ids, feature ids, ``_primary_site`` labels
        (``No class`` for samples without one) and the feature mapping.
    """
    table = read_text_table(files["values"], index_columns=1, header=True)
    if table.column_names is None:  # pragma: no cover - header=True always gives names
        raise DataError(files["values"], "has no header of sample ids")
    samples, features = table.column_names, table.row_index[0]
    labels = None
    if "labels" in files:
        labels = column_labels(files["labels"], samples, "sampleID", "_primary_site")
    mapping = None
    if "feature_mapping" in files:
        mapping = read_probe_map(files["feature_mapping"], features)
    terms = {
        "example": "sample",
        "feature": feature,
        "mapped feature": "gene",
        "class": "tissue site",
    }
    return RawData(
        values=counts_from_log2(table.values.T.tocsr()),
        example_names=samples,
        feature_names=features,
        labels=labels,
        feature_mapping=mapping,
        metadata=count_metadata(title, terms=terms),
    )
