"""Dense text matrices (TSV, CSV, whitespace; plain or gzip) read in chunks of rows.

The layout is detected from the first lines:

* the delimiter is a comma for ``.csv``/``.csv.gz`` names, otherwise a tab, or runs of
  whitespace when the first line holds no tab;
* the index columns are the leading fields of the first data row that are not numbers
  (the first of them gives the row names);
* the first line is a header when it is not all numbers after its leading names; it may
  hold a name over each index column or leave them out.

Rows are then parsed chunk by chunk with pandas' C parser and stacked as CSR, so only one
chunk is ever held as a dense array. Any malformed input raises :class:`DataError`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from scvae.data.raw import RawData, ReadOptions
from scvae.data.readers.checks import checked_reader
from scvae.data.readers.labels import labels_for
from scvae.data.readers.text_io import (
    NumberedLine,
    bounded_lines,
    check_field_count,
    default_names,
    is_number,
    open_text,
    reading,
    split_fields,
    text_delimiter,
)
from scvae.errors import DataError

#: dense values parsed at once (rows per chunk = this // fields per row)
VALUES_PER_CHUNK = 8_000_000
#: characters of text parsed at once
CHARS_PER_CHUNK = 64 << 20

__all__ = ["TextTable", "default_names", "open_text", "read_text_table", "reading"]


# --------------------------------------------------------------------- layout
@dataclass
class _Layout:
    delimiter: str | None
    index_count: int
    field_count: int
    column_names: np.ndarray | None
    first_data: NumberedLine


@dataclass
class TextTable:
    """A parsed text matrix as stored (rows x numeric columns).

    Attributes
    ----------
    values
        The numeric part, CSR float64.
    row_index
        One object array of names per index column (possibly none).
    column_names
        Names from the header over the numeric columns, or ``None``.
    """

    values: sp.csr_matrix
    row_index: list[np.ndarray]
    column_names: np.ndarray | None


def _leading_names(tokens: list[str]) -> int:
    count = 0
    while count < len(tokens) and not is_number(tokens[count]):
        count += 1
    return count


def _looks_like_header(tokens: list[str]) -> bool:
    leading = _leading_names(tokens)
    return leading == len(tokens) or not all(is_number(t) for t in tokens[leading:])


def _header_names(path: Path, header: list[str], index_count: int, field_count: int) -> np.ndarray:
    if len(header) == field_count:
        names = header[index_count:]
    elif len(header) == field_count - index_count:
        names = header
    else:
        raise DataError(
            path,
            f"the header line has {len(header)} fields, but the data rows have "
            f"{field_count - index_count} values after {index_count} name column(s)",
        )
    return np.array(names, dtype=object)


def _sniff(
    path: Path, lines: Iterator[NumberedLine], index_columns: int | None, header: bool | None
) -> _Layout:
    first = next(lines, None)
    if first is None:
        raise DataError(path, "is empty (no lines with values)")
    delimiter = text_delimiter(path, first[1])
    tokens = split_fields(first[1], delimiter)
    check_field_count(path, first[0], len(tokens))
    has_header = _looks_like_header(tokens) if header is None else header
    data = next(lines, None) if has_header else first
    if data is None:
        raise DataError(path, "has a header line but no data rows")
    row = split_fields(data[1], delimiter)
    check_field_count(path, data[0], len(row))
    index_count = _leading_names(row) if index_columns is None else index_columns
    if len(row) <= index_count:
        hint = " (is it comma-separated? then name it .csv)" if "," in data[1] else ""
        raise DataError(
            path, f"line {data[0]} has no numeric values, so the matrix has no columns{hint}"
        )
    names = _header_names(path, tokens, index_count, len(row)) if has_header else None
    return _Layout(delimiter, index_count, len(row), names, data)


# --------------------------------------------------------------------- chunks
def _peel(path: Path, numbered: NumberedLine, layout: _Layout) -> tuple[list[str], str]:
    """Split the leading names off one line; return them and the numeric remainder."""
    number, line = numbered
    count, delimiter = layout.index_count, layout.delimiter
    if count == 0:
        return [], line if line.endswith("\n") else line + "\n"
    parts = line.split(delimiter, count)
    if delimiter is not None and any(part.startswith('"') for part in parts[:count]):
        fields = split_fields(line, delimiter)
        parts = fields[:count] + [delimiter.join(fields[count:])]
    if len(parts) <= count:
        raise DataError(
            path, f"line {number} has {len(parts)} fields, but the rows have {layout.field_count}"
        )
    names = [part.strip().strip('"') for part in parts[:count]]
    rest = parts[count].rstrip("\r\n") + "\n"
    return names, rest


def _locate_problem(
    path: Path, chunk: list[NumberedLine], layout: _Layout, error: Exception
) -> DataError:
    """Find the first bad line of a chunk that pandas refused, for a precise message."""
    first_number = layout.first_data[0]
    for number, line in chunk:
        fields = split_fields(line, layout.delimiter)
        if len(fields) != layout.field_count:
            return DataError(
                path,
                f"line {number} has {len(fields)} fields, but line {first_number} has "
                f"{layout.field_count} (rows of different lengths)",
            )
        for column, token in enumerate(fields[layout.index_count :], layout.index_count + 1):
            if token == "":
                return DataError(path, f"line {number} has an empty value in column {column}")
            if not is_number(token):
                return DataError(
                    path, f"line {number}, column {column} holds '{token}', which is not a number"
                )
            if not math.isfinite(float(token)):
                return DataError(
                    path, f"line {number}, column {column} holds '{token}', which is too large"
                )
    return DataError(path, f"could not be read as a numeric matrix ({str(error).strip()})")


def _parse_chunk(
    path: Path, chunk: list[NumberedLine], layout: _Layout
) -> tuple[list[list[str]], sp.csr_matrix]:
    peeled = [_peel(path, numbered, layout) for numbered in chunk]
    text = "".join(rest for _, rest in peeled)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=r"\s+" if layout.delimiter is None else layout.delimiter,
            header=None,
            dtype=np.float64,
            engine="c",
            na_filter=False,
            low_memory=False,
        )
    except ValueError as error:  # includes pandas' ParserError and EmptyDataError
        raise _locate_problem(path, chunk, layout, error) from None
    if frame.shape != (len(chunk), layout.field_count - layout.index_count):
        raise _locate_problem(path, chunk, layout, ValueError(f"chunk shape {frame.shape}"))
    names = (
        [list(column) for column in zip(*(n for n, _ in peeled), strict=True)]
        if layout.index_count
        else []
    )
    return names, sp.csr_matrix(frame.to_numpy(dtype=np.float64))


def _chunks(lines: Iterator[NumberedLine], layout: _Layout) -> Iterator[list[NumberedLine]]:
    """Lists of lines holding at most VALUES_PER_CHUNK values and CHARS_PER_CHUNK characters."""
    rows = max(1, VALUES_PER_CHUNK // layout.field_count)
    chunk, characters = [layout.first_data], len(layout.first_data[1])
    for numbered in lines:
        if len(chunk) >= rows or characters >= CHARS_PER_CHUNK:
            yield chunk
            chunk, characters = [], 0
        chunk.append(numbered)
        characters += len(numbered[1])
    if chunk:
        yield chunk


def read_text_table(
    path: str | Path,
    *,
    skip_lines: int = 0,
    index_columns: int | None = None,
    header: bool | None = None,
) -> TextTable:
    """Parse a dense text matrix as stored (no transposition).

    Parameters
    ----------
    path
        The file (plain or gzip).
    skip_lines
        Lines to skip before looking for a header (e.g. the GCT preamble).
    index_columns, header
        Force the number of leading name columns / the presence of a header line;
        ``None`` detects them.
    """
    path = Path(path)
    blocks: list[sp.csr_matrix] = []
    with reading(path), open_text(path) as stream:
        lines = (
            (number, line)
            for number, line in bounded_lines(path, stream)
            if number > skip_lines and line and not line.isspace()
        )
        layout = _sniff(path, lines, index_columns, header)
        index: list[list[str]] = [[] for _ in range(layout.index_count)]
        for chunk in _chunks(lines, layout):
            names, block = _parse_chunk(path, chunk, layout)
            for column, chunk_names in zip(index, names, strict=True):
                column.extend(chunk_names)
            blocks.append(block)
    values = sp.vstack(blocks, format="csr").astype(np.float64, copy=False)
    row_index = [np.array(column, dtype=object) for column in index]
    return TextTable(values, row_index, layout.column_names)


# --------------------------------------------------------------------- readers
def _raw_from_table(
    path: Path, table: TextTable, transpose: bool, options: ReadOptions | None
) -> RawData:
    row_names = table.row_index[0] if table.row_index else None
    values, examples, features = table.values, row_names, table.column_names
    if transpose:
        values, examples, features = values.T.tocsr(), features, examples
    n_examples, n_features = values.shape
    examples = default_names("example", n_examples) if examples is None else examples
    features = default_names("feature", n_features) if features is None else features
    labels = None
    if options is not None and options.labels_path:
        labels = labels_for(options.labels_path, examples)
    return RawData(values=values, example_names=examples, feature_names=features, labels=labels)


@checked_reader
def read_matrix_ebf(path: str | Path, options: ReadOptions | None = None) -> RawData:
    """Read a text matrix whose rows are examples and columns are features.

    Parameters
    ----------
    path
        TSV, CSV or whitespace-separated file, plain or gzip.
    options
        ``labels_path`` (if set) names a labels file matched to the example names.
    """
    path = Path(path)
    return _raw_from_table(path, read_text_table(path), False, options)


@checked_reader
def read_matrix_fbe(path: str | Path, options: ReadOptions | None = None) -> RawData:
    """Read a text matrix whose rows are features and columns are examples (transposed)."""
    path = Path(path)
    return _raw_from_table(path, read_text_table(path), True, options)
