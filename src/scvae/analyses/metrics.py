"""Summary statistics of count matrices, computed without densifying (reference §4.2)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from scvae.data.data_set import DataSet

STATISTICS = ("mean", "standard deviation", "dispersion", "minimum", "maximum", "sparsity")


def summary_statistics(values: sp.spmatrix) -> dict[str, float]:
    """Mean, std. dev. (ddof 1), dispersion (var/mean), min, max, sparsity (share < 0.5)."""
    values = sp.csr_matrix(values)
    total = values.shape[0] * values.shape[1]
    data = values.data.astype(np.float64)
    implicit_zeros = total - data.size
    mean = data.sum() / total if total else float("nan")
    squares = np.square(data - mean).sum() + implicit_zeros * mean**2
    variance = squares / (total - 1) if total > 1 else float("nan")
    minimum = min(data.min(initial=np.inf), 0.0 if implicit_zeros else np.inf)
    maximum = max(data.max(initial=-np.inf), 0.0 if implicit_zeros else -np.inf)
    below_half = implicit_zeros + np.count_nonzero(data < 0.5)
    return {
        "mean": float(mean),
        "standard deviation": float(np.sqrt(variance)),
        "dispersion": float(variance / mean) if mean else float("nan"),
        "minimum": float(minimum),
        "maximum": float(maximum),
        "sparsity": float(below_half / total) if total else float("nan"),
    }


def count_sum_statistics(values: sp.spmatrix) -> dict[str, float]:
    """Statistics of the per-example count sums."""
    sums = np.asarray(sp.csr_matrix(values).sum(axis=1)).ravel()
    return {
        "mean": float(sums.mean()),
        "standard deviation": float(sums.std(ddof=1)) if sums.size > 1 else float("nan"),
        "minimum": float(sums.min()),
        "median": float(np.median(sums)),
        "maximum": float(sums.max()),
    }


def format_statistics_table(rows: dict[str, dict[str, float]]) -> str:
    """A plain-text table with one row per data set."""
    header = f"{'':<12}" + "".join(f"{name:>20}" for name in STATISTICS)
    lines = [header, "-" * len(header)]
    for name, stats in rows.items():
        lines.append(f"{name:<12}" + "".join(f"{stats[key]:>20.5g}" for key in STATISTICS))
    return "\n".join(lines)


def data_set_metrics_text(data_sets: Sequence[DataSet]) -> str:
    """The text of ``data_set_metrics.log`` for a data set and its subsets."""
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
    table = {d.kind: summary_statistics(d.values) for d in data_sets}
    lines += [format_statistics_table(table), "", "Count sums:"]
    for data_set in data_sets:
        stats = count_sum_statistics(data_set.values)
        described = ", ".join(f"{key}: {value:.6g}" for key, value in stats.items())
        lines.append(f"{data_set.kind}: {described}")
    return "\n".join(lines) + "\n"


def write_data_set_metrics(data_sets: Sequence[DataSet], directory: str | Path) -> list[Path]:
    """Write ``data_set_metrics.log`` and ``data_set_metrics.json``; return their paths."""
    from scvae.io import atomic_write_json, atomic_write_text

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / "data_set_metrics.log"
    json_path = directory / "data_set_metrics.json"
    atomic_write_text(log_path, data_set_metrics_text(data_sets))
    payload = {
        d.kind: {
            "number_of_examples": d.number_of_examples,
            "number_of_features": d.number_of_features,
            "summary_statistics": summary_statistics(d.values),
            "count_sum": count_sum_statistics(d.values),
        }
        for d in data_sets
    }
    atomic_write_json(json_path, payload)
    return [log_path, json_path]
