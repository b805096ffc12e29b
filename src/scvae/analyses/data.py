"""``analyse_data``: the data-set analyses of ``scvae analyse`` (reference §4.2).

Backed values (``--backed``) stay on disk: statistics and count histograms are read
chunk by chunk, decompositions read only their seeded subset of examples. The in-memory
path runs the same code, so both modes write the same numbers and figures.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from scvae.analyses import common
from scvae.analyses.metrics import count_sums, write_data_set_metrics
from scvae.analyses.selection import included_analyses
from scvae.analyses.titles import SET_NAMES
from scvae.data.matrix import as_matrix, read_rows
from scvae.plotting.distributions import (
    Binning,
    histogram_counts_in_chunks,
    plot_binned_histogram,
)

if TYPE_CHECKING:
    from scvae.config import AnalysisConfig
    from scvae.data.data_set import DataSet

#: decompositions of the original values use at most this many examples (seeded subset)
DECOMPOSITION_LIMIT = 10_000
#: class-count histograms are drawn below this many classes
CLASS_HISTOGRAM_LIMIT = 100


def analyse_data(
    data_sets: Sequence[DataSet],
    directory: str | Path,
    analysis: AnalysisConfig | None = None,
    configuration: Mapping | None = None,
) -> list[Path]:
    """Run the data analyses on a data set (and its subsets); return the files written.

    ``metrics`` (summary statistics), ``distributions`` (histograms of counts, count
    sums and classes) and ``decompositions`` (2-D projections of the log-normalised
    values coloured by labels, batches and count sums) follow ``--included-analyses``.
    ``configuration`` (the options of the run) is shown in the report, beside the
    analysis options.
    """
    from scvae.config import AnalysisConfig

    analysis = analysis or AnalysisConfig()
    chosen = included_analyses(analysis.included_analyses)
    directory = Path(directory)
    written = write_data_set_metrics(data_sets, directory) if "metrics" in chosen else []
    with common.drawing("Drawing figures") as step:
        for data_set in data_sets:
            if "distributions" in chosen:
                written += _histograms(directory / "histograms", data_set, analysis, step)
            if "decompositions" in chosen:
                written += _decompositions(directory, data_set, analysis, step)
    from scvae.analyses.extensive import extensive_data

    written += extensive_data(data_sets, directory, analysis, chosen)
    if not any(path.suffix == ".png" for path in written) or "metrics" not in chosen:
        return written
    from scvae.analyses.titles import report_sections
    from scvae.report import write_report

    summary = directory / "data_set_metrics.json"  # the statistics written above
    metrics = json.loads(summary.read_text()) if summary.is_file() else {}
    shown = {**(configuration or {}), "analysis": analysis.to_dict()}
    written.append(
        write_report(
            directory,
            title=f"scvae analyse: {data_sets[0].title}",
            metrics=metrics,
            configuration=shown,
            sections=report_sections(directory),
            subtitle=f"{data_sets[0].number_of_examples:,} examples x "
            f"{data_sets[0].number_of_features:,} features · {directory}",
        )
    )
    return written


def count_histograms(values, binnings: Sequence[Binning]) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(numbers, edges)`` per binning of all N x F values of a backed or in-memory matrix.

    The stored values are read chunk by chunk (twice: bin ranges, then numbers); the
    implicit zeros enter through each binning's ``extra_zeros``. Equal to
    :func:`~scvae.plotting.distributions.histogram_counts` of the stored values.
    """
    return histogram_counts_in_chunks(
        lambda: (chunk.data for _, chunk in as_matrix(values).iter_chunks()), binnings
    )


def implicit_zeros(values) -> int:
    """How many of the N x F values a sparse (backed or in-memory) matrix does not store."""
    matrix = as_matrix(values)
    return matrix.shape[0] * matrix.shape[1] - matrix.nnz


def _histograms(folder: Path, data_set: DataSet, analysis: AnalysisConfig, step=None) -> list[Path]:
    from scvae.plotting import plot_class_counts, plot_histogram

    save = common.saver(analysis, step)
    kind = data_set.kind
    terms = data_set.terms
    count, example = terms.get("type", "count"), terms.get("example", "example")
    where = SET_NAMES.get(kind, kind)
    zeros = implicit_zeros(data_set.values)
    label = f"{count.capitalize()}s"
    binnings = {
        f"histogram-normed-counts-{kind}.png": (Binning(zeros), f"{label} ({where})"),
        f"histogram-normed-counts-{kind}-log_values.png": (
            Binning(zeros, log_x=True),
            f"{label} ({where}, log scale)",
        ),
    }
    if analysis.analysis_level == "extensive":
        for cutoff in range(1, 10):  # the low counts in detail
            name = f"../histograms-counts/histogram-normed-counts-{kind}-cutoff-{cutoff}.png"
            binnings[name] = (Binning(zeros, cutoff=cutoff), f"{label} up to {cutoff} ({where})")
    counted = count_histograms(data_set.values, [binning for binning, _ in binnings.values()])
    figures = {
        name: plot_binned_histogram(*numbers, log_x=binning.log_x, x_label=label, title=title)
        for (name, (binning, title)), numbers in zip(binnings.items(), counted, strict=True)
    }
    figures[f"histogram-normed-count_sum-{kind}.png"] = plot_histogram(
        count_sums(data_set.values),
        log_y=False,
        x_label=f"Total {count}s per {example}",
        title=f"Total {count}s per {example} ({where})",
    )
    if data_set.labels is not None and (data_set.number_of_classes or 0) < CLASS_HISTOGRAM_LIMIT:
        class_term = terms.get("class", "class")
        figures[f"histogram-normed-classes-{kind}.png"] = plot_class_counts(
            data_set.labels,
            palette=data_set.class_palette,
            x_label=class_term.capitalize(),
            title=f"{example.capitalize()}s per {class_term} ({where})",
        )
        if data_set.superset_labels is not None:
            figures[f"histogram-normed-classes-{kind}-superset.png"] = plot_class_counts(
                data_set.superset_labels,
                x_label=f"{class_term.capitalize()} (superset)",
                title=f"{example.capitalize()}s per {class_term} superset ({where})",
            )
    return [save(figure, Path(os.path.normpath(folder / name))) for name, figure in figures.items()]


def decomposition_rows(number_of_examples: int) -> np.ndarray:
    """The examples whose original values are decomposed: all, or a seeded sorted subset."""
    if number_of_examples <= DECOMPOSITION_LIMIT:
        return np.arange(number_of_examples)
    generator = np.random.default_rng(0)
    return np.sort(generator.choice(number_of_examples, DECOMPOSITION_LIMIT, replace=False))


def _decompositions(
    directory: Path, data_set: DataSet, analysis: AnalysisConfig, step=None
) -> list[Path]:
    rows = decomposition_rows(data_set.number_of_examples)
    values = read_rows(data_set.values, rows)  # the subset only, backed or not
    if data_set.example_type == "counts":
        values, note = common.log_normalised(values), common.LOG_NORMALISED
    else:
        note = None
    colourings = common.colourings(data_set, rows, [], analysis)
    name = f"original_space-{data_set.kind}"
    names = np.asarray(data_set.example_names)[rows]
    save = common.saver(analysis, step)
    written: list[Path] = []
    for method in analysis.decomposition_methods:
        written += common.decomposition_set(
            directory / name, name, values, names, method, colourings, save, input_note=note
        )
    return written
