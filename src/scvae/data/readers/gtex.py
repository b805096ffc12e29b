"""GTEx GCT files: ``#1.2``, a line of dimensions, then ``Name Description <samples...>``.

Genes are rows, so the values are transposed to samples x genes. Features are the gene ids
(``Name``); the feature mapping groups ids by gene name (``Description``). Labels come from a
sample-attributes table: column ``SMTSD`` matched on ``SAMPID``.
"""

from __future__ import annotations

from pathlib import Path

from scvae.data.raw import RawData, ReadOptions
from scvae.data.readers.checks import check_dimension, checked_reader
from scvae.data.readers.labels import labels_for
from scvae.data.readers.text import read_text_table
from scvae.data.readers.text_io import MAX_FIELDS, default_names, open_text, reading
from scvae.errors import DataError


def _read_dimensions(path: Path) -> tuple[int, int]:
    """Check the two preamble lines and return the declared (genes, samples)."""
    with reading(path), open_text(path) as stream:
        version, dimensions = stream.readline(256).strip(), stream.readline(256).split()
    if not version.startswith("#1."):
        raise DataError(path, "is not a GCT file: its first line should be a version like '#1.2'")
    if len(dimensions) < 2 or not all(d.isdigit() for d in dimensions[:2]):
        raise DataError(path, "is not a GCT file: its second line should give genes and samples")
    genes = check_dimension(path, dimensions[0], "the declared number of genes")
    samples = check_dimension(path, dimensions[1], "the declared number of samples", MAX_FIELDS)
    return genes, samples


def _feature_mapping(ids, descriptions) -> dict[str, list[str]]:
    mapping: dict[str, list[str]] = {}
    for gene_id, description in zip(ids, descriptions, strict=True):
        mapping.setdefault(str(description), []).append(str(gene_id))
    return mapping


@checked_reader
def read_gtex(path: str | Path, options: ReadOptions | None = None) -> RawData:
    """Read a GTEx GCT matrix (plain or gzip).

    Parameters
    ----------
    path
        The ``.gct`` / ``.gct.gz`` file.
    options
        ``labels_path`` (if set) is a sample-attributes table; its ``SMTSD`` column is
        matched to the samples on ``SAMPID`` (other tables fall back to the generic rules).
    """
    path = Path(path)
    genes, samples = _read_dimensions(path)
    table = read_text_table(path, skip_lines=2, index_columns=2, header=True)
    if table.values.shape != (genes, samples):
        raise DataError(
            path,
            f"declares {genes} genes x {samples} samples but holds "
            f"{table.values.shape[0]} x {table.values.shape[1]}",
        )
    ids, descriptions = table.row_index
    sample_names = table.column_names
    if sample_names is None:  # pragma: no cover - header=True always gives names
        sample_names = default_names("example", samples)
    labels = None
    if options is not None and options.labels_path:
        labels = labels_for(
            options.labels_path, sample_names, id_column="SAMPID", label_column="SMTSD"
        )
    return RawData(
        values=table.values.T.tocsr(),
        example_names=sample_names,
        feature_names=ids,
        labels=labels,
        feature_mapping=_feature_mapping(ids, descriptions),
    )
