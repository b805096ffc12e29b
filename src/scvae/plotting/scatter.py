"""Scatter plots of two-dimensional decompositions (and of 2-D latent spaces)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm, Normalize, SymLogNorm, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse

from scvae.plotting.style import (
    NEUTRAL_COLOUR,
    class_colours,
    label_strings,
    new_figure,
    ordered_classes,
    place_legend,
    styled,
)

#: Seed of the drawing order: points are shuffled so no class hides another.
SHUFFLE_SEED = 117
#: Axes span the points between these quantiles, widened by :data:`CLIP_MARGIN` of that
#: span on each side, when some points lie outside that (a few far points)
CLIP_QUANTILES = (0.01, 0.99)
CLIP_MARGIN = 0.5
#: Component ellipses: thin, light lines, drawn under the points' densest parts' colours.
ELLIPSE_STYLE = {"edgecolor": (0.0, 0.0, 0.0, 0.35), "linewidth": 0.6, "linestyle": "--"}


@styled
def plot_scatter(
    values: np.ndarray | pd.DataFrame,
    *,
    labels: Sequence[Any] | None = None,
    palette: Mapping[Hashable, Any] | None = None,
    highlight: str | None = None,
    colour_values: Sequence[float] | None = None,
    colour_label: str | None = None,
    log_colours: bool = False,
    samples: np.ndarray | None = None,
    centroids: np.ndarray | None = None,
    centroid_covariances: np.ndarray | None = None,
    axis_labels: Sequence[str] | None = None,
    legend_title: str | None = None,
    title: str | None = None,
    clip_outliers: bool = True,
) -> Figure:
    """Points of a 2-D decomposition, plain or coloured by classes or by a value.

    Parameters
    ----------
    values
        ``(N, 2)`` coordinates; a DataFrame's column names become axis labels.
    labels, palette
        Colour by class (one legend entry per class). ``palette`` maps class names
        to colours; unnamed classes get generated colours.
    highlight
        With ``labels``: draw only this class in colour, the others in grey.
    colour_values, colour_label, log_colours
        Colour by a number per point (count sum, one feature's values) with a
        colour bar titled ``colour_label``; ``log_colours`` uses a log scale.
    samples
        ``(M, 2)`` points drawn on top (e.g. samples from the model).
    centroids, centroid_covariances
        ``(K, 2)`` means drawn as crosses, with optional ``(K, 2, 2)`` covariances
        drawn as light, dashed one-standard-deviation ellipses.
    legend_title
        Title of the legend (or of the colour bar when ``colour_label`` is not given).
    clip_outliers
        When a few points lie far from the rest (outside the span between the
        :data:`CLIP_QUANTILES`, widened by :data:`CLIP_MARGIN` of it on each side), the
        axes show that widened span and a note says how many points lie outside.
    """
    points, names = _coordinates(values, axis_labels)
    if labels is not None and colour_values is not None:
        raise ValueError("give labels or colour_values, not both")
    figure = new_figure(6.4, 4.8)
    axes = figure.subplots()
    order = np.random.default_rng(SHUFFLE_SEED).permutation(len(points))
    size = 9.0 if len(points) <= 1000 else 2.0
    handles: list = []
    if labels is not None:
        handles = _draw_classes(axes, points, order, size, labels, palette, highlight)
    elif colour_values is not None:
        _draw_continuous(
            figure, axes, points, order, size, colour_values, colour_label or legend_title,
            log_colours,
        )  # fmt: skip
    else:
        axes.scatter(*points[order].T, s=size, color="tab:blue", linewidths=0)
    if samples is not None:
        handles.append(_draw_samples(axes, samples))
    if centroids is not None:
        handles.append(draw_centroids(axes, centroids, centroid_covariances))
        if centroid_covariances is not None:
            handles.append(
                Line2D([], [], color=ELLIPSE_STYLE["edgecolor"], linewidth=0.8, linestyle="--",
                       label="1-σ of each component")
            )  # fmt: skip
    if handles and colour_values is not None:  # the colour bar is beside: legend below
        axes.legend(
            handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12),
            ncols=len(handles), borderaxespad=0.0,
        )  # fmt: skip
    elif handles:
        place_legend(axes, handles, [handle.get_label() for handle in handles], legend_title)
    axes.set_xlabel(names[0])
    axes.set_ylabel(names[1])
    if clip_outliers:
        clip_to_quantiles(axes, points)
    if title:
        axes.set_title(title)
    return figure


def robust_limits(values: np.ndarray) -> tuple[float, float] | None:
    """Axis limits: the :data:`CLIP_QUANTILES` of ``values`` widened by :data:`CLIP_MARGIN`.

    ``None`` when every value lies within them (nothing to clip) or there are fewer
    than 20 values.
    """
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size < 20:
        return None
    low, high = np.quantile(finite, CLIP_QUANTILES)
    span = high - low
    limits = float(low - CLIP_MARGIN * span), float(high + CLIP_MARGIN * span)
    if span <= 0 or (finite.min() >= limits[0] and finite.max() <= limits[1]):
        return None
    return limits


def clip_to_quantiles(axes, points: np.ndarray) -> int:
    """Limit the axes to :func:`robust_limits` and note the points left outside; return them."""
    limits = [robust_limits(points[:, axis]) for axis in (0, 1)]
    if limits == [None, None]:
        return 0
    outside = np.zeros(len(points), dtype=bool)
    setters = (axes.set_xlim, axes.set_ylim)
    for axis, (limit, set_limits) in enumerate(zip(limits, setters, strict=True)):
        if limit is not None:
            set_limits(*limit)
            outside |= (points[:, axis] < limit[0]) | (points[:, axis] > limit[1])
    count = int(outside.sum())
    axes.text(
        0.99, 0.01,
        f"{count} far point{'s' * (count != 1)} outside the axes",
        transform=axes.transAxes, ha="right", va="bottom", fontsize=6, color="0.35",
    )  # fmt: skip
    return count


def _coordinates(values: Any, axis_labels: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    points = np.asarray(values, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"values must have shape (N, 2), got {points.shape}")
    if axis_labels is not None:
        names = [str(name) for name in axis_labels]
    elif isinstance(values, pd.DataFrame):
        names = [str(name) for name in values.columns]
    else:
        names = ["Component 1", "Component 2"]
    return points, names


def _draw_classes(axes, points, order, size, labels, palette, highlight) -> list:
    strings = label_strings(labels)
    if len(strings) != len(points):
        raise ValueError(f"{len(strings)} labels for {len(points)} points")
    classes = ordered_classes(strings)
    colours = class_colours(classes, palette)
    if highlight is not None:
        if highlight not in colours:
            raise ValueError(f"class {highlight!r} is not among the labels")
        grey = to_rgba(NEUTRAL_COLOUR, 0.4)
        colours = {name: colours[name] if name == highlight else grey for name in classes}
        order = order[np.argsort(strings[order] == highlight, kind="stable")]
        legend = {highlight: colours[highlight], "Other": grey}
    else:
        legend = colours
    point_colours = np.array([colours[name] for name in strings[order]]).reshape(-1, 4)
    axes.scatter(*points[order].T, s=size, c=point_colours, linewidths=0)
    return [_marker(label, colour) for label, colour in legend.items()]


def _draw_continuous(figure, axes, points, order, size, colour_values, label, log) -> None:
    numbers = np.asarray(colour_values, dtype=float)
    if numbers.shape != (len(points),):
        raise ValueError(f"colour_values must have shape ({len(points)},), got {numbers.shape}")
    norm: Normalize | None = None
    if log:
        positive = numbers[numbers > 0]
        if positive.size and (numbers > 0).all():
            norm = LogNorm(vmin=positive.min(), vmax=positive.max())
        else:
            norm = SymLogNorm(linthresh=1.0, vmin=np.nanmin(numbers), vmax=np.nanmax(numbers))
    drawn = axes.scatter(
        *points[order].T, s=size, c=numbers[order], norm=norm, cmap="viridis", linewidths=0
    )
    bar = figure.colorbar(drawn, ax=axes)
    if label:
        bar.set_label(label)


def _draw_samples(axes, samples: np.ndarray) -> Line2D:
    samples = np.asarray(samples, dtype=float)
    if samples.ndim != 2 or samples.shape[1] != 2:
        raise ValueError(f"samples must have shape (M, 2), got {samples.shape}")
    axes.scatter(*samples.T, s=4.0, color="black", alpha=0.5, linewidths=0)
    return _marker("Samples", "black")


def draw_centroids(axes, centroids: np.ndarray, covariances: np.ndarray | None) -> Line2D:
    means = np.asarray(centroids, dtype=float)
    if means.ndim != 2 or means.shape[1] != 2:
        raise ValueError(f"centroids must have shape (K, 2), got {means.shape}")
    if covariances is not None:
        for mean, covariance in zip(means, np.asarray(covariances, dtype=float), strict=True):
            axes.add_patch(_ellipse(mean, covariance))
    axes.scatter(*means.T, s=25.0, marker="x", color="black", linewidths=0.9, zorder=3)
    return Line2D([], [], marker="x", linestyle="", color="black", label="Component means")


def _ellipse(mean: np.ndarray, covariance: np.ndarray) -> Ellipse:
    """The one-standard-deviation contour of a 2-D Gaussian."""
    variances, vectors = np.linalg.eigh(covariance)
    width, height = 2.0 * np.sqrt(np.clip(variances[::-1], 0.0, None))
    angle = float(np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1])))
    return Ellipse(tuple(mean), width, height, angle=angle, fill=False, **ELLIPSE_STYLE)


def _marker(label: str, colour: Any) -> Line2D:
    return Line2D([], [], marker="o", linestyle="", markersize=5, color=colour, label=label)
