"""Learning curves and accuracies per epoch, from the ``learning_curves.csv`` table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from scvae.plotting.style import new_figure, styled

#: Axis label of each term of the bound.
TERM_LABELS = {
    "lower_bound": r"$\mathcal{L}$ (ELBO)",
    "reconstruction_error": r"$\log p(x|z)$",
    "kl_divergence": r"KL$(q(z|x)\,\|\,p(z))$",
    "kl_divergence_z": r"KL$_z$",
    "kl_divergence_y": r"KL$_y$",
    "accuracy": "Accuracy",
}
_SET_STYLES = {"training": "-", "validation": "--"}
_TERM_COLOURS = {
    "lower_bound": "tab:blue",
    "reconstruction_error": "tab:orange",
    "kl_divergence": "tab:green",
    "kl_divergence_z": "tab:green",
    "kl_divergence_y": "tab:red",
    "accuracy": "tab:purple",
}


def default_panels(curves: pd.DataFrame) -> list[list[str]]:
    """ELBO with log p(x|z), then each KL term in its own panel (VAE: 2, GMVAE: 3)."""
    panels = [[term for term in ("lower_bound", "reconstruction_error") if term in curves]]
    panels += [[term] for term in ("kl_divergence", "kl_divergence_z", "kl_divergence_y")]
    return [panel for panel in panels if panel and all(term in curves for term in panel)]


@styled
def plot_learning_curves(
    curves: pd.DataFrame,
    panels: Sequence[Sequence[str]] | None = None,
    *,
    terms: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Stacked panels of terms against epochs; training solid, validation dashed.

    Parameters
    ----------
    curves
        Rows of ``learning_curves.csv``: columns ``epoch``, ``set`` and the terms.
        Empty cells (NaN) are skipped.
    panels
        Terms per panel, top to bottom. By default ELBO and log p(x|z), then one
        panel per KL term. ``[["kl_divergence"]]`` gives a single-term figure.
    terms
        Shorthand for one panel with these terms: ``terms=["lower_bound",
        "reconstruction_error"]`` is ``panels=[["lower_bound", "reconstruction_error"]]``.
    title
        Title above the top panel.
    """
    _check_columns(curves, ["epoch", "set"])
    if terms is not None:
        if panels is not None:
            raise ValueError("give panels or terms, not both")
        panels = [list(terms)]
    panels = [list(panel) for panel in (panels or default_panels(curves))]
    if not panels:
        raise ValueError("no learning-curve terms to plot")
    _check_columns(curves, [term for panel in panels for term in panel])
    figure = new_figure(6.4, 1.2 + 2.0 * len(panels))
    axes_list = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for axes, panel in zip(axes_list, panels, strict=True):
        for term in panel:
            _draw_term(axes, curves, term, label_term=len(panel) > 1)
        axes.set_ylabel(TERM_LABELS.get(panel[0], panel[0]) if len(panel) == 1 else "Nat")
        axes.legend(loc="best")
    axes_list[-1].set_xlabel("Epoch")
    if title:
        axes_list[0].set_title(title)
    figure.align_ylabels(axes_list)
    return figure


@styled
def plot_accuracies(
    curves: pd.DataFrame, column: str = "accuracy", *, title: str | None = None
) -> Figure:
    """Accuracy (in %) per epoch for each set, e.g. of a GMVAE's clusters."""
    _check_columns(curves, ["epoch", "set", column])
    figure = new_figure(6.4, 3.2)
    axes = figure.subplots()
    _draw_term(axes, curves, column, label_term=False, scale=100.0)
    axes.set_xlabel("Epoch")
    axes.set_ylabel(f"{TERM_LABELS.get(column, column)} (%)")
    axes.set_ylim(0, 100)
    axes.legend(loc="best")
    if title:
        axes.set_title(title)
    return figure


def _draw_term(axes, curves: pd.DataFrame, term: str, label_term: bool, scale=1.0) -> None:
    for set_name, rows in curves.groupby("set", sort=False):
        values = pd.to_numeric(rows[term], errors="coerce").to_numpy(dtype=float) * scale
        epochs = rows["epoch"].to_numpy(dtype=float)
        kept = np.isfinite(values)
        if not kept.any():
            continue
        label = f"{TERM_LABELS.get(term, term)}, {set_name}" if label_term else str(set_name)
        label += _sample_note(rows)
        axes.plot(
            epochs[kept],
            values[kept],
            linestyle=_SET_STYLES.get(str(set_name), ":"),
            color=_TERM_COLOURS.get(term),
            marker="o" if kept.sum() == 1 else None,
            label=label,
        )


def _sample_note(rows: pd.DataFrame) -> str:
    """`` (20,000 of 1,053,000 cells)`` when the set's last epoch was evaluated on a sample."""
    if "evaluated_cells" not in rows or "set_cells" not in rows:
        return ""
    cells = pd.to_numeric(rows["evaluated_cells"], errors="coerce").to_numpy(dtype=float)
    total = pd.to_numeric(rows["set_cells"], errors="coerce").to_numpy(dtype=float)
    if not (np.isfinite(cells[-1]) and np.isfinite(total[-1]) and cells[-1] < total[-1]):
        return ""
    return f" ({cells[-1]:,.0f} of {total[-1]:,.0f} cells)"


def _check_columns(curves: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [column for column in columns if column not in curves.columns]
    if missing:
        raise ValueError(f"learning curves lack the column(s) {', '.join(missing)}")
