"""Histograms: count values, count sums, classes, distances, sorted series."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from scvae.plotting.style import (
    as_1d,
    class_colours,
    label_strings,
    new_figure,
    ordered_classes,
    styled,
)

#: At most this many bins of width one before counts are binned more coarsely.
MAXIMUM_UNIT_BINS = 1000


def histogram_edges(values: np.ndarray, *, discrete: bool, log_x: bool, bins: int = 100):
    """Bin edges: unit bins centred on integers for counts, log-spaced for ``log_x``.

    With ``log_x`` the values are expected to be positive (counts shifted by one);
    discrete values then get log-spaced bins whose edges lie between integers.
    """
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if log_x and discrete:
        low = max(low, 1.0)
        spaced = np.round(np.geomspace(low, max(high, low) + 1.0, bins + 1))
        return np.unique(np.concatenate([spaced, [np.floor(high) + 1.0]])) - 0.5
    if log_x:
        low = max(low, np.nextafter(0.0, 1.0)) if low <= 0 else low
        if high <= low:
            high = low * 10.0
        return np.geomspace(low, high * (1 + 1e-9), bins + 1)
    if discrete and high - low < MAXIMUM_UNIT_BINS:
        return np.arange(np.floor(low), np.floor(high) + 2) - 0.5
    if high <= low:
        high = low + 1.0
    return np.linspace(low, high, bins + 1)


@styled
def plot_histogram(
    values: Sequence[float] | np.ndarray,
    *,
    extra_zeros: int = 0,
    discrete: bool | None = None,
    log_x: bool = False,
    log_y: bool = True,
    normed: bool = True,
    cutoff: float | None = None,
    bins: int = 100,
    x_label: str = "Values",
    title: str | None = None,
) -> Figure:
    """Histogram of values, e.g. of the counts of a matrix or of count sums per cell.

    Parameters
    ----------
    values
        The values (for a sparse matrix: its stored values).
    extra_zeros
        Zeros not in ``values`` (a sparse matrix's implicit zeros) added to the
        bin holding 0, so the histogram describes the whole matrix.
    discrete
        Counts: bins of width one centred on the integers (coarser past
        :data:`MAXIMUM_UNIT_BINS` distinct values). By default, when every value
        is a whole number.
    log_x
        Shift the values by one and use log-spaced bins on a log x-axis.
    log_y, normed
        Log y-axis; frequencies instead of numbers.
    cutoff
        Leave out values above this.
    """
    array = as_1d(values, "values")
    array = array[np.isfinite(array)]
    zeros = np.zeros(1) if extra_zeros else np.zeros(0)
    if cutoff is not None:
        array = array[array <= cutoff]
    if discrete is None:
        discrete = bool(np.all(array == np.round(array)))
    shift = 1.0 if log_x else 0.0
    edges = histogram_edges(
        np.concatenate([array, zeros]) + shift, discrete=discrete, log_x=log_x, bins=bins
    )
    heights, _ = np.histogram(array + shift, bins=edges)
    heights = heights.astype(float)
    if extra_zeros:
        zero_bin = np.searchsorted(edges, shift, side="right") - 1
        heights[min(max(zero_bin, 0), len(heights) - 1)] += extra_zeros
    if normed and heights.sum() > 0:
        heights /= heights.sum()
    figure = new_figure(6.4, 4.0)
    axes = figure.subplots()
    axes.stairs(heights, edges, fill=True, color="tab:blue", alpha=0.8)
    if log_x:
        axes.set_xscale("log")
        x_label = f"{x_label} + 1"
    if log_y and (heights > 0).any():
        axes.set_yscale("log")
    axes.set_xlabel(x_label)
    axes.set_ylabel("Frequency" if normed else "Number")
    if title:
        axes.set_title(title)
    return figure


@styled
def plot_class_counts(
    labels: Sequence[Any],
    *,
    palette: Mapping[Hashable, Any] | None = None,
    normed: bool = True,
    x_label: str = "Classes",
    title: str | None = None,
) -> Figure:
    """Bar per class: how many examples (or which share of them) carry each label."""
    strings = label_strings(labels)
    classes = ordered_classes(strings)
    colours = class_colours(classes, palette)
    numbers = np.array([(strings == name).sum() for name in classes], dtype=float)
    if normed and numbers.sum() > 0:
        numbers /= numbers.sum()
    figure = new_figure(max(4.0, 0.25 * len(classes) + 1.5), 4.0)
    axes = figure.subplots()
    positions = np.arange(len(classes))
    axes.bar(positions, numbers, color=[colours[name] for name in classes])
    axes.set_xticks(positions, classes, rotation=45 if len(classes) > 4 else 0, ha="right")
    axes.set_xlabel(x_label)
    axes.set_ylabel("Frequency" if normed else "Number")
    if title:
        axes.set_title(title)
    return figure


@styled
def plot_distance_histogram(
    distances: np.ndarray,
    *,
    labels: Sequence[Any] | None = None,
    bins: int = 50,
    x_label: str = "Distance",
    title: str | None = None,
) -> Figure:
    """Histogram of pairwise distances, split into within- and between-class pairs.

    Parameters
    ----------
    distances
        A square ``(N, N)`` distance matrix (each pair counted once) or a condensed
        vector as from :func:`scipy.spatial.distance.pdist`.
    labels
        ``N`` labels (square matrix only): draw within-class and between-class
        distances as two overlaid, separately normalised histograms.
    """
    matrix = np.asarray(distances, dtype=float)
    figure = new_figure(6.4, 4.0)
    axes = figure.subplots()
    if matrix.ndim == 2:
        if matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"a distance matrix must be square, got {matrix.shape}")
        rows, columns = np.triu_indices(matrix.shape[0], k=1)
        pairs = matrix[rows, columns]
    elif labels is None:
        pairs = matrix
    else:
        raise ValueError("labels need a square distance matrix")
    edges = histogram_edges(pairs, discrete=False, log_x=False, bins=bins)
    if labels is None:
        axes.hist(pairs, bins=edges, density=True, color="tab:blue", alpha=0.8, label="All pairs")
    else:
        strings = label_strings(labels)
        same = strings[rows] == strings[columns]
        for mask, name, colour in (
            (same, "Within classes", "tab:blue"),
            (~same, "Between classes", "tab:orange"),
        ):
            if mask.any():
                axes.hist(
                    pairs[mask], bins=edges, density=True, alpha=0.6, color=colour, label=name
                )
    axes.legend(loc="best")
    axes.set_xlabel(x_label)
    axes.set_ylabel("Density")
    if title:
        axes.set_title(title)
    return figure


@styled
def plot_sorted_values(
    values: Sequence[float] | np.ndarray,
    *,
    log_y: bool = True,
    x_label: str = "Features (sorted)",
    y_label: str = "Value",
    title: str | None = None,
) -> Figure:
    """Values sorted in descending order, e.g. the standard deviation of every feature."""
    array = np.sort(as_1d(values, "values"))[::-1]
    figure = new_figure(6.4, 4.0)
    axes = figure.subplots()
    axes.plot(np.arange(1, len(array) + 1), array, color="tab:blue")
    if log_y and (array > 0).any():
        axes.set_yscale("log")
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    if title:
        axes.set_title(title)
    return figure
