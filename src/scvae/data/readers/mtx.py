"""MatrixMarket (``.mtx``, plain or gzip) read in blocks, with every declared size checked.

The header and the size line are checked before anything is allocated: the dimensions
must be whole numbers within the limits of :mod:`~scvae.data.readers.checks`, and the
declared number of entries must fit both the file (each entry takes a few bytes) and
the memory budget. Entries are then parsed block by block; their indices must be whole
numbers within the shape, and their number must match the declaration. Values are read
as they are written: an ``integer`` file holding ``1.5`` is refused, never rounded.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import scipy.sparse as sp

from scvae.data.readers.checks import (
    check_budget,
    check_dimension,
    check_values,
    content_bound,
)
from scvae.data.readers.text_io import is_gzip, open_binary, reading
from scvae.errors import DataError

#: bytes of entry lines parsed at once
BLOCK_BYTES = 16 << 20
#: most text a gzip MatrixMarket file may unpack to, per byte of it (real files reach ~5)
PLAUSIBLE_RATIO = 32
#: longest header, comment or size line accepted
MAX_HEADER_LINE = 1 << 16
_FIELDS = ("integer", "real", "double", "pattern")
_SYMMETRIES = ("general", "symmetric", "skew-symmetric")


@dataclass
class Header:
    """What the banner and size line of a MatrixMarket file declare."""

    layout: str  # "coordinate" or "array"
    field: str
    symmetry: str
    rows: int
    columns: int
    entries: int
    line: int  # number of the size line


def read_mtx(path: Path) -> sp.coo_matrix:
    """Read a MatrixMarket matrix as stored (no transposition) into COO.

    Integer files give ``int32``/``int64`` values, real files ``float64``, pattern files ones.
    """
    with reading(path), open_binary(path) as stream:
        header = read_header(path, stream)
        if header.layout == "array":
            return _read_array(path, stream, header)
        return _read_coordinate(path, stream, header)


def _line(path: Path, stream: IO[bytes], number: int) -> str:
    raw = stream.readline(MAX_HEADER_LINE + 1)
    if len(raw) > MAX_HEADER_LINE:
        raise DataError(
            path, f"line {number} of the header is longer than {MAX_HEADER_LINE:,} bytes"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(path, f"line {number} is not text (not valid UTF-8)") from None


def read_header(path: Path, stream: IO[bytes]) -> Header:
    """Parse and check the banner and the size line."""
    banner = _line(path, stream, 1).split()
    if len(banner) != 5 or banner[0].lower() != "%%matrixmarket" or banner[1].lower() != "matrix":
        raise DataError(
            path, "is not a MatrixMarket file (its first line is not '%%MatrixMarket matrix ...')"
        )
    layout, field, symmetry = (word.lower() for word in banner[2:])
    if layout not in ("coordinate", "array"):
        raise DataError(path, f"has the unknown MatrixMarket layout '{banner[2]}'")
    if field not in _FIELDS:
        raise DataError(
            path, f"has MatrixMarket field '{banner[3]}'; only integer, real and pattern are read"
        )
    if symmetry not in _SYMMETRIES:
        raise DataError(path, f"has MatrixMarket symmetry '{banner[4]}', which is not supported")
    number, line = 1, "%"
    while line.startswith("%") or not line.strip():
        number += 1
        line = _line(path, stream, number)
        if not line:
            raise DataError(path, "ends before its size line")
    sizes = line.split()
    expected = 3 if layout == "coordinate" else 2
    if len(sizes) != expected or not all(size.isdigit() for size in sizes):
        raise DataError(
            path,
            f"line {number} should give {expected} whole numbers (the sizes), not '{line.strip()[:80]}'",
        )
    rows = check_dimension(path, sizes[0], "the number of rows")
    columns = check_dimension(path, sizes[1], "the number of columns")
    entries = int(sizes[2]) if layout == "coordinate" else rows * columns
    header = Header(layout, field, symmetry, rows, columns, entries, number)
    _check_declared(path, header)
    return header


def _check_declared(path: Path, header: Header) -> None:
    """The declared entries must fit the matrix, the file's bytes and the memory budget."""
    if header.layout == "coordinate" and header.entries > header.rows * header.columns:
        raise DataError(
            path,
            f"declares {header.entries:,} entries, more than its {header.rows:,} x {header.columns:,} positions",
        )
    if header.symmetry != "general" and header.rows != header.columns:
        raise DataError(path, f"is declared {header.symmetry} but is not square")
    per_entry = {"coordinate": 6 if header.field != "pattern" else 4, "array": 2}[header.layout]
    bound = content_bound(path, is_gzip(path), PLAUSIBLE_RATIO)
    if header.entries * per_entry > bound + 1:
        raise DataError(
            path, f"declares {header.entries:,} entries, more than its {bound:,} bytes can hold"
        )
    copies = 2 if header.symmetry != "general" else 1
    check_budget(path, header.entries * copies, 16, "the MatrixMarket file")


def _blocks(path: Path, stream: IO[bytes], first_line: int):
    """Blocks of whole lines: (number of the first line, bytes)."""
    number, rest = first_line, b""
    while True:
        block = stream.read(BLOCK_BYTES)
        if not block:
            if rest.strip():
                yield number, rest
            return
        block = rest + block
        cut = block.rfind(b"\n")
        if cut < 0:
            if len(block) > BLOCK_BYTES:
                raise DataError(path, f"line {number} is longer than {BLOCK_BYTES:,} bytes")
            rest = block
            continue
        yield number, block[: cut + 1]
        number += block.count(b"\n", 0, cut + 1)
        rest = block[cut + 1 :]


def _parse(path: Path, number: int, block: bytes, width: int) -> np.ndarray:
    """The numbers of a block of lines as an (n, width) float64 array."""
    try:
        frame = pd.read_csv(
            io.BytesIO(block),
            sep=r"\s+",
            header=None,
            dtype=np.float64,
            engine="c",
            comment="%",
            na_filter=False,
        )
    except pd.errors.EmptyDataError:
        return np.empty((0, width))
    except (ValueError, UnicodeDecodeError) as error:
        raise _locate(path, number, block, width, error) from None
    if frame.shape[1] != width:
        raise _locate(path, number, block, width, ValueError(f"{frame.shape[1]} columns"))
    return frame.to_numpy()


def _locate(path: Path, number: int, block: bytes, width: int, error: Exception) -> DataError:
    for offset, raw in enumerate(block.split(b"\n")):
        fields = raw.split()
        if not fields or fields[0].startswith(b"%"):
            continue
        if len(fields) != width:
            return DataError(path, f"line {number + offset} has {len(fields)} fields, not {width}")
        for field in fields:
            shown = field[:40].decode("utf-8", "replace")
            try:
                finite = math.isfinite(float(field))
            except ValueError:
                finite = None
            if finite is None:
                return DataError(
                    path, f"line {number + offset} holds '{shown}', which is not a number"
                )
            if not finite:
                return DataError(
                    path, f"line {number + offset} holds '{shown}', which is not a finite number"
                )
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return DataError(path, f"could not be read as a MatrixMarket file ({detail})")


def _whole(path: Path, values: np.ndarray, limit: int, what: str, first: int) -> np.ndarray:
    bad = (values != np.floor(values)) | (values < 1) | (values > limit)
    if bad.any():
        position = int(np.argmax(bad))
        raise DataError(
            path,
            f"entry {first + position + 1} has the {what} {values[position]:g}, outside 1..{limit:,}",
        )
    return values.astype(np.int32) - 1


def _read_coordinate(path: Path, stream: IO[bytes], header: Header) -> sp.coo_matrix:
    width = 2 if header.field == "pattern" else 3
    rows = np.empty(header.entries, dtype=np.int32)
    columns = np.empty(header.entries, dtype=np.int32)
    values = np.empty(header.entries, dtype=np.float64)
    filled = 0
    for number, block in _blocks(path, stream, header.line + 1):
        parsed = _parse(path, number, block, width)
        if filled + len(parsed) > header.entries:
            raise DataError(path, f"holds more entries than the {header.entries:,} it declares")
        stop = filled + len(parsed)
        rows[filled:stop] = _whole(path, parsed[:, 0], header.rows, "row", filled)
        columns[filled:stop] = _whole(path, parsed[:, 1], header.columns, "column", filled)
        values[filled:stop] = 1.0 if width == 2 else parsed[:, 2]
        filled = stop
    if filled != header.entries:
        raise DataError(
            path, f"holds {filled:,} entries but declares {header.entries:,} (is it cut short?)"
        )
    values = _typed(path, values, header.field)
    if header.symmetry != "general":
        off = rows != columns
        sign = -1 if header.symmetry == "skew-symmetric" else 1
        rows, columns = np.concatenate([rows, columns[off]]), np.concatenate([columns, rows[off]])
        values = np.concatenate([values, sign * values[off]])
    shape = (header.rows, header.columns)
    return sp.coo_matrix((values, (rows, columns)), shape=shape)


def _read_array(path: Path, stream: IO[bytes], header: Header) -> sp.coo_matrix:
    parts = [
        _parse(path, number, block, 1)[:, 0]
        for number, block in _blocks(path, stream, header.line + 1)
    ]
    values = np.concatenate(parts) if parts else np.empty(0)
    if len(values) != header.entries:
        raise DataError(
            path, f"holds {len(values):,} values but declares {header.rows:,} x {header.columns:,}"
        )
    values = _typed(path, values, header.field)
    dense = values.reshape((header.rows, header.columns), order="F")
    return sp.coo_matrix(dense)


def _typed(path: Path, values: np.ndarray, field: str) -> np.ndarray:
    """Values as written: integers must be whole numbers (stored as int32 when they fit)."""
    check_values(path, values, lambda position: f"in entry {position + 1}")
    if field != "integer":
        return values
    fraction = values != np.floor(values)
    if fraction.any():
        position = int(np.argmax(fraction))
        raise DataError(
            path,
            f"is declared 'integer' but entry {position + 1} holds {values[position]:g}",
        )
    limits = np.iinfo(np.int32)
    if not values.size or (values.min() >= limits.min and values.max() <= limits.max):
        return values.astype(np.int32)
    return values.astype(np.int64)
