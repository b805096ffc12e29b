"""The mouse retina set of Macosko et al. (2015): a genes x cells text matrix and clusters.

The values file has a header of cell names and one row per gene (name first). The
cluster file lists a cell name and its cluster number per line, without a header;
cells it does not list get cluster ``0`` ("No class", excluded by default). Clusters
are grouped into cell families (the label superset of reference §2.2).
"""

from __future__ import annotations

import colorsys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scvae.data.builtin.common import count_metadata
from scvae.data.raw import RawData
from scvae.data.readers.text import read_text_table
from scvae.data.readers.text_io import bounded_lines, open_text, reading
from scvae.errors import DataError

#: cell family -> its cluster numbers
FAMILIES: dict[str, list[int]] = {
    "Horizontal": [1],
    "Retinal ganglion": [2],
    "Amacrine": list(range(3, 24)),
    "Rods": [24],
    "Cones": [25],
    "Bipolar": list(range(26, 34)),
    "Müller glia": [34],
    "Others": list(range(35, 40)),
    "No class": [0],
}
SORTED_FAMILIES = [
    "Horizontal", "Retinal ganglion", "Amacrine", "Rods", "Cones", "Bipolar", "Müller glia",
]  # fmt: skip
UNLISTED = "0"


def read_clusters(path: Path, example_names: Sequence[str] | np.ndarray) -> np.ndarray:
    """Cluster numbers (as strings) of ``example_names`` from a two-column cluster file."""
    clusters: dict[str, str] = {}
    with reading(path), open_text(path) as stream:
        for number, line in bounded_lines(path, stream, 1 << 20):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2:
                raise DataError(
                    path, f"line {number} has {len(fields)} fields, not 2 (cell, cluster)"
                )
            cell, cluster = fields
            if not cluster.lstrip("-").isdigit():
                if number == 1:
                    continue  # a header line
                raise DataError(path, f"line {number}: cluster '{cluster}' is not a whole number")
            clusters.setdefault(cell, str(int(cluster)))
    if not clusters:
        raise DataError(path, "lists no cells")
    if len(example_names) and not any(str(name) in clusters for name in example_names):
        raise DataError(path, "none of its cell names matches a cell of the values file")
    return np.array([clusters.get(str(name), UNLISTED) for name in example_names], dtype=object)


def class_palette() -> dict[str, str]:
    """A colour per cluster: one hue per cell family, a lighter shade per member cluster."""
    from matplotlib.colors import to_hex, to_rgb

    hues = ["tab:orange", "tab:red", "tab:blue", "tab:purple", "tab:pink", "tab:green",
            "tab:olive", "tab:gray"]  # fmt: skip
    palette = {UNLISTED: "#000000"}
    for family, colour in zip(list(FAMILIES)[:-1], hues, strict=True):
        hue, lightness, saturation = colorsys.rgb_to_hls(*to_rgb(colour))
        members = FAMILIES[family]
        for position, cluster in enumerate(members):
            shade = lightness + (0.85 - lightness) * position / max(len(members), 2)
            palette[str(cluster)] = to_hex(colorsys.hls_to_rgb(hue, shade, saturation))
    return palette


def macosko_metadata(title: str) -> dict[str, Any]:
    """Label superset, sorted family names, excluded classes and palette of the set."""
    return count_metadata(
        title,
        **{
            "label superset": {f: [str(c) for c in members] for f, members in FAMILIES.items()},
            "sorted superset class names": list(SORTED_FAMILIES),
            "excluded classes": [UNLISTED],
            "excluded superset classes": ["No class"],
            "class palette": class_palette(),
        },
    )


def read_macosko(files: Mapping[str, Path], title: str) -> RawData:
    """Read the values (``values``, genes x cells) and clusters (``labels``), cells x genes."""
    table = read_text_table(files["values"])
    if not table.row_index or table.column_names is None:
        raise DataError(
            files["values"], "needs gene names in its first column and a header of cells"
        )
    cells, genes = table.column_names, table.row_index[0]
    labels = read_clusters(files["labels"], cells) if "labels" in files else None
    return RawData(
        values=table.values.T.tocsr(),
        example_names=cells,
        feature_names=genes,
        labels=labels,
        metadata=macosko_metadata(title),
    )
