"""Learning curves: one CSV row per epoch and set, rewritten atomically."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from scvae.folders import CURVES_NAME
from scvae.io import atomic_write_text

__all__ = ["CURVES_NAME", "curve_columns", "read_curves", "write_curves"]
VAE_TERMS = ("lower_bound", "reconstruction_error", "kl_divergence")
GMVAE_TERMS = ("lower_bound", "reconstruction_error", "kl_divergence_z", "kl_divergence_y")


def curve_columns(terms: Sequence[str]) -> list[str]:
    """``epoch, set, <terms>, accuracy, seconds``."""
    return ["epoch", "set", *terms, "accuracy", "seconds"]


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
    """Rows as dictionaries with ``epoch`` as int and numbers as float (empty -> None)."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            parsed: dict = {"epoch": int(row.pop("epoch")), "set": row.pop("set")}
            parsed.update({key: float(value) if value else None for key, value in row.items()})
            rows.append(parsed)
    return rows
