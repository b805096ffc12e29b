"""The one way figures reach the disk."""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.figure import Figure

from scvae.io import atomic_path
from scvae.plotting.style import DPI

_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}

#: ``--export-options publication``: TIFF copies at this resolution, named
#: ``<name>-publication-<copy>.tiff``, at these widths in cm (``None``: the figure's own);
#: the height keeps the figure's aspect ratio
PUBLICATION_DPI = 350
PUBLICATION_WIDTHS_CM: dict[str, float | None] = {
    "full_width": 17.8,
    "three_quarters_width": 13.2,
    "half_width": 8.6,
    "standard": None,
}


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
        For ``--export-options publication``: also write a vector PDF beside the main
        file (same name, ``.pdf``) and the TIFF copies of :data:`PUBLICATION_WIDTHS_CM`
        at :data:`PUBLICATION_DPI` (LZW-compressed).

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
        if publication:
            _write_publication_copies(figure, target)
    finally:
        _close(figure)
    return target


def _write(figure: Figure, target: Path) -> None:
    file_format = _FORMATS[target.suffix.lower()]
    with atomic_path(target) as temporary:
        figure.savefig(temporary, format=file_format, dpi=DPI, bbox_inches="tight")


def _write_publication_copies(figure: Figure, target: Path) -> None:
    """The TIFF copies, each exactly its width (no tight bounding box), then the size back."""
    width, height = figure.get_size_inches()
    engine = figure.get_layout_engine()
    if engine is None:
        figure.set_layout_engine("tight")
    try:
        for name, centimetres in PUBLICATION_WIDTHS_CM.items():
            new_width = width if centimetres is None else centimetres / 2.54
            figure.set_size_inches(new_width, height * new_width / width)
            copy = target.with_name(f"{target.stem}-publication-{name}.tiff")
            with atomic_path(copy) as temporary:
                figure.savefig(
                    temporary,
                    format="tiff",
                    dpi=PUBLICATION_DPI,
                    pil_kwargs={"compression": "tiff_lzw"},
                )
    finally:
        figure.set_size_inches(width, height)
        if engine is None:
            figure.set_layout_engine("none")


def _close(figure: Figure) -> None:
    """Release a figure: through pyplot when pyplot manages it, else nothing holds it."""
    manager = getattr(figure.canvas, "manager", None)
    if manager is not None:
        import matplotlib.pyplot as pyplot

        pyplot.close(figure)
