"""Shared look of every figure: headless figures, rc style, class colours.

Figures are built with :class:`matplotlib.figure.Figure` on an Agg canvas, never
through ``pyplot``: nothing global is touched, so plotting works without a display
and never switches the backend of a user's session.
"""

from __future__ import annotations

import colorsys
import functools
import re
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

#: Resolution of saved PNG figures (the original used 200 dpi).
DPI = 200
#: Label shown for examples without a label.
MISSING_LABEL = "No label"
#: Grey used for missing labels and for overlays.
NEUTRAL_COLOUR = "#9e9e9e"

_STYLE: dict[str, Any] = {
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": "viridis",
    "savefig.bbox": "tight",
}

_F = TypeVar("_F", bound=Callable[..., Figure])


def styled(function: _F) -> _F:
    """Run a ``plot_*`` function inside the house rc style."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with matplotlib.rc_context(_STYLE):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def new_figure(width: float = 6.4, height: float = 4.8) -> Figure:
    """A figure (inches) with an Agg canvas attached and no pyplot manager."""
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def label_strings(labels: Iterable[Any]) -> np.ndarray:
    """Labels as an array of strings; missing values (None, NaN) become :data:`MISSING_LABEL`."""
    series = pd.Series(list(labels), dtype=object)
    missing = series.isna()
    strings = series.astype(str)
    strings[missing] = MISSING_LABEL
    return strings.to_numpy(dtype=object)


def ordered_classes(labels: np.ndarray) -> list[str]:
    """Distinct labels in natural order (numbers numerically), the missing label last."""
    distinct = {str(label) for label in labels}
    missing = [MISSING_LABEL] if MISSING_LABEL in distinct else []
    distinct.discard(MISSING_LABEL)
    return sorted(distinct, key=_natural_key) + missing


def _natural_key(text: str) -> tuple:
    """Numbers first (by value), then text with embedded numbers compared as numbers."""
    try:
        return (0, float(text), ())
    except ValueError:
        parts = re.split(r"(\d+)", text.lower())
        return (
            1,
            0.0,
            tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in parts),
        )


def categorical_colours(number: int) -> list[tuple[float, float, float, float]]:
    """``number`` distinguishable colours: tab10, then tab20, then spaced hues.

    Past 20 classes the hues are spread evenly around the colour wheel and cycle
    through three lightness levels, so neighbouring classes still differ.
    """
    if number <= 10:
        return [to_rgba(colour) for colour in matplotlib.colormaps["tab10"].colors[:number]]
    if number <= 20:
        return [to_rgba(colour) for colour in matplotlib.colormaps["tab20"].colors[:number]]
    colours = []
    for index in range(number):
        hue = index / number
        lightness = (0.45, 0.65, 0.3)[index % 3]
        red, green, blue = colorsys.hls_to_rgb(hue, lightness, 0.75)
        colours.append((red, green, blue, 1.0))
    return colours


def class_colours(
    classes: Sequence[str], palette: Mapping[Hashable, Any] | None = None
) -> dict[str, tuple[float, float, float, float]]:
    """Colour per class: the given palette where it names the class, else generated ones.

    Parameters
    ----------
    classes
        Class names in drawing/legend order.
    palette
        Optional mapping from class (compared as strings) to any matplotlib colour.
    """
    given = {str(key): value for key, value in (palette or {}).items()}
    missing = [name for name in classes if name not in given and name != MISSING_LABEL]
    generated = iter(categorical_colours(len(missing)))
    colours = {}
    for name in classes:
        if name in given:
            colours[name] = to_rgba(given[name])
        elif name == MISSING_LABEL:
            colours[name] = to_rgba(NEUTRAL_COLOUR)
        else:
            colours[name] = next(generated)
    return colours


def place_legend(axes: Any, handles: list, labels: list[str], title: str | None = None) -> None:
    """A legend beside the axes, in columns of at most 20 entries."""
    columns = max(1, int(np.ceil(len(labels) / 20)))
    axes.legend(
        handles,
        labels,
        title=title,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        ncols=columns,
        borderaxespad=0.0,
        handletextpad=0.3,
        columnspacing=0.8,
    )


def as_1d(values: Any, name: str) -> np.ndarray:
    """A one-dimensional float array; raise ``ValueError`` otherwise."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array
