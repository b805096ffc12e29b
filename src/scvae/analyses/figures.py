"""Figures and decomposition tables of one evaluated model version."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scvae.analyses import common
from scvae.analyses.titles import space_title
from scvae.data.matrix import read_rows
from scvae.plotting import (
    plot_histogram,
    plot_learning_curves,
    plot_mixture_probabilities,
    plot_profile_comparison,
    plot_profile_grid,
    plot_scatter,
)

#: profile comparisons get cut-off versions above this maximum count
PROFILE_CUTOFF_LIMIT = 31.5
PROFILE_CUTOFF = 10.5
#: the standard level shows this many cells' profiles in one figure (one per large class)
REPRESENTATIVE_PROFILES = 4
#: analysis names that ask for every profile comparison (five figures per cell)
EVERY_PROFILE = ("all", "profile_comparisons")
#: title of the learning curves
CURVES_TITLE = "Learning curves: nats per cell (training solid, validation dashed)"


def result_figures(
    folder: Path,
    *,
    chosen: frozenset[str],
    context,
    data_set,
    evaluation,
    predictions: list,
    samples: dict | None = None,
) -> list[Path]:
    """Write the figures (and decomposition TSVs) of the chosen analyses; return the paths.

    A progress line counts the figures while they are drawn (on a terminal).
    """
    with common.drawing(f"Drawing figures in {folder.name}") as step:
        return _result_figures(
            folder, chosen, context, data_set, evaluation, predictions, samples,
            common.saver(context.analysis, step),
        )  # fmt: skip


def _result_figures(
    folder: Path, chosen, context, data_set, evaluation, predictions, samples, save
) -> list[Path]:
    written: list[Path] = []
    if "learning_curves" in chosen:
        written += _learning_curves(folder, context, save)
    if "profile_comparisons" in chosen and evaluation.reconstruction is not None:
        written += _profiles(folder / "profile_comparisons", context, data_set, evaluation, save)
    if "distributions" in chosen and evaluation.reconstruction is not None:
        written += _distributions(
            folder / "histograms", evaluation.reconstruction, data_set.terms, save,
            totals=getattr(evaluation, "reconstruction_totals", None),
        )  # fmt: skip
    if context.analysis.analysis_level == "extensive" and evaluation.reconstruction is not None:
        written += _differences(folder / "heat_maps", data_set, evaluation, save)
    colourings = common.colourings(
        data_set, evaluation.reconstruction_rows, predictions, context.analysis
    )
    methods = context.analysis.decomposition_methods
    if "decompositions" in chosen and evaluation.reconstruction is not None:
        written += _decompositions(folder, data_set, evaluation, samples, colourings, methods, save)
    if "latent_space" in chosen:
        written += _latent_space(folder, context, data_set, evaluation, predictions, methods, save)
    from scvae.analyses.extra_figures import extra_figures

    written += extra_figures(
        folder,
        chosen=chosen,
        context=context,
        data_set=data_set,
        evaluation=evaluation,
        predictions=predictions,
        save=save,
    )
    return written


def _decompositions(folder, data_set, evaluation, samples, colourings, methods, save) -> list[Path]:
    """Reconstructions, and originals with the model's samples, as log-normalised counts.

    Each example (and sample) is scaled to the originals' median total before ``log1p``,
    so a few cells with very large totals do not make the first components.
    """
    rows = evaluation.reconstruction_rows
    names = np.asarray(data_set.example_names)[rows]
    original = read_rows(data_set.values, rows)
    target = common.median_total(original)
    note = common.LOG_NORMALISED
    reconstruction = common.log_normalised(evaluation.reconstruction, target)
    written = []
    for method in methods:
        written += common.decomposition_set(
            folder / "reconstructions", "reconstructions", reconstruction, names, method,
            colourings, save, input_note=note,
        )  # fmt: skip
    if samples is not None:
        original = common.log_normalised(original, target)
        drawn = common.log_normalised(samples["x"], target)
        for method in methods:
            written += common.decomposition_set(
                folder / "originals", "originals", original, names, method, colourings, save,
                samples=drawn, input_note=note,
            )  # fmt: skip
    return written


def _learning_curves(folder: Path, context, save) -> list[Path]:
    import pandas as pd

    from scvae.folders import CURVES_NAME

    path = Path(context.run) / CURVES_NAME
    if not path.is_file():
        return []
    curves = pd.read_csv(path)
    return (
        []
        if curves.empty
        else [
            save(plot_learning_curves(curves, title=CURVES_TITLE), folder / "learning_curves.png")
        ]
    )


def every_profile(analysis) -> bool:
    """Whether every profile comparison is drawn: ``all``, the name itself, or extensive."""
    named = any(name in EVERY_PROFILE for name in analysis.included_analyses)
    return named or analysis.analysis_level == "extensive"


def representative_rows(profile_rows, labels, number: int) -> list[int]:
    """One profile row from each of the ``number`` largest classes (the first rows unlabelled).

    Classes are ranked by their number of examples in the evaluated set.
    """
    rows = [int(row) for row in profile_rows]
    if labels is None:
        return rows[:number]
    strings = np.asarray(labels).astype(str)
    names, sizes = np.unique(strings, return_counts=True)
    chosen = []
    for name in names[np.argsort(-sizes, kind="stable")]:
        row = next((row for row in rows if strings[row] == name), None)
        if row is not None:
            chosen.append(row)
        if len(chosen) == number:
            break
    return chosen


def _profile_grid(folder: Path, context, data_set, evaluation, save) -> list[Path]:
    number = 1 if context.analysis.analysis_level == "limited" else REPRESENTATIVE_PROFILES
    rows = representative_rows(evaluation.profile_rows, data_set.labels, number)
    position = {int(row): index for index, row in enumerate(evaluation.reconstruction_rows)}
    terms = data_set.terms
    count, example, kind = (
        terms.get("type", "count"),
        terms.get("example", "example"),
        terms["class"],
    )
    profiles = []
    for row in (row for row in rows if row in position):
        original = read_rows(data_set.values, [row]).toarray().ravel()
        label = "" if data_set.labels is None else f": {kind} {data_set.labels[row]}"
        name = f"{data_set.example_names[row]}{label}"
        profiles.append((name, original, evaluation.reconstruction[position[row]]))
    if not profiles:
        return []
    title = f"Original {count}s and their reconstruction"
    if data_set.labels is not None:
        title += f": one {example} from each of the largest {kind}s"
    figure = plot_profile_grid(
        profiles,
        x_label=f"{terms.get('feature', 'feature').capitalize()}s",
        y_label=f"{count.capitalize()}s",
        title=title,
    )
    return [save(figure, folder / "profile_comparisons.png")]


def _profiles(folder: Path, context, data_set, evaluation, save) -> list[Path]:
    written = _profile_grid(folder, context, data_set, evaluation, save)
    if not every_profile(context.analysis):
        return written
    rows = list(evaluation.profile_rows)
    position = {int(row): index for index, row in enumerate(evaluation.reconstruction_rows)}
    for index, row in enumerate(rows):
        if int(row) not in position:
            continue
        original = read_rows(data_set.values, [int(row)]).toarray().ravel()
        reconstructed = evaluation.reconstruction[position[int(row)]]
        label = "" if data_set.labels is None else f"-{common.token(data_set.labels[row])}"
        stem = f"profile_comparison-{common.token(data_set.example_names[row])}{label}"
        name = str(data_set.example_names[row])
        if data_set.labels is not None:
            name += f": {data_set.terms['class']} {data_set.labels[row]}"
        axes = {"x_label": f"{data_set.terms.get('feature', 'feature').capitalize()}s"}
        bands = {
            "total_standard_deviations": evaluation.total_sd[index],
            "explained_standard_deviations": evaluation.explained_sd[index],
        }
        for sort, suffix in ((True, "sorted"), (False, "unsorted")):
            figure = plot_profile_comparison(
                original, reconstructed, sort=sort, title=name, **axes, **bands
            )
            written.append(save(figure, folder / f"{stem}-linear-{suffix}.png"))
        if original.max(initial=0) > PROFILE_CUTOFF_LIMIT:
            for scale, options in (
                ("linear", {}),
                ("log", {"log_y": True}),
                ("both", {"log_y": True, "log_x": True}),
            ):
                figure = plot_profile_comparison(
                    original, reconstructed, y_cutoff=PROFILE_CUTOFF, **options, **axes,
                    title=f"{name} (up to {PROFILE_CUTOFF:g})",
                )  # fmt: skip
                written.append(save(figure, folder / f"{stem}-cutoff-{scale}.png"))
    return written


#: the histograms of reconstructed values use at most this many values (whole examples)
HISTOGRAM_VALUES = 10_000_000
HISTOGRAM_SEED = 61


def histogram_rows(examples: int, features: int, seed: int = HISTOGRAM_SEED) -> np.ndarray:
    """All examples, or a seeded subset holding at most :data:`HISTOGRAM_VALUES` values."""
    limit = max(HISTOGRAM_VALUES // max(int(features), 1), 1)
    if examples <= limit:
        return np.arange(examples)
    return np.sort(np.random.default_rng(seed).choice(examples, limit, replace=False))


def _distributions(
    folder: Path, reconstruction: np.ndarray, terms, save, totals: np.ndarray | None = None
) -> list[Path]:
    """Histograms of the reconstructed values and of each example's total.

    The values come from at most :data:`HISTOGRAM_VALUES` of them (a seeded subset of
    the examples, said in the title); the totals are ``totals`` when given (those of
    every reconstructed example), else the rows' sums.
    """
    reconstruction = np.asarray(reconstruction)
    rows = histogram_rows(*reconstruction.shape)
    values = (
        reconstruction[rows].ravel() if len(rows) < len(reconstruction) else reconstruction.ravel()
    )
    sums = reconstruction.sum(axis=1) if totals is None else np.asarray(totals)
    count, example = terms.get("type", "count"), terms.get("example", "example")
    label = f"Reconstructed {count}s (expected values)"
    shown = f" ({len(rows):,} {example}s)" if len(rows) < len(reconstruction) else ""
    return [
        save(
            plot_histogram(values, x_label=label, title=f"Reconstructed {count}s{shown}"),
            folder / "histogram-normed-counts.png",
        ),
        save(
            plot_histogram(
                values,
                log_x=True,
                x_label=label,
                title=f"Reconstructed {count}s{shown} (log scale)",
            ),
            folder / "histogram-normed-log_values.png",
        ),  # fmt: skip
        save(
            plot_histogram(
                sums,
                log_y=False,
                x_label=f"Total reconstructed {count}s per {example}",
                title=f"Reconstructed total {count}s per {example}",
            ),
            folder / "histogram-normed-count_sum.png",
        ),  # fmt: skip
    ]


def _latent_space(folder, context, data_set, evaluation, predictions, methods, save) -> list[Path]:
    names = np.asarray(data_set.example_names)
    everything = np.arange(data_set.number_of_examples)
    colourings = common.colourings(data_set, everything, predictions, context.analysis)
    centroids = None
    module = getattr(context, "module", None)
    if evaluation.y is not None and module is not None and hasattr(module, "prior_centroids"):
        centroids = tuple(t.cpu().numpy().astype(np.float64) for t in module.prior_centroids())
    written = []
    for variable, values in (("z", evaluation.z), ("y", evaluation.y)):
        if values is None:
            continue
        name = f"latent_space-{variable}"
        if values.shape[1] == 2:
            written += _plain_2d(folder / name, name, values, colourings, save)
        for method in methods:
            written += common.decomposition_set(
                folder / name,
                name,
                values,
                names,
                method,
                colourings,
                save,
                centroids=centroids if variable == "z" else None,
            )
    if evaluation.y is not None:
        prior = centroids[0] if centroids is not None else None
        figure = plot_mixture_probabilities(
            evaluation.y.mean(axis=0), prior, title="Mixture weights of the GMVAE's components"
        )
        written.append(
            save(figure, folder / "latent_space-z" / "probabilities-posterior-prior.png")
        )
    return written


def _plain_2d(folder: Path, name: str, values, colourings, save) -> list[Path]:
    return [
        save(
            plot_scatter(values, title=space_title(name), **options),
            folder / f"{name}-none{suffix}.png",
        )
        for suffix, options in colourings.items()
    ]


def _differences(folder: Path, data_set, evaluation, save) -> list[Path]:
    """Extensive level: heat maps of reconstruction - original and of their log ratio."""
    from scvae.plotting import plot_heat_map

    rows = evaluation.reconstruction_rows[:1000]
    original = read_rows(data_set.values, rows).toarray()
    reconstruction = evaluation.reconstruction[: len(rows)]
    difference = reconstruction - original
    log_ratio = np.log1p(reconstruction) - np.log1p(original)
    return [
        save(
            plot_heat_map(difference, centre=0.0, colour_label="reconstructed - original"),
            folder / "heat_map-difference.png",
        ),
        save(
            plot_heat_map(log_ratio, centre=0.0, colour_label="log ratio (+1)"),
            folder / "heat_map-log_ratio.png",
        ),
    ]
