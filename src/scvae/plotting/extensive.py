"""Figures of the ``all`` analyses and the extensive level: clustered heat maps, latent
correlations and pairs, values per class, and image grids.

Every function takes plain arrays and returns a Figure; the caller saves it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from scvae.plotting.style import (
    class_colours,
    label_strings,
    new_figure,
    ordered_classes,
    place_legend,
    styled,
)


def hierarchical_order(values: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Average-linkage clustering of the rows: ``(leaf order, linkage matrix)``."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import pdist

    distances = np.nan_to_num(pdist(np.asarray(values, dtype=float), metric=metric))
    tree = linkage(distances, method="average")
    return leaves_list(tree), tree


@styled
def plot_clustered_heat_map(
    values: np.ndarray,
    tree: np.ndarray,
    *,
    row_classes: Sequence[Any] | None = None,
    palette: Mapping[Hashable, Any] | None = None,
    log: bool = False,
    colour_label: str | None = None,
    x_label: str | None = None,
    title: str | None = None,
) -> Figure:
    """Rows ordered by a dendrogram (left), a class strip, and the values as a heat map."""
    from matplotlib.colors import LogNorm
    from scipy.cluster.hierarchy import dendrogram

    values = np.asarray(values, dtype=float)
    figure = new_figure(8.0, 6.0)
    ratios = [4, 1, 24] if row_classes is not None else [4, 24]
    axes_list = figure.subplots(1, len(ratios), width_ratios=ratios, sharey=False)
    tree_axes, map_axes = axes_list[0], axes_list[-1]
    leaves = dendrogram(tree, ax=tree_axes, orientation="left", no_labels=True, color_threshold=0)
    tree_axes.invert_yaxis()
    tree_axes.set_axis_off()
    order = np.asarray(leaves["leaves"])
    ordered = values[order]
    if row_classes is not None:
        classes = label_strings(np.asarray(row_classes)[order])
        colours = class_colours(ordered_classes(classes), palette)
        strip = np.array([colours[name] for name in classes])[:, None, :]
        axes_list[1].imshow(strip, aspect="auto", interpolation="nearest")
        axes_list[1].set_axis_off()
    positive = ordered[ordered > 0]
    norm = LogNorm(positive.min(), positive.max()) if log and positive.size else None
    image = map_axes.imshow(
        np.where(ordered > 0, ordered, np.nan) if norm is not None else ordered,
        aspect="auto",
        interpolation="nearest",
        norm=norm,
    )
    map_axes.set_yticks([])
    bar = figure.colorbar(image, ax=map_axes)
    if colour_label:
        bar.set_label(colour_label)
    if x_label:
        map_axes.set_xlabel(x_label)
    if title:
        map_axes.set_title(title)
    return figure


@styled
def plot_pairs(
    pairs: Sequence[tuple[np.ndarray, np.ndarray, str, str, float]],
    *,
    labels: Sequence[Any] | None = None,
    palette: Mapping[Hashable, Any] | None = None,
    title: str | None = None,
) -> Figure:
    """A grid of scatter plots ``(x, y, x name, y name, correlation)``, coloured by label."""
    count = max(len(pairs), 1)
    columns = int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    figure = new_figure(2.2 * columns + 1.5, 2.2 * rows)
    grid = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    colours, classes = _colours(labels, palette)
    for axes, (x, y, x_name, y_name, r) in zip(grid, pairs, strict=False):
        axes.scatter(x, y, s=2, c=colours, linewidths=0)
        axes.set_xlabel(x_name)
        axes.set_ylabel(y_name)
        axes.set_title(f"r = {r:.2f}")
    for axes in grid[len(pairs) :]:
        axes.set_axis_off()
    _legend(grid[0], classes, palette)
    if title:
        figure.suptitle(title)
    return figure


@styled
def plot_pair_grid(
    values: np.ndarray,
    names: Sequence[str],
    *,
    labels: Sequence[Any] | None = None,
    palette: Mapping[Hashable, Any] | None = None,
) -> Figure:
    """Every pair of columns against each other; histograms on the diagonal."""
    values = np.asarray(values, dtype=float)
    size = values.shape[1]
    figure = new_figure(1.6 * size + 1.5, 1.6 * size)
    grid = figure.subplots(size, size, squeeze=False)
    colours, classes = _colours(labels, palette)
    for i in range(size):
        for j in range(size):
            axes = grid[i, j]
            if i == j:
                axes.hist(values[:, i], bins=30, color="tab:grey")
            else:
                axes.scatter(values[:, j], values[:, i], s=1, c=colours, linewidths=0)
            axes.tick_params(labelsize=5)
            if i == size - 1:
                axes.set_xlabel(names[j])
            if j == 0:
                axes.set_ylabel(names[i])
    _legend(grid[0, -1], classes, palette)
    return figure


@styled
def plot_values_by_class(
    values: np.ndarray,
    names: Sequence[str],
    labels: Sequence[Any],
    *,
    palette: Mapping[Hashable, Any] | None = None,
    title: str | None = None,
) -> Figure:
    """One panel per column: its values as a box per class."""
    values = np.asarray(values, dtype=float)
    labels = label_strings(labels)
    classes = ordered_classes(labels)
    colours = class_colours(classes, palette)
    count = values.shape[1]
    figure = new_figure(max(4.0, 0.4 * len(classes) + 1.5), 1.8 * count + 0.6)
    grid = np.atleast_1d(figure.subplots(count, 1, squeeze=False, sharex=True)).ravel()
    for axes, column, name in zip(grid, values.T, names, strict=True):
        groups = [column[labels == name] for name in classes]
        boxes = axes.boxplot(groups, patch_artist=True, showfliers=False)
        for patch, name_ in zip(boxes["boxes"], classes, strict=True):
            patch.set_facecolor(colours[name_])
        axes.set_ylabel(name)
    grid[-1].set_xticks(range(1, len(classes) + 1), classes, rotation=90)
    if title:
        grid[0].set_title(title)
    return figure


@styled
def plot_images(
    images: np.ndarray,
    shape: Sequence[int],
    *,
    titles: Sequence[str] | None = None,
    columns: int = 10,
    title: str | None = None,
) -> Figure:
    """Rows of pixel values drawn as a grid of grey-scale images of ``shape``."""
    images = np.asarray(images, dtype=float)
    count = max(len(images), 1)
    columns = min(columns, count)
    rows = int(np.ceil(count / columns))
    figure = new_figure(1.0 * columns, 1.0 * rows + (0.3 if title else 0.0))
    grid = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for index, axes in enumerate(grid):
        axes.set_axis_off()
        if index < len(images):
            axes.imshow(images[index].reshape(tuple(shape)), cmap="binary", interpolation="none")
            if titles is not None:
                axes.set_title(titles[index], fontsize=6)
    if title:
        figure.suptitle(title)
    return figure


def _colours(labels, palette):
    if labels is None:
        return "tab:blue", []
    strings = label_strings(labels)
    classes = ordered_classes(strings)
    colours = class_colours(classes, palette)
    return np.array([colours[name] for name in strings]), classes


def _legend(axes, classes: list[str], palette) -> None:
    if not classes or len(classes) > 40:
        return
    from matplotlib.lines import Line2D

    colours = class_colours(classes, palette)
    handles = [
        Line2D([], [], marker="o", linestyle="", color=colours[name], markersize=4)
        for name in classes
    ]
    place_legend(axes, handles, classes)
