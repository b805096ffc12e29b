"""Pieces shared by the built-in parsers: metadata and labels from a table column."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scvae.data.readers.labels import NO_CLASS
from scvae.data.readers.text_io import reading
from scvae.errors import DataError


def count_metadata(title: str, **extra: Any) -> dict[str, Any]:
    """Metadata of a built-in count data set: title, example type, terms and ``extra``.

    ``terms`` in ``extra`` update the single-cell count terms instead of replacing them.
    """
    from scvae.data.raw import COUNT_TERMS

    terms = {**COUNT_TERMS, **extra.pop("terms", {})}
    return {"title": title, "example type": "counts", "terms": terms, **extra}


def column_labels(
    path: Path,
    example_names: Sequence[str] | np.ndarray,
    id_column: str,
    label_column: str,
    *,
    default: str = NO_CLASS,
) -> np.ndarray:
    """Labels from the column ``label_column`` of a tab-separated table with a header.

    Rows are matched to ``example_names`` on ``id_column``; examples that are not
    listed, or whose label is empty, get ``default``.
    """
    import pandas as pd

    with reading(path):
        try:
            table = pd.read_csv(
                path,
                sep="\t",
                dtype=str,
                keep_default_na=False,
                usecols=lambda name: name in (id_column, label_column),
                compression="infer",
            )
        except (pd.errors.EmptyDataError, pd.errors.ParserError) as error:
            raise DataError(path, f"cannot be read as a tab-separated table ({error})") from None
    missing = [name for name in (id_column, label_column) if name not in table.columns]
    if missing:
        raise DataError(path, f"has no column {' or '.join(repr(m) for m in missing)}")
    lookup = dict(zip(table[id_column], table[label_column], strict=True))
    labels = [lookup.get(str(name), "") or default for name in example_names]
    if len(example_names) and not any(str(name) in lookup for name in example_names):
        raise DataError(path, f"none of its '{id_column}' values matches an example name")
    return np.array(labels, dtype=object)
