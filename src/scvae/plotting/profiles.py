"""Profile comparison: one cell's observed counts against the model's reconstruction."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from scvae.plotting.style import as_1d, new_figure, styled


@styled
def plot_profile_comparison(
    original: Sequence[float] | np.ndarray,
    reconstructed: Sequence[float] | np.ndarray,
    *,
    total_standard_deviations: Sequence[float] | np.ndarray | None = None,
    explained_standard_deviations: Sequence[float] | np.ndarray | None = None,
    sort: bool = True,
    log_x: bool = True,
    log_y: bool = False,
    y_cutoff: float | None = None,
    x_label: str = "Features",
    y_label: str = "Counts",
    title: str | None = None,
) -> Figure:
    """Observed counts (points) and expected reconstruction (line) over the features.

    Parameters
    ----------
    original, reconstructed
        One example's observed values and the model's expected values, length ``F``.
    total_standard_deviations, explained_standard_deviations
        Optional per-feature standard deviations drawn as bands around the line.
    sort
        Order the features by descending expected value (else keep their order).
    log_x, log_y
        Log x-axis (feature rank); symmetric-log y-axis.
    y_cutoff
        Upper limit of the y-axis (the original's "cutoff" figures use 10.5).
    """
    observed = as_1d(original, "original")
    expected = as_1d(reconstructed, "reconstructed")
    if observed.shape != expected.shape:
        raise ValueError(f"original {observed.shape} and reconstructed {expected.shape} differ")
    order = np.argsort(-expected, kind="stable") if sort else np.arange(expected.size)
    positions = np.arange(1, expected.size + 1)
    figure = new_figure(6.4, 4.0)
    axes = figure.subplots()
    bands = (
        (total_standard_deviations, "Total standard deviation", 0.2),
        (explained_standard_deviations, "Explained standard deviation", 0.35),
    )
    for deviations, label, alpha in bands:
        if deviations is not None:
            spread = as_1d(deviations, label)[order]
            if spread.shape != expected.shape:
                raise ValueError(f"{label.lower()} must have shape {expected.shape}")
            centre = expected[order]
            axes.fill_between(
                positions,
                centre - spread,
                centre + spread,
                color="tab:orange",
                alpha=alpha,
                linewidth=0,
                label=label,
            )
    axes.scatter(
        positions, observed[order], s=4.0, color="tab:blue", linewidths=0, label="Original"
    )
    axes.plot(positions, expected[order], color="tab:orange", linewidth=1.2, label="Reconstruction")
    if log_x:
        axes.set_xscale("log")
    if log_y:
        axes.set_yscale("symlog", linthresh=1.0)
    if y_cutoff is not None:
        axes.set_ylim(top=y_cutoff)
    axes.set_xlabel(f"{x_label} (sorted by reconstruction)" if sort else x_label)
    axes.set_ylabel(y_label)
    axes.legend(loc="upper right")
    if title:
        axes.set_title(title)
    return figure


@styled
def plot_profile_grid(
    profiles: Sequence[tuple[str, np.ndarray, np.ndarray]],
    *,
    columns: int = 2,
    x_label: str = "Features",
    y_label: str = "Counts",
    title: str | None = None,
) -> Figure:
    """A few cells' profile comparisons side by side, each titled with the cell's name.

    Parameters
    ----------
    profiles
        ``(title, original, reconstructed)`` per cell; features are sorted by
        descending reconstruction on a log x-axis, and the y-axis is symmetric-log
        (linear below one count), so both the few large counts and the many small
        ones stay visible.
    """
    if not profiles:
        raise ValueError("give at least one profile")
    columns = max(1, min(columns, len(profiles)))
    rows = -(-len(profiles) // columns)
    figure = new_figure(4.2 * columns, 2.8 * rows + (0.3 if title else 0.0))
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes, (name, original, reconstructed) in zip(grid.flat, profiles, strict=False):
        observed, expected = as_1d(original, "original"), as_1d(reconstructed, "reconstructed")
        if observed.shape != expected.shape:
            raise ValueError(f"original {observed.shape} and reconstructed {expected.shape} differ")
        order = np.argsort(-expected, kind="stable")
        positions = np.arange(1, expected.size + 1)
        axes.scatter(positions, observed[order], s=3.0, color="tab:blue", linewidths=0,
                     label="Original")  # fmt: skip
        axes.plot(positions, expected[order], color="tab:orange", linewidth=1.2,
                  label="Reconstruction (mean)")  # fmt: skip
        axes.set_xscale("log")
        axes.set_yscale("symlog", linthresh=1.0, linscale=0.6)
        axes.set_ylim(bottom=-0.15)  # zero counts show above the axis line
        axes.set_title(name)
        axes.set_xlabel(f"{x_label} (sorted by reconstruction)")
        axes.set_ylabel(y_label)
    for axes in list(grid.flat)[len(profiles) :]:
        axes.set_visible(False)
    grid.flat[0].legend(loc="upper right")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure
