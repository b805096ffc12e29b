"""Text file access shared by the text readers: opening (plain or gzip), bounded lines, fields.

Lines are read with a length limit, so one endless line (a gzip "bomb" of a single
2 GiB line, say) is refused after :data:`MAX_LINE_CHARS` characters instead of being
held in memory; rows may hold at most :data:`MAX_FIELDS` fields.
"""

from __future__ import annotations

import csv
import gzip
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np

from scvae.data.readers.checks import require_regular
from scvae.errors import DataError

#: longest line accepted, in characters
MAX_LINE_CHARS = 64 << 20
#: most fields in one line
MAX_FIELDS = 4_000_000

_GZIP_MAGIC = b"\x1f\x8b"
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")

NumberedLine = tuple[int, str]

csv.field_size_limit(MAX_LINE_CHARS)  # a field may fill a whole line


def is_gzip(path: str | Path) -> bool:
    """Whether ``path`` starts with the gzip magic bytes (the name is not consulted)."""
    require_regular(path)
    with open(path, "rb") as file:
        return file.read(2) == _GZIP_MAGIC


def open_text(path: str | Path) -> IO[str]:
    """Open ``path`` (a regular file) as UTF-8 text, through gzip when its first bytes say so."""
    if is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8-sig")
    return open(path, encoding="utf-8-sig")


def open_binary(path: str | Path) -> IO[bytes]:
    """Open ``path`` (a regular file) as bytes, through gzip when its first bytes say so."""
    if is_gzip(path):
        return gzip.open(path, "rb")
    return open(path, "rb")


@contextmanager
def reading(path: str | Path) -> Iterator[None]:
    """Turn the errors of opening, decompressing and decoding ``path`` into DataError."""
    try:
        yield
    except gzip.BadGzipFile as error:
        raise DataError(path, f"is not a valid gzip file ({error})") from None
    except EOFError:
        raise DataError(path, "is truncated: its gzip data end too early") from None
    except zlib.error as error:
        raise DataError(path, f"is a corrupt gzip file ({error})") from None
    except UnicodeDecodeError:
        raise DataError(path, "is not a text file (it is not valid UTF-8)") from None
    except csv.Error as error:
        raise DataError(path, f"cannot be split into fields ({error})") from None
    except FileNotFoundError:
        raise DataError(path, "no such file") from None
    except IsADirectoryError:
        raise DataError(path, "is a folder, not a file") from None
    except OSError as error:
        raise DataError(path, f"cannot be read ({error.strerror or error})") from None


def bounded_lines(
    path: str | Path, stream: IO[str], limit: int | None = None
) -> Iterator[NumberedLine]:
    """Numbered lines of ``stream``; a line longer than ``limit`` characters is refused."""
    limit = MAX_LINE_CHARS if limit is None else limit
    number = 0
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit:
            raise DataError(
                path, f"line {number} is longer than {limit:,} characters; refusing to read it"
            )
        yield number, line


def text_delimiter(path: str | Path, line: str) -> str | None:
    """Comma for ``.csv``/``.csv.gz``; else tab if ``line`` has one; else ``None`` (whitespace)."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(".csv"):
        return ","
    return "\t" if "\t" in line else None


def split_fields(line: str, delimiter: str | None) -> list[str]:
    """Split one line into stripped fields (quotes handled; ``None`` means whitespace)."""
    line = line.rstrip("\r\n")
    if delimiter is None:
        return line.split()
    return [field.strip() for field in next(csv.reader([line], delimiter=delimiter))]


def check_field_count(path: str | Path, number: int, count: int) -> None:
    """Refuse a line of more than :data:`MAX_FIELDS` fields."""
    if count > MAX_FIELDS:
        raise DataError(
            path, f"line {number} has {count:,} fields, more than the limit of {MAX_FIELDS:,}"
        )


def is_number(token: str) -> bool:
    """Whether ``token`` is a plain decimal number (``nan``/``inf`` are not)."""
    return _NUMBER.fullmatch(token.strip()) is not None


def default_names(kind: str, count: int) -> np.ndarray:
    """``"{kind} 1"`` ... ``"{kind} {count}"`` as an object array."""
    return np.array([f"{kind} {i}" for i in range(1, count + 1)], dtype=object)


def name_table(path: Path, max_rows: int) -> np.ndarray:
    """A tab-separated file without header (names of barcodes or features) as a 2-D array.

    At most ``max_rows`` rows are read: a file with more is refused before its names are
    built. Rows may have different widths; missing fields are empty strings.
    """
    rows: list[list[str]] = []
    with reading(path), open_text(path) as stream:
        for number, line in bounded_lines(path, stream, 1 << 20):
            if not line.strip():
                continue
            if len(rows) >= max_rows:
                raise DataError(path, f"has more than {max_rows:,} lines (too many names)")
            fields = line.rstrip("\r\n").split("\t")
            check_field_count(path, number, len(fields))
            rows.append(fields)
    if not rows:
        raise DataError(path, "is empty")
    width = max(len(row) for row in rows)
    table = np.full((len(rows), width), "", dtype=object)
    for position, row in enumerate(rows):
        table[position, : len(row)] = row
    return table
