"""``analyse_data``: the data-set analyses of ``scvae analyse`` (reference §4.2)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from scvae.analyses.metrics import write_data_set_metrics

if TYPE_CHECKING:
    from scvae.data.data_set import DataSet


def analyse_data(data_sets: Sequence[DataSet], directory: str | Path) -> list[Path]:
    """Run the data analyses on a data set (and its subsets); return the files written."""
    return write_data_set_metrics(data_sets, directory)
