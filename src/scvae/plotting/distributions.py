"""Histograms: count values, count sums, classes, distances, sorted series."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
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
#: Linear histograms leave out values above this quantile when a few values lie far out ...
CLIP_QUANTILE = 0.999
#: ... that is, when the largest value is more than this many times that quantile.
CLIP_STRETCH = 3.0


def robust_cutoff(values: np.ndarray, extra_zeros: int = 0) -> tuple[float, float] | None:
    """``(cut, level)``: the ``level`` quantile of the values (and ``extra_zeros`` zeros).

    ``level`` is :data:`CLIP_QUANTILE`, or lower for few values (all but the two largest
    of a few hundred). ``None`` when the largest value is within :data:`CLIP_STRETCH`
    times that quantile (nothing stretches the axis), or with fewer than 20 values.
    """
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    total = finite.size + extra_zeros
    if finite.size == 0 or total < 20:
        return None
    level = 1.0 - max(1.0 - CLIP_QUANTILE, 2.0 / total)
    # the quantile of values and zeros together, as a quantile of the values alone
    within = (level * total - extra_zeros) / finite.size
    cut = float(np.quantile(finite, min(within, 1.0))) if within > 0 else 0.0
    low = min(float(finite.min()), 0.0) if extra_zeros else float(finite.min())
    if cut <= low or finite.max() - low <= CLIP_STRETCH * (cut - low):
        return None
    return cut, level


def histogram_edges(values: np.ndarray, *, discrete: bool, log_x: bool, bins: int = 100):
    """Bin edges: unit bins centred on integers for counts, log-spaced for ``log_x``.

    With ``log_x`` the values are expected to be positive (counts shifted by one);
    discrete values then get log-spaced bins whose edges lie between integers.
    """
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    return edges_between(low, high, discrete=discrete, log_x=log_x, bins=bins)


def edges_between(low: float, high: float, *, discrete: bool, log_x: bool, bins: int = 100):
    """The bin edges of :func:`histogram_edges` for values from ``low`` to ``high``."""
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


@dataclass(frozen=True)
class Binning:
    """How :func:`plot_histogram` bins values (see its parameters).

    ``extra_zeros`` counts zeros not among the values (a sparse matrix's implicit
    zeros); ``discrete=None`` decides from the values (whole numbers or not).
    """

    extra_zeros: int = 0
    discrete: bool | None = None
    log_x: bool = False
    cutoff: float | None = None
    bins: int = 100

    @property
    def shift(self) -> float:
        return 1.0 if self.log_x else 0.0

    def kept(self, values: np.ndarray) -> np.ndarray:
        """The finite values at or below the cut-off."""
        kept = values[np.isfinite(values)]
        return kept if self.cutoff is None else kept[kept <= self.cutoff]


def histogram_counts(
    values: Sequence[float] | np.ndarray, binning: Binning = Binning()
) -> tuple[np.ndarray, np.ndarray]:
    """``(numbers, edges)`` of the histogram :func:`plot_histogram` draws for ``values``."""
    array = as_1d(values, "values")
    return histogram_counts_in_chunks(lambda: [array], [binning])[0]


def histogram_counts_in_chunks(
    chunks: Callable[[], Iterable[Any]], binnings: Sequence[Binning]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Histograms of values that arrive in chunks, as :func:`histogram_counts` bins them.

    ``chunks()`` yields one-dimensional arrays whose concatenation is the values; it is
    called twice (bin ranges, then counts), so only one chunk is held at a time.
    Returns one ``(numbers, edges)`` pair per binning, equal to
    ``histogram_counts(all_values, binning)``.
    """
    ranges = [_empty_range(binning) for binning in binnings]
    for chunk in chunks():
        array = as_1d(chunk, "values")
        ranges = [
            _merged(found, _range(binning.kept(array), binning))
            for found, binning in zip(ranges, binnings, strict=True)
        ]
    edges = [_edges(found, binning) for found, binning in zip(ranges, binnings, strict=True)]
    numbers = [np.zeros(len(bounds) - 1) for bounds in edges]
    for chunk in chunks():
        array = as_1d(chunk, "values")
        for total, bounds, binning in zip(numbers, edges, binnings, strict=True):
            total += np.histogram(binning.kept(array) + binning.shift, bins=bounds)[0]
    for total, bounds, binning in zip(numbers, edges, binnings, strict=True):
        if binning.extra_zeros:
            zero_bin = np.searchsorted(bounds, binning.shift, side="right") - 1
            total[min(max(zero_bin, 0), len(total) - 1)] += binning.extra_zeros
    return list(zip(numbers, edges, strict=True))


def _empty_range(binning: Binning) -> tuple[float, float, bool]:
    """``(low, high, whole)`` before any value: the extra zeros alone (if any)."""
    if binning.extra_zeros:
        return binning.shift, binning.shift, True
    return np.inf, -np.inf, True


def _range(kept: np.ndarray, binning: Binning) -> tuple[float, float, bool]:
    """Lowest and highest shifted value, and whether every value is a whole number."""
    if kept.size == 0:
        return np.inf, -np.inf, True
    shifted = kept + binning.shift
    whole = bool(np.all(kept == np.round(kept)))
    return float(shifted.min()), float(shifted.max()), whole


def _merged(first, second) -> tuple[float, float, bool]:
    return min(first[0], second[0]), max(first[1], second[1]), first[2] and second[2]


def _edges(found: tuple[float, float, bool], binning: Binning) -> np.ndarray:
    low, high, whole = found
    if low > high:  # nothing to bin
        low, high = 0.0, 1.0
    discrete = whole if binning.discrete is None else binning.discrete
    return edges_between(low, high, discrete=discrete, log_x=binning.log_x, bins=binning.bins)


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
    clip_outliers: bool = True,
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
    clip_outliers
        On a linear x-axis without ``cutoff``: when a few values lie far out
        (:func:`robust_cutoff`), leave out the values above the
        :data:`CLIP_QUANTILE` and say so on the figure.
    """
    note = None
    if clip_outliers and cutoff is None and not log_x:
        array = as_1d(values, "values")
        found = robust_cutoff(array, extra_zeros)
        if found is not None:
            cutoff, level = found
            left_out = int((array > cutoff).sum())
            note = (
                f"{left_out:,} value{'s' * (left_out != 1)} above {cutoff:.4g} "
                f"(the {100 * level:.3g} % quantile) not shown"
            )
    binning = Binning(extra_zeros, discrete, log_x, cutoff, bins)
    numbers, edges = histogram_counts(values, binning)
    return plot_binned_histogram(
        numbers, edges, log_x=log_x, log_y=log_y, normed=normed, x_label=x_label, title=title,
        note=note,
    )  # fmt: skip


@styled
def plot_binned_histogram(
    numbers: np.ndarray,
    edges: np.ndarray,
    *,
    log_x: bool = False,
    log_y: bool = True,
    normed: bool = True,
    x_label: str = "Values",
    title: str | None = None,
    note: str | None = None,
) -> Figure:
    """A histogram from its bin ``numbers`` and ``edges`` (as :func:`histogram_counts` gives).

    ``log_x`` marks values shifted by one: a log x-axis, and " + 1" on its label.
    ``note`` is written small in the upper right corner (e.g. what was left out).
    """
    heights = np.asarray(numbers, dtype=float)
    edges = np.asarray(edges, dtype=float)
    if heights.ndim != 1 or edges.shape != (heights.size + 1,):
        raise ValueError(f"need N bin numbers and N + 1 edges, got {heights.shape}, {edges.shape}")
    if normed and heights.sum() > 0:
        heights = heights / heights.sum()
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
    if note:
        axes.text(0.99, 0.99, note, transform=axes.transAxes, ha="right", va="top",
                  fontsize=6, color="0.35")  # fmt: skip
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
