"""Figures comparing many evaluated models (``scvae cross-analyse``).

Every function takes plain arrays or tables and returns a Figure; the caller saves it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from scvae.plotting.style import categorical_colours, new_figure, place_legend, styled

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


@styled
def plot_metric_correlations(
    elbo: Sequence[float],
    metrics: Mapping[str, Sequence[float]],
    correlations: Mapping[str, float | None],
    *,
    title: str | None = None,
) -> Figure:
    """One panel per clustering metric: the metric against the ELBO, Pearson r in the title."""
    names = list(metrics)
    figure = new_figure(3.0 * max(len(names), 1), 3.0)
    axes_list = np.atleast_1d(figure.subplots(1, max(len(names), 1), squeeze=False)[0])
    elbo = np.asarray(elbo, dtype=float)
    for axes, name in zip(axes_list, names, strict=False):
        values = np.asarray(metrics[name], dtype=float)
        kept = np.isfinite(values) & np.isfinite(elbo)
        axes.scatter(elbo[kept], values[kept], s=12)
        r = correlations.get(name)
        axes.set_title(f"{name}: r = {'n/a' if r is None else f'{r:.2f}'}")
        axes.set_xlabel("ELBO")
        axes.set_ylabel(name)
    if title:
        figure.suptitle(title)
    return figure


@styled
def plot_model_metrics(table: pd.DataFrame, metric: str, *, title: str | None = None) -> Figure:
    """A metric per likelihood (x) and model type (one series each), mean with sd bars.

    ``table`` has the columns ``likelihood``, ``type``, ``mean`` and ``sd``.
    """
    likelihoods = list(dict.fromkeys(table["likelihood"]))
    types = list(dict.fromkeys(table["type"]))
    figure = new_figure(1.6 + 0.9 * len(likelihoods), 3.2)
    axes = figure.subplots()
    colours = categorical_colours(len(types))
    width = 0.8 / max(len(types), 1)
    handles = []
    for index, (kind, colour) in enumerate(zip(types, colours, strict=True)):
        rows = table[table["type"] == kind]
        x = np.array([likelihoods.index(name) for name in rows["likelihood"]], dtype=float)
        x += (index - (len(types) - 1) / 2) * width
        handle = axes.errorbar(
            x,
            rows["mean"].to_numpy(dtype=float),
            yerr=np.nan_to_num(rows["sd"].to_numpy(dtype=float)),
            fmt=_MARKERS[index % len(_MARKERS)],
            color=colour,
            capsize=2,
        )
        handles.append(handle)
    axes.set_xticks(range(len(likelihoods)), likelihoods)
    axes.set_xlabel("Likelihood")
    axes.set_ylabel(metric)
    place_legend(axes, handles, types, title="Model")
    if title:
        axes.set_title(title)
    return figure


@styled
def plot_metric_sets(
    points: pd.DataFrame,
    x: str,
    y: str,
    *,
    baselines: Mapping[str, float] | None = None,
    title: str | None = None,
) -> Figure:
    """``y`` against ``x`` per model: colour = likelihood, marker = clustering method.

    ``points`` has the columns ``x``, ``y``, ``likelihood`` and ``method``; each
    baseline (a method without an ELBO) is a dashed horizontal line at its value.
    """
    figure = new_figure(5.2, 3.6)
    axes = figure.subplots()
    likelihoods = list(dict.fromkeys(points["likelihood"]))
    methods = list(dict.fromkeys(points["method"]))
    colours = dict(zip(likelihoods, categorical_colours(len(likelihoods)), strict=True))
    handles, labels = [], []
    for (likelihood, method), rows in points.groupby(["likelihood", "method"], sort=False):
        handle = axes.scatter(
            rows[x].to_numpy(dtype=float),
            rows[y].to_numpy(dtype=float),
            color=colours[likelihood],
            marker=_MARKERS[methods.index(method) % len(_MARKERS)],
            s=18,
        )
        handles.append(handle)
        labels.append(f"{likelihood}, {method}")
    for index, (name, value) in enumerate((baselines or {}).items()):
        if value is None or not np.isfinite(value):
            continue
        line = axes.axhline(value, linestyle="--", color=f"C{index % 10}", linewidth=1)
        handles.append(line)
        labels.append(name)
    axes.set_xlabel(x)
    axes.set_ylabel(y)
    place_legend(axes, handles, labels)
    if title:
        axes.set_title(title)
    return figure
