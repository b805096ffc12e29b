"""Learning curves: one CSV row per epoch and set, rewritten with each epoch's commit.

Besides the terms, each row has the seconds of the epoch's training pass, the seconds of
that set's evaluation, the number of cells it was evaluated on (``evaluated_cells``: the
whole set, or the fixed subsample of a large one) and the number of cells of the set
(``set_cells``). Files written before these columns existed read with them empty
(``None``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from scvae.folders import CURVES_NAME
from scvae.io import atomic_write_text
from scvae.training.commit import RunFileError

__all__ = ["CURVES_NAME", "curve_columns", "read_curves", "write_curves"]
VAE_TERMS = ("lower_bound", "reconstruction_error", "kl_divergence")
GMVAE_TERMS = ("lower_bound", "reconstruction_error", "kl_divergence_z", "kl_divergence_y")
SETS = ("training", "validation")
#: a curves file of a million epochs is a few hundred megabytes; larger ones are refused
MAXIMUM_CURVES_BYTES = 256 << 20


#: columns after the terms and accuracies: timings and the cells each evaluation used
TIMING_COLUMNS = ("seconds", "evaluation_seconds", "evaluated_cells", "set_cells")
#: columns of whole numbers of cells
CELL_COLUMNS = ("evaluated_cells", "set_cells")


def curve_columns(terms: Sequence[str]) -> list[str]:
    """``epoch, set, <terms>, accuracy, superset_accuracy, seconds, evaluation_seconds,
    evaluated_cells, set_cells``."""
    return ["epoch", "set", *terms, "accuracy", "superset_accuracy", *TIMING_COLUMNS]


def write_curves(path: str | Path, rows: Sequence[dict], terms: Sequence[str]) -> None:
    """Write all rows (missing values left empty)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=curve_columns(terms), restval="", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({key: row.get(key, "") for key in curve_columns(terms)})
    atomic_write_text(path, buffer.getvalue())


def read_curves(path: str | Path) -> list[dict]:
    """Rows as dictionaries with ``epoch`` as int and numbers as float (empty -> None).

    Raises
    ------
    RunFileError
        When the file is larger than :data:`MAXIMUM_CURVES_BYTES` or is not a table of
        learning curves (no ``epoch`` and ``set`` columns, values that are not numbers).
    """
    path = Path(path)
    if not path.exists():
        return []
    if path.stat().st_size > MAXIMUM_CURVES_BYTES:
        raise RunFileError(path, f"is larger than {MAXIMUM_CURVES_BYTES:,} bytes")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return [_parse_row(row) for row in csv.DictReader(handle)]
    except (ValueError, TypeError, KeyError, AttributeError, csv.Error) as error:
        raise RunFileError(path, f"is not a table of learning curves ({error})") from error


def _parse_row(row: dict) -> dict:
    if None in row or None in row.values():
        raise ValueError("a row has another number of fields than the header")
    parsed: dict = {"epoch": int(row.pop("epoch")), "set": row.pop("set")}
    if parsed["epoch"] < 1 or parsed["set"] not in SETS:
        raise ValueError(f"invalid epoch {parsed['epoch']} or set {parsed['set']!r}")
    parsed.update({key: float(value) if value else None for key, value in row.items()})
    for name in CELL_COLUMNS:
        cells = parsed.get(name)
        if cells is not None:
            if not cells >= 1 or cells != int(cells):
                raise ValueError(f"invalid number of cells {cells} in {name}")
            parsed[name] = int(cells)
    return parsed
