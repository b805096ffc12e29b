"""Label files: one column of labels in example order, or id and label columns.

The delimiter is a comma for ``.csv``/``.csv.gz`` names, otherwise a tab; a file without
tabs is one column per line (whole lines are labels), unless its first words are example
names, in which case each line is split once at whitespace into id and label. Gzip is
recognised by its magic bytes. A header line is detected, never assumed.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from scvae.data.readers.text_io import (
    bounded_lines,
    open_text,
    reading,
    split_fields,
    text_delimiter,
)
from scvae.errors import DataError

#: the label given to examples that a labels file does not mention
NO_CLASS = "No class"

ID_WORDS = {
    "cell", "cells", "cell_id", "cell_ids", "cellid", "cell_name", "cell_names", "cellname",
    "barcode", "barcodes", "cell_barcode", "cell_barcodes", "id", "ids", "name", "names",
    "sample", "samples", "sample_id", "sample_ids", "sampid", "example", "examples",
    "example_name", "index", "obs_names",
}  # fmt: skip
LABEL_WORDS = {
    "label", "labels", "celltype", "celltypes", "cell_type", "cell_types", "cluster",
    "clusters", "cluster_id", "clusterid", "class", "classes", "type", "group", "groups",
    "annotation", "identity", "ident", "smtsd",
}  # fmt: skip
HEADER_WORDS = ID_WORDS | LABEL_WORDS

Rows = list[tuple[int, list[str]]]

#: longest line of a labels file, in characters
MAX_LABEL_CHARS = 1 << 20
#: most lines of a labels file (for data with this many examples or fewer)
MAX_LABEL_LINES = 10_000_000


def _normalise(word: str) -> str:
    return word.strip().lower().replace(" ", "_").replace("-", "_").replace(".", "_")


def _read_lines(path: Path, max_lines: int) -> list[tuple[int, str]]:
    lines = []
    with reading(path), open_text(path) as stream:
        for number, line in bounded_lines(path, stream, MAX_LABEL_CHARS):
            if line.strip():
                if len(lines) >= max_lines:
                    raise DataError(path, f"has more than {max_lines:,} lines; refusing it")
                lines.append((number, line.rstrip("\r\n")))
    if not lines:
        raise DataError(path, "is empty (no labels)")
    return lines


def _split_rows(path: Path, lines: list[tuple[int, str]], known: set[str] | None) -> Rows:
    delimiter = text_delimiter(path, lines[0][1] + (lines[1][1] if len(lines) > 1 else ""))
    if delimiter is not None:
        try:
            return [(i, split_fields(line, delimiter)) for i, line in lines]
        except csv.Error as error:
            raise DataError(path, f"cannot be split into fields ({error})") from None
    words = [line.split(None, 1) for _, line in lines]
    if known and all(len(w) == 2 for w in words[1:]):
        hits = sum(w[0] in known for w in words)
        if hits * 2 >= len(words):
            return [(i, [f.strip() for f in w]) for (i, _), w in zip(lines, words, strict=True)]
    return [(i, [line.strip()]) for i, line in lines]


def _has_header(rows: Rows, known: set[str] | None) -> bool:
    first = rows[0][1]
    width = len(rows[1][1]) if len(rows) > 1 else len(first)
    if known is not None and first[0] in known:
        return False
    if known is not None and len(rows) == len(known) + 1:
        return True
    if width == 1:
        return (known is None or len(rows) != len(known)) and _normalise(first[0]) in HEADER_WORDS
    if len(first) == width - 1:  # a header without a name over the id column
        return True
    if known is not None and any(row[0] in known for _, row in rows[1:100]):
        return True
    return first[0] == "" or any(_normalise(field) in HEADER_WORDS for field in first)


def _pick_columns(
    header: list[str] | None, width: int, preferred: tuple[str | None, str | None]
) -> tuple[int, int]:
    """Indices of the id and label columns."""
    names = [_normalise(h) for h in header] if header is not None else [""] * width
    if len(names) == width - 1:
        names = ["", *names]
    wanted_id, wanted_label = (_normalise(p) if p else None for p in preferred)
    id_column = next((j for j, n in enumerate(names) if n == wanted_id), None)
    if id_column is None:
        id_column = next((j for j, n in enumerate(names) if n and n in ID_WORDS), 0)
    label_column = next((j for j, n in enumerate(names) if n == wanted_label), None)
    if label_column is None or label_column == id_column:
        others = [j for j, n in enumerate(names) if j != id_column and n in LABEL_WORDS]
        after = id_column + 1 if id_column + 1 < width else 0
        label_column = others[0] if others else after
    return id_column, label_column


def _check_widths(path: Path, rows: Rows) -> int:
    width = len(rows[0][1])
    for number, row in rows:
        if len(row) != width:
            raise DataError(
                path,
                f"line {number} has {len(row)} fields, but line {rows[0][0]} has {width} "
                "(rows of different lengths)",
            )
    return width


def read_labels(
    path: str | Path,
    example_names: Sequence[str] | np.ndarray | None = None,
    *,
    id_column: str | None = None,
    label_column: str | None = None,
) -> tuple[np.ndarray | None, np.ndarray]:
    """Read a labels file.

    Parameters
    ----------
    path
        One column of labels in example order, or id and label columns (TSV, or CSV for
        ``.csv`` names; plain or gzip).
    example_names
        The data's example names, used only to detect a header line and the id column.
    id_column, label_column
        Header names to prefer for the id and label columns (e.g. ``SAMPID``/``SMTSD``).

    Returns
    -------
    names, labels
        The ids (``None`` for a one-column file) and the labels, object arrays of str.
    """
    path = Path(path)
    known = None if example_names is None else {str(name) for name in example_names}
    max_lines = MAX_LABEL_LINES if known is None else max(MAX_LABEL_LINES, 4 * len(known))
    rows = _split_rows(path, _read_lines(path, max_lines), known)
    header = None
    if _has_header(rows, known):
        header, rows = rows[0][1], rows[1:]
        if not rows:
            raise DataError(path, "has a header line but no labels")
    width = _check_widths(path, rows)
    if width == 1:
        return None, np.array([row[0] for _, row in rows], dtype=object)
    ids, labels = _pick_columns(header, width, (id_column, label_column))
    names = np.array([row[ids] for _, row in rows], dtype=object)
    return names, np.array([row[labels] for _, row in rows], dtype=object)


def match_labels(
    example_names: Sequence[str] | np.ndarray | None,
    names: Sequence[str] | np.ndarray | None,
    labels: Sequence[str] | np.ndarray,
    path: str | Path,
) -> np.ndarray:
    """Align labels to the examples; unlisted examples get ``"No class"``.

    A one-column file (``names`` is ``None``) must have one label per example.
    """
    labels = np.asarray([str(label) for label in labels], dtype=object)
    if names is None:
        count = None if example_names is None else len(example_names)
        if count is not None and len(labels) != count:
            raise DataError(
                path,
                f"has {len(labels)} labels but the data have {count} examples "
                "(label count mismatch)",
            )
        return labels
    if example_names is None:
        raise DataError(path, "lists example ids, but the data have no example names to match")
    lookup: dict[str, str] = {}
    for name, label in zip(names, labels, strict=True):
        lookup.setdefault(str(name), label)
    matched = np.array([lookup.get(str(name), NO_CLASS) for name in example_names], dtype=object)
    if len(example_names) and not any(str(name) in lookup for name in example_names):
        raise DataError(
            path,
            f"none of its {len(lookup)} ids matches an example name "
            f"(first id '{names[0]}', first example '{example_names[0]}')",
        )
    return matched


def labels_for(
    path: str | Path,
    example_names: Sequence[str] | np.ndarray,
    *,
    id_column: str | None = None,
    label_column: str | None = None,
) -> np.ndarray:
    """Read ``path`` with :func:`read_labels` and align it to ``example_names``."""
    names, labels = read_labels(path, example_names, id_column=id_column, label_column=label_column)
    return match_labels(example_names, names, labels, path)
