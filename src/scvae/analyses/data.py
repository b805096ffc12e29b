"""``analyse_data``: the data-set analyses of ``scvae analyse`` (reference §4.2)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from scvae.analyses.metrics import write_data_set_metrics
from scvae.analyses.selection import included_analyses
from scvae.data.backed import read_rows

if TYPE_CHECKING:
    from scvae.config import AnalysisConfig
    from scvae.data.data_set import DataSet

#: decompositions of the original values use at most this many examples (seeded subset)
DECOMPOSITION_LIMIT = 10_000
#: class-count histograms are drawn below this many classes
CLASS_HISTOGRAM_LIMIT = 100


def analyse_data(
    data_sets: Sequence[DataSet], directory: str | Path, analysis: AnalysisConfig | None = None
) -> list[Path]:
    """Run the data analyses on a data set (and its subsets); return the files written.

    ``metrics`` (summary statistics), ``distributions`` (histograms of counts, count
    sums and classes) and ``decompositions`` (2-D projections of the original values
    coloured by labels, batches and count sums) follow ``--included-analyses``.
    """
    from scvae.config import AnalysisConfig

    analysis = analysis or AnalysisConfig()
    chosen = included_analyses(analysis.included_analyses)
    directory = Path(directory)
    written = write_data_set_metrics(data_sets, directory) if "metrics" in chosen else []
    for data_set in data_sets:
        if "distributions" in chosen:
            written += _histograms(directory / "histograms", data_set, analysis)
        if "decompositions" in chosen:
            written += _decompositions(directory, data_set, analysis)
    if not any(path.suffix == ".png" for path in written) or "metrics" not in chosen:
        return written
    from scvae.report import write_report

    metrics = {
        data_set.kind: {
            "examples": data_set.number_of_examples,
            "features": data_set.number_of_features,
        }
        for data_set in data_sets
    }
    written.append(
        write_report(
            directory, title=f"scvae: {data_sets[0].title}", metrics=metrics, configuration={}
        )
    )
    return written


def _histograms(folder: Path, data_set: DataSet, analysis: AnalysisConfig) -> list[Path]:
    from scvae.plotting import plot_class_counts, plot_histogram, save_figure

    publication = "publication" in analysis.export_options
    kind = data_set.kind
    values = data_set.values
    stored = np.asarray(values.data, dtype=np.float64)
    implicit = values.shape[0] * values.shape[1] - stored.size
    sums = np.asarray(values.sum(axis=1)).ravel()
    figures = {
        f"histogram-normed-counts-{kind}.png": plot_histogram(
            stored, extra_zeros=implicit, x_label="Counts"
        ),
        f"histogram-normed-counts-{kind}-log_values.png": plot_histogram(
            stored + 1, extra_zeros=0, log_x=True, x_label="Counts + 1 (non-zero values)"
        ),
        f"histogram-normed-count_sum-{kind}.png": plot_histogram(
            sums, log_y=False, x_label="Count sum"
        ),
    }
    if analysis.analysis_level == "extensive":
        for cutoff in range(1, 10):  # the low counts in detail
            figures[f"../histograms-counts/histogram-normed-counts-{kind}-cutoff-{cutoff}.png"] = (
                plot_histogram(stored, extra_zeros=implicit, cutoff=cutoff, x_label="Counts")
            )
    if data_set.labels is not None and (data_set.number_of_classes or 0) < CLASS_HISTOGRAM_LIMIT:
        figures[f"histogram-normed-classes-{kind}.png"] = plot_class_counts(
            data_set.labels, palette=data_set.class_palette
        )
        if data_set.superset_labels is not None:
            figures[f"histogram-normed-classes-{kind}-superset.png"] = plot_class_counts(
                data_set.superset_labels
            )
    return [
        save_figure(figure, Path(os.path.normpath(folder / name)), publication=publication)
        for name, figure in figures.items()
    ]


def _decompositions(directory: Path, data_set: DataSet, analysis: AnalysisConfig) -> list[Path]:
    from types import SimpleNamespace

    from scvae.analyses.figures import _colourings, _decomposition_set, _saver

    n = data_set.number_of_examples
    rows = np.arange(n)
    if n > DECOMPOSITION_LIMIT:
        rows = np.sort(np.random.default_rng(0).choice(n, DECOMPOSITION_LIMIT, replace=False))
    context = SimpleNamespace(analysis=analysis)
    colourings = _colourings(data_set, rows, [], context)
    name = f"original_space-{data_set.kind}"
    values = read_rows(data_set.values, rows)
    names = np.asarray(data_set.example_names)[rows]
    written: list[Path] = []
    for method in analysis.decomposition_methods:
        written += _decomposition_set(
            directory / name, name, values, names, method, colourings, _saver(context)
        )
    return written
