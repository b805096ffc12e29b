"""``--export-options publication``: TIFF copies at 350 dpi and 17.8/13.2/8.6 cm widths."""

from __future__ import annotations

import pytest
from PIL import Image

from scvae.plotting import plot_sorted_values, save_figure

DPI = 350


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One figure saved with publication copies: (folder, width and height in inches)."""
    folder = tmp_path_factory.mktemp("publication")
    figure = plot_sorted_values([3.0, 2.0, 1.0])
    width, height = figure.get_size_inches()
    save_figure(figure, folder / "sorted.png", publication=True)
    return folder, width, height


@pytest.mark.parametrize(
    ("copy", "centimetres"),
    [("full_width", 17.8), ("three_quarters_width", 13.2), ("half_width", 8.6), ("standard", None)],
)
def test_publication_tiffs_have_the_resolution_and_width(saved, copy, centimetres):
    folder, width, height = saved
    path = folder / f"sorted-publication-{copy}.tiff"
    with Image.open(path) as image:
        assert image.format == "TIFF"
        assert image.info["dpi"] == pytest.approx((DPI, DPI), abs=0.01)
        inches = width if centimetres is None else centimetres / 2.54
        assert image.size[0] == pytest.approx(inches * DPI, abs=1)
        assert image.size[1] == pytest.approx(inches * DPI * height / width, abs=1)
        assert image.getextrema()[0][0] < 128  # something is drawn, not a blank page


def test_the_copies_sit_beside_the_png_and_pdf(saved):
    names = sorted(p.name for p in saved[0].iterdir())
    assert names == ["sorted-publication-full_width.tiff", "sorted-publication-half_width.tiff",
                     "sorted-publication-standard.tiff",
                     "sorted-publication-three_quarters_width.tiff", "sorted.pdf", "sorted.png"]  # fmt: skip


def test_without_publication_no_copies_are_written(tmp_path):
    save_figure(plot_sorted_values([1.0, 2.0]), tmp_path / "plain.png")
    assert [p.name for p in tmp_path.iterdir()] == ["plain.png"]
