"""The formats named after built-in data sets, for the user's own files.

* ``tcga``: a UCSC Xena matrix, genes x samples with a header of sample ids, values
  log2(x+1); turned back into counts as ``round(2^v - 1)``. Labels: a clinical matrix
  (``_primary_site`` matched on ``sampleID``; samples without one get ``No class``), or
  any labels file.
* ``macosko``: a genes x cells text matrix (gene names first, a header of cells). Labels:
  a cell/cluster file without a header; cells it does not list get cluster ``0``.
* ``10x_combine``: a folder holding one 10x matrix per population (a sub-folder, a
  ``.tar.gz`` or an ``.h5``); the populations are stacked in sorted name order and the
  population (the entry's name up to its first dot) is the label.
* ``development``: the synthetic development set; it is generated, and the path given
  with it is not read.

Unlike the built-in sets, the user's files get no label supersets, palettes or excluded
classes from the format: a JSON specification can add them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from scvae.data.raw import RawData, ReadOptions, path_name
from scvae.data.readers.checks import checked_reader
from scvae.data.readers.labels import NO_CLASS, labels_for
from scvae.errors import DataError

#: endings of a population's 10x matrix inside a ``10x_combine`` folder
POPULATION_ENDINGS = (".tar.gz", ".tgz", ".tar", ".h5")


def _labels_path(options: ReadOptions | None) -> Path | None:
    return Path(options.labels_path) if options is not None and options.labels_path else None


@checked_reader
def read_tcga(path: str | Path, options: ReadOptions | None = None) -> RawData:
    """Read a Xena log2(x+1) matrix (genes x samples) as sample x gene counts."""
    from scvae.data.builtin.tcga import read_tcga as parse

    path = Path(path)
    raw = parse({"values": path}, path_name(path))
    labels = _labels_path(options)
    if labels is not None:
        found = labels_for(labels, raw.example_names, id_column="sampleID",
                           label_column="_primary_site")  # fmt: skip
        raw.labels = np.array([label or NO_CLASS for label in found], dtype=object)
    raw.metadata = {}
    return raw


@checked_reader
def read_macosko(path: str | Path, options: ReadOptions | None = None) -> RawData:
    """Read a genes x cells text matrix as cells x genes, with clusters as labels."""
    from scvae.data.builtin.macosko import read_macosko as parse

    path = Path(path)
    files = {"values": path}
    labels = _labels_path(options)
    if labels is not None:
        files["labels"] = labels
    raw = parse(files, path_name(path))
    raw.metadata = {}
    return raw


def populations(folder: Path) -> dict[str, Path]:
    """Population name -> its 10x matrix, for each matrix entry of ``folder``."""
    if not folder.is_dir():
        raise DataError(
            folder, "must be a folder holding one 10x matrix per population for '10x_combine'"
        )
    found: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        lowered = entry.name.lower()
        if entry.is_dir():
            name = entry.name
        elif entry.is_file() and lowered.endswith(POPULATION_ENDINGS):
            name = entry.name.split(".")[0]
        else:
            continue
        if name in found:
            raise DataError(entry, f"is a second population named '{name}'")
        found[name] = entry
    if not found:
        raise DataError(
            folder,
            "holds no 10x matrices (sub-folders, .tar.gz or .h5 files, one per population)",
        )
    return found


@checked_reader
def read_10x_combine(path: str | Path, options: ReadOptions | None = None) -> RawData:
    """Stack the 10x matrices of a folder's populations; the population is the label."""
    from scvae.data.builtin.tenx import read_populations

    path = Path(path)
    raw = read_populations(populations(path), path_name(path))
    raw.metadata = {key: value for key, value in raw.metadata.items() if key == "genome"}
    return raw


@checked_reader
def read_development(path: str | Path, options: ReadOptions | None = None) -> RawData:
    """Generate the synthetic development set (``path`` is not read)."""
    from scvae import progress
    from scvae.data.development import generate_development

    path = Path(path)
    if path.is_file() and not progress.is_quiet():
        print(
            f"Note: format 'development' generates the synthetic data set; {path} is not read.",
            file=sys.stderr,
        )
    return generate_development()
