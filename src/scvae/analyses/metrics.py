"""Summary statistics of count matrices, computed without densifying (reference §4.2)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scvae.data import statistics
from scvae.data.matrix import as_matrix

if TYPE_CHECKING:
    from scvae.data.data_set import DataSet

_NAN = float("nan")

STATISTICS = ("mean", "standard deviation", "dispersion", "minimum", "maximum", "sparsity")


def summary_statistics(values: Any) -> dict[str, float]:
    """Mean, std. dev. (ddof 1), dispersion (var/mean), min, max, sparsity (share < 0.5).

    Over all N x F values (implicit zeros included), in chunks: ``values`` may be
    in memory (sparse or dense) or backed (left on disk).
    """
    return statistics.summary_statistics(as_matrix(values))


def count_sums(values: Any) -> np.ndarray:
    """The count sum of every example (``float64``), backed or in-memory values alike."""
    return np.asarray(as_matrix(values).row_sums(), dtype=np.float64)


def count_sum_statistics(values: Any) -> dict[str, float]:
    """Statistics of the per-example count sums."""
    sums = count_sums(values)
    if sums.size == 0:
        return dict.fromkeys(("mean", "standard deviation", "minimum", "median", "maximum"), _NAN)
    return {
        "mean": float(sums.mean()),
        "standard deviation": float(sums.std(ddof=1)) if sums.size > 1 else _NAN,
        "minimum": float(sums.min()),
        "median": float(np.median(sums)),
        "maximum": float(sums.max()),
    }


def data_set_statistics(data_set: DataSet) -> dict[str, dict[str, float]]:
    """``{"summary_statistics": ..., "count_sum": ...}`` of one data set's values."""
    return {
        "summary_statistics": summary_statistics(data_set.values),
        "count_sum": count_sum_statistics(data_set.values),
    }


def format_statistics_table(rows: dict[str, dict[str, float]]) -> str:
    """A plain-text table with one row per data set."""
    header = f"{'':<12}" + "".join(f"{name:>20}" for name in STATISTICS)
    lines = [header, "-" * len(header)]
    for name, stats in rows.items():
        lines.append(f"{name:<12}" + "".join(f"{stats[key]:>20.5g}" for key in STATISTICS))
    return "\n".join(lines)


def data_set_metrics_text(
    data_sets: Sequence[DataSet], statistics: dict[str, dict] | None = None
) -> str:
    """The text of ``data_set_metrics.log`` for a data set and its subsets.

    ``statistics`` (kind -> :func:`data_set_statistics`) are computed when not given.
    """
    if statistics is None:
        statistics = {d.kind: data_set_statistics(d) for d in data_sets}
    timestamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    full = data_sets[0]
    lines = [
        f"Timestamp: {timestamp}",
        f"Data set: {full.title}",
        f"Number of features: {full.number_of_features}",
    ]
    for data_set in data_sets:
        lines.append(f"Number of examples ({data_set.kind} set): {data_set.number_of_examples}")
    if full.class_names is not None:
        lines.append(f"Number of classes: {full.number_of_classes}")
    lines += ["", "Summary statistics:"]
    table = {kind: stats["summary_statistics"] for kind, stats in statistics.items()}
    lines += [format_statistics_table(table), "", "Count sums:"]
    for kind, stats in statistics.items():
        described = ", ".join(f"{key}: {value:.6g}" for key, value in stats["count_sum"].items())
        lines.append(f"{kind}: {described}")
    return "\n".join(lines) + "\n"


def write_data_set_metrics(data_sets: Sequence[DataSet], directory: str | Path) -> list[Path]:
    """Write ``data_set_metrics.log`` and ``data_set_metrics.json``; return their paths.

    The statistics are computed once per data set, in chunks (backed values stay on disk).
    """
    from scvae.io import atomic_write_json, atomic_write_text

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / "data_set_metrics.log"
    json_path = directory / "data_set_metrics.json"
    statistics = {d.kind: data_set_statistics(d) for d in data_sets}
    atomic_write_text(log_path, data_set_metrics_text(data_sets, statistics))
    payload = {
        d.kind: {
            "number_of_examples": d.number_of_examples,
            "number_of_features": d.number_of_features,
            **statistics[d.kind],
        }
        for d in data_sets
    }
    atomic_write_json(json_path, payload)
    return [log_path, json_path]
