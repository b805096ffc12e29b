"""Heat maps: any labelled matrix (confusion, distances, values) and the KL over epochs."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm, Normalize, TwoSlopeNorm
from matplotlib.figure import Figure

from scvae.plotting.style import class_colours, label_strings, new_figure, ordered_classes, styled

#: Tick labels are written only for axes with at most this many rows/columns.
MAXIMUM_TICK_LABELS = 60
#: Cells are annotated with their values only up to this many cells.
MAXIMUM_ANNOTATED_CELLS = 400


@styled
def plot_heat_map(
    matrix: np.ndarray | pd.DataFrame,
    *,
    row_labels: Sequence[Any] | None = None,
    column_labels: Sequence[Any] | None = None,
    row_classes: Sequence[Any] | None = None,
    palette: Mapping[Hashable, Any] | None = None,
    annotate: bool | None = None,
    log: bool = False,
    centre: float | None = None,
    colour_label: str | None = None,
    x_label: str | None = None,
    y_label: str | None = None,
    title: str | None = None,
) -> Figure:
    """A matrix as coloured cells, e.g. ``pandas.crosstab(labels, cluster_ids)``.

    Parameters
    ----------
    matrix
        ``(R, C)`` values; a DataFrame's index and columns are the default labels
        and axis names.
    row_labels, column_labels
        Tick labels (written when there are at most :data:`MAXIMUM_TICK_LABELS`).
    row_classes, palette
        One class per row, drawn as a colour strip left of the map (rows are
        expected to be sorted by class already).
    annotate
        Write each cell's value; by default for at most
        :data:`MAXIMUM_ANNOTATED_CELLS` cells.
    log, centre
        Log colour scale (positive cells), or a diverging scale centred on ``centre``.
    """
    values, row_labels, column_labels, x_label, y_label = _unpack(
        matrix, row_labels, column_labels, x_label, y_label
    )
    rows, columns = values.shape
    figure = new_figure(min(12.0, 2.5 + 0.3 * columns), min(12.0, 2.0 + 0.3 * rows))
    if row_classes is not None:
        strip_axes, axes = figure.subplots(1, 2, width_ratios=[1, 24], sharey=True)
        _draw_class_strip(strip_axes, row_classes, rows, palette)
    else:
        axes = figure.subplots()
    image = axes.imshow(
        values,
        aspect="auto",
        interpolation="nearest",
        norm=_norm(values, log, centre),
        cmap="RdBu_r" if centre is not None and not log else None,
    )
    bar = figure.colorbar(image, ax=axes)
    if colour_label:
        bar.set_label(colour_label)
    _ticks(axes, row_labels, column_labels)
    if annotate or (annotate is None and rows * columns <= MAXIMUM_ANNOTATED_CELLS):
        _annotate(axes, values, image)
    if x_label:
        axes.set_xlabel(x_label)
    if y_label:
        (axes if row_classes is None else figure.axes[0]).set_ylabel(y_label)
    if title:
        axes.set_title(title)
    return figure


@styled
def plot_kl_heat_map(
    kl_divergences: np.ndarray,
    *,
    epochs: Sequence[int] | None = None,
    sort: bool = True,
    title: str | None = None,
) -> Figure:
    """Per-dimension KL divergence (log scale) over epochs: dimensions down, epochs across.

    Parameters
    ----------
    kl_divergences
        ``(E, L)``: the KL of each of ``L`` latent dimensions at each of ``E`` epochs.
    epochs
        Epoch numbers of the rows (default ``1..E``).
    sort
        Order the dimensions by their final KL, largest at the top.
    """
    values = np.asarray(kl_divergences, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"kl_divergences must have shape (E, L), got {values.shape}")
    number_of_epochs, dimensions = values.shape
    epochs = np.arange(1, number_of_epochs + 1) if epochs is None else np.asarray(epochs)
    order = np.argsort(-values[-1], kind="stable") if sort else np.arange(dimensions)
    shown = values[:, order].T
    positive = shown[shown > 0]
    floor = positive.min() if positive.size else 1.0
    shown = np.clip(shown, floor, None)
    figure = new_figure(6.4, min(10.0, 2.0 + 0.15 * dimensions))
    axes = figure.subplots()
    image = axes.imshow(
        shown,
        aspect="auto",
        interpolation="nearest",
        norm=LogNorm(vmin=floor, vmax=max(shown.max(), floor * 10)),
        extent=(epochs[0] - 0.5, epochs[-1] + 0.5, dimensions - 0.5, -0.5),
    )
    figure.colorbar(image, ax=axes).set_label("KL divergence (nat)")
    if dimensions <= MAXIMUM_TICK_LABELS:
        axes.set_yticks(np.arange(dimensions), [str(index + 1) for index in order])
    axes.set_xlabel("Epoch")
    axes.set_ylabel("Latent dimension" + (" (sorted)" if sort else ""))
    if title:
        axes.set_title(title)
    return figure


def _unpack(matrix, row_labels, column_labels, x_label, y_label):
    if isinstance(matrix, pd.DataFrame):
        row_labels = list(matrix.index) if row_labels is None else row_labels
        column_labels = list(matrix.columns) if column_labels is None else column_labels
        x_label = x_label if x_label is not None else _axis_name(matrix.columns.name)
        y_label = y_label if y_label is not None else _axis_name(matrix.index.name)
    values = np.asarray(matrix, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"matrix must be two-dimensional, got shape {values.shape}")
    for labels, size, name in (
        (row_labels, values.shape[0], "row"),
        (column_labels, values.shape[1], "column"),
    ):
        if labels is not None and len(labels) != size:
            raise ValueError(f"{len(labels)} {name} labels for {size} {name}s")
    return values, row_labels, column_labels, x_label, y_label


def _axis_name(name: Any) -> str | None:
    return None if name is None else str(name)


def _norm(values: np.ndarray, log: bool, centre: float | None) -> Normalize | None:
    finite = values[np.isfinite(values)]
    if log:
        positive = finite[finite > 0]
        if positive.size:
            return LogNorm(vmin=positive.min(), vmax=max(positive.max(), positive.min() * 10))
    if centre is not None and finite.size:
        spread = max(abs(finite.max() - centre), abs(centre - finite.min()), 1e-12)
        return TwoSlopeNorm(vcenter=centre, vmin=centre - spread, vmax=centre + spread)
    return None


def _ticks(axes, row_labels, column_labels) -> None:
    for labels, setter in ((row_labels, axes.set_yticks), (column_labels, axes.set_xticks)):
        if labels is not None and len(labels) <= MAXIMUM_TICK_LABELS:
            setter(np.arange(len(labels)), [str(label) for label in labels])
        elif labels is not None:
            setter([])
    if column_labels is not None and any(len(str(label)) > 3 for label in column_labels):
        axes.tick_params(axis="x", labelrotation=90)


def _annotate(axes, values: np.ndarray, image) -> None:
    integral = np.all(np.isnan(values) | (values == np.round(values)))
    for (row, column), value in np.ndenumerate(values):
        if not np.isfinite(value):
            continue
        red, green, blue, _ = image.cmap(image.norm(value))
        colour = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"
        text = f"{value:.0f}" if integral else f"{value:.3g}"
        axes.text(column, row, text, ha="center", va="center", fontsize=6, color=colour)


def _draw_class_strip(axes, row_classes, rows: int, palette) -> None:
    strings = label_strings(row_classes)
    if len(strings) != rows:
        raise ValueError(f"{len(strings)} row classes for {rows} rows")
    colours = class_colours(ordered_classes(strings), palette)
    strip = np.array([colours[name] for name in strings]).reshape(rows, 1, 4)
    axes.imshow(strip, aspect="auto", interpolation="nearest")
    axes.set_xticks([])
    axes.spines[["left", "bottom"]].set_visible(False)
