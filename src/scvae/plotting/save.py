"""The one way figures reach the disk."""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.figure import Figure

from scvae.io import atomic_path
from scvae.plotting.style import DPI

_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}


def save_figure(figure: Figure, path: str | os.PathLike[str], publication: bool = False) -> Path:
    """Write ``figure`` atomically and close it; return the main file written.

    Parameters
    ----------
    figure
        A figure from one of the ``plot_*`` functions (or any matplotlib figure).
    path
        Target file. Without a suffix (or with an unknown one) ``.png`` is added;
        ``.pdf`` and ``.svg`` are kept. Missing folders are created.
    publication
        Also write a vector PDF beside the main file (same name, ``.pdf``), for
        ``--export-options publication``.

    Returns
    -------
    Path
        The main file (PNG unless ``path`` asked for PDF or SVG).
    """
    target = Path(path)
    if target.suffix.lower() not in _FORMATS:
        target = target.with_name(target.name + ".png")
    try:
        _write(figure, target)
        if publication and target.suffix.lower() != ".pdf":
            _write(figure, target.with_suffix(".pdf"))
    finally:
        _close(figure)
    return target


def _write(figure: Figure, target: Path) -> None:
    file_format = _FORMATS[target.suffix.lower()]
    with atomic_path(target) as temporary:
        figure.savefig(temporary, format=file_format, dpi=DPI, bbox_inches="tight")


def _close(figure: Figure) -> None:
    """Release a figure: through pyplot when pyplot manages it, else nothing holds it."""
    manager = getattr(figure.canvas, "manager", None)
    if manager is not None:
        import matplotlib.pyplot as pyplot

        pyplot.close(figure)
