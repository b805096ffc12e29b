"""Built-in data sets: where their files come from and how to parse them.

Each :class:`BuiltIn` lists its :class:`Source` files. Building a set downloads the
missing files into ``<data directory>/<name>/original/`` (see
:mod:`scvae.data.download`) and hands them to the set's parser in
:mod:`scvae.data.builtin`. A file already there (for example put there by hand on a
machine without internet) is used as it is.

URLs are ``URL_BASES[source.base] + "/" + source.path``. Tests and mirrors can change
:data:`URL_BASES`, or set the environment variable ``SCVAE_DATA_URL_BASE`` to a mirror
root, in which case every file is fetched from ``<mirror>/<base>/<path>``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from scvae.data.builtin.macosko import read_macosko
from scvae.data.builtin.mnist import read_binarised, read_normalised, read_original
from scvae.data.builtin.tcga import read_tcga
from scvae.data.builtin.tenx import read_annotated, read_populations
from scvae.data.raw import RawData, normalise_name

#: environment variable naming a mirror root that replaces every base URL
MIRROR_VARIABLE = "SCVAE_DATA_URL_BASE"

#: base name -> base URL (no trailing slash)
URL_BASES: dict[str, str] = {
    "10x": "https://cf.10xgenomics.com/samples/cell-exp",
    "10x-paper": "https://raw.githubusercontent.com/10XGenomics/single-cell-3prime-paper/master",
    "geo": "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE63nnn/GSE63472/suppl",
    "mccarroll": "http://mccarrolllab.com/wp-content/uploads/2015/05",
    "xena-toil": "https://toil.xenahubs.net/download",
    "xena-tcga": "https://tcga.xenahubs.net/download",
    # LeCun's own site refuses most downloads; this mirror serves the same files
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist",
    # deeplearning.net is gone; the same mnist.pkl.gz is kept in Nielsen's book repository
    "mnist-pickle": "https://github.com/mnielsen/neural-networks-and-deep-learning/raw/master/data",
    "larochelle": "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist",
}

#: 10x PBMC population id (in the URLs) -> population name (the label)
PBMC_POPULATIONS: dict[str, str] = {
    "b_cells": "CD19+ B cells",
    "cd34": "CD34+ cells",
    "cd4_t_helper": "CD4+ helper T cells",
    "regulatory_t": "CD4+/CD25+ regulatory T cells",
    "naive_t": "CD4+/CD45RA+/CD25- naïve T cells",
    "memory_t": "CD4+/CD45RO+ memory T cells",
    "cd56_nk": "CD56+ natural killer cells",
    "cytotoxic_t": "CD8+ cytotoxic T cells",
    "naive_cytotoxic": "CD8+/CD45RA+ naïve cytotoxic T cells",
}

_EXTENSION_PART = re.compile(r"[A-Za-z0-9]{1,9}")


@dataclass(frozen=True)
class Source:
    """One file of a built-in data set.

    Parameters
    ----------
    role
        ``values``, ``labels``, ``feature_mapping``, or ``all`` (a whole population).
    kind
        ``full``; for ``all`` the population name (which becomes the label); or the
        split (``training``, ``validation``, ``test``) of a set delivered in parts.
    base, path
        The URL is ``URL_BASES[base] + "/" + path``.
    size, sha256
        Expected size in bytes and SHA-256 digest, verified when known. None of the
        sources publishes a digest this project could confirm, so none is pinned yet:
        each download is checked against its ``Content-Length`` and capped by
        ``max_size``, and a record of its size and digest is kept beside it.
    max_size
        Most bytes accepted while the size is unknown (``None``: the download module's cap).
    """

    role: str
    kind: str
    base: str
    path: str
    size: int | None = None
    sha256: str | None = None
    max_size: int | None = None

    @property
    def key(self) -> str:
        """Key of this file in the mapping handed to the parser.

        ``<role>`` for one full file, ``<role>:<split>`` for a split's file, and the
        kind itself for ``all``.
        """
        if self.role == "all":
            return self.kind
        return self.role if self.kind == "full" else f"{self.role}:{self.kind}"

    @property
    def url(self) -> str:
        mirror = os.environ.get(MIRROR_VARIABLE)
        if mirror:
            return f"{mirror.rstrip('/')}/{self.base}/{self.path}"
        return f"{URL_BASES[self.base].rstrip('/')}/{self.path}"

    def file_name(self, title: str) -> str:
        """``<title>-<role>-<kind><extension>``, all normalised (the original's naming)."""
        stem = "-".join(normalise_name(part) for part in (title, self.role, self.kind))
        return stem + file_extension(self.path)


def file_extension(path: str) -> str:
    """Trailing dot-separated parts that are short and alphanumeric (``.tar.gz``, ``.h5``)."""
    parts = path.rsplit("/", 1)[-1].split(".")[1:]
    kept: list[str] = []
    for part in reversed(parts):
        if not _EXTENSION_PART.fullmatch(part):
            break
        kept.insert(0, part)
    return "".join(f".{part}" for part in kept)


@dataclass(frozen=True)
class BuiltIn:
    """A built-in data set: its files and the parser that turns them into raw data."""

    name: str
    title: str
    description: str
    parse: Callable[[Mapping[str, Path], str], RawData]
    sources: tuple[Source, ...] = ()
    size: str = ""

    def folder(self, directory: str | os.PathLike[str]) -> Path:
        """``<directory>/<name>``: originals and caches of this set."""
        return Path(directory) / self.name

    def files(self, directory: str | os.PathLike[str]) -> dict[str, Path]:
        """Where each source file is (or will be) kept, by source key."""
        original = self.folder(directory) / "original"
        return {source.key: original / source.file_name(self.title) for source in self.sources}

    def fetch(self, directory: str | os.PathLike[str], *, progress: bool = True) -> dict[str, Path]:
        """Download the missing source files (verifying them); return their paths by key."""
        from scvae.data.download import download

        paths = self.files(directory)
        for source in self.sources:
            path = paths[source.key]
            if not path.exists():
                _reuse_from_other_sets(source, path, directory)
            download(
                source.url,
                path,
                size=source.size,
                sha256=source.sha256,
                max_size=source.max_size,
                progress=progress,
            )
        return paths

    def build(self, directory: str | os.PathLike[str], *, progress: bool = True) -> RawData:
        """Fetch the files into ``directory``, parse them and check the result."""
        from scvae.data.readers.checks import check_raw

        raw = self.parse(self.fetch(directory, progress=progress), self.title)
        return check_raw(self.folder(directory), raw)


def _reuse_from_other_sets(source: Source, path: Path, directory: str | os.PathLike[str]) -> None:
    """Link (or copy) a file another built-in set already downloaded from the same URL.

    Its verification record is copied too, so the file is checked as if downloaded here.
    """
    from scvae.data.download import record_path

    for entry in CATALOGUE.values():
        for other in entry.sources:
            if (other.base, other.path) != (source.base, source.path):
                continue
            existing = entry.files(directory)[other.key]
            if existing != path and existing.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(existing, path)
                except OSError:
                    shutil.copyfile(existing, path)
                if record_path(existing).is_file():
                    shutil.copyfile(record_path(existing), record_path(path))
                return


def _development(files: Mapping[str, Path], title: str) -> RawData:
    from scvae.data.development import generate_development

    return generate_development()


def _populations(ids: list[str]) -> tuple[Source, ...]:
    return tuple(
        Source("all", PBMC_POPULATIONS[i], "10x", f"1.1.0/{i}/{i}_filtered_gene_bc_matrices.tar.gz")
        for i in ids
    )


_68K = "fresh_68k_pbmc_donor_a"
#: most bytes of one MNIST file (the largest, the binarised training set, takes ~80 MB)
_MNIST_CAP = 64 << 20
_TCGA_LABELS = Source(
    "labels", "full", "xena-tcga", "TCGA.PANCAN.sampleMap/PANCAN_clinicalMatrix.gz"
)


def _entries() -> list[BuiltIn]:
    pbmc_parse = read_populations
    return [
        BuiltIn(
            "macosko_mrc", "Macosko-MRC", "mouse retina cells (Drop-seq), 39 clusters",
            read_macosko,
            (
                Source("values", "full", "geo", "GSE63472_P14Retina_merged_digital_expression.txt.gz"),
                Source("labels", "full", "mccarroll", "retina_clusteridentities.txt"),
            ),
            "~49.3k cells x ~24.7k genes",
        ),
        BuiltIn(
            "10x_mbc", "10x-MBC", "1.3 million mouse brain cells (needs tens of GB of memory)",
            read_annotated,
            (Source("values", "full", "10x", "1.3.0/1M_neurons/1M_neurons_filtered_gene_bc_matrices_h5.h5"),),
            "~1.3M cells x ~28k genes",
        ),
        BuiltIn(
            "10x_mbc_20k", "10x-MBC-20k", "20,000 of the mouse brain cells", read_annotated,
            (Source("values", "full", "10x", "1.3.0/1M_neurons/1M_neurons_neuron20k.h5"),),
            "20,000 cells",
        ),
        BuiltIn(
            "10x_pbmc_pp", "10x-PBMC-PP", "nine sorted human blood cell populations", pbmc_parse,
            _populations(list(PBMC_POPULATIONS)),
            "~92k cells x 32,738 genes, 9 populations",
        ),
        BuiltIn(
            "10x_pbmc_pl", "10x-PBMC-PL", "three sorted populations: NK, B and regulatory T cells",
            pbmc_parse, _populations(["cd56_nk", "b_cells", "regulatory_t"]), "3 populations",
        ),
        BuiltIn(
            "10x_pbmc_pt", "10x-PBMC-PT", "three sorted T-cell populations", pbmc_parse,
            _populations(["naive_cytotoxic", "regulatory_t", "naive_t"]), "3 populations",
        ),
        BuiltIn(
            "10x_pbmc_68k", "10x-PBMC-68k", "68k blood cells of one donor, annotated", read_annotated,
            (
                Source("values", "full", "10x", f"1.1.0/{_68K}/{_68K}_filtered_gene_bc_matrices.tar.gz"),
                Source("labels", "full", "10x-paper", "pbmc68k_analysis/68k_pbmc_barcodes_annotation.tsv"),
            ),
            "~68.6k cells x 32,738 genes, 11 cell types",
        ),
        BuiltIn(
            "tcga_rsem", "TCGA-RSEM", "TCGA pan-cancer bulk RNA-seq (RSEM expected counts)",
            read_tcga,
            (
                Source("values", "full", "xena-toil", "tcga_gene_expected_count.gz"),
                _TCGA_LABELS,
                Source("feature_mapping", "full", "xena-toil", "gencode.v23.annotation.gene.probeMap.gz"),
            ),
            "~10.5k samples x ~60k gene IDs",
        ),
        BuiltIn(
            "tcga_kallisto", "TCGA-Kallisto", "TCGA pan-cancer, transcript level (Kallisto)",
            partial(read_tcga, feature="transcript ID"),
            (
                Source("values", "full", "xena-toil", "tcga_Kallisto_est_counts.gz"),
                _TCGA_LABELS,
                Source("feature_mapping", "full", "xena-toil", "gencode.v23.annotation.transcript.probemap.gz"),
            ),
            "~10.5k samples, transcript level",
        ),
        BuiltIn(
            "mnist_original", "MNIST (original)",
            "handwritten digits, 28 x 28 intensities 0-255, training/test split", read_original,
            tuple(
                Source(role, split, "mnist", f"{stem}-{kind}-ubyte.gz", max_size=_MNIST_CAP)
                for split, stem in (("training", "train"), ("test", "t10k"))
                for role, kind in (("values", "images-idx3"), ("labels", "labels-idx1"))
            ),
            "70,000 images x 784 pixels, 10 digits",
        ),
        BuiltIn(
            "mnist_normalised", "MNIST (normalised)",
            "handwritten digits scaled to [0, 1], training/validation/test split", read_normalised,
            (Source("all", "full", "mnist-pickle", "mnist.pkl.gz", max_size=_MNIST_CAP),),
            "70,000 images x 784 pixels, 10 digits",
        ),
        BuiltIn(
            "mnist_binarised", "MNIST (binarised)",
            "binarised handwritten digits (no labels), training/validation/test split",
            read_binarised,
            tuple(
                Source("values", split, "larochelle", f"binarized_mnist_{name}.amat",
                       max_size=4 * _MNIST_CAP)
                for split, name in (("training", "train"), ("validation", "valid"), ("test", "test"))
            ),
            "70,000 images x 784 pixels",
        ),
        BuiltIn(
            "development", "Development",
            "synthetic negative-binomial counts with dropout (offline)", _development,
            size="10,000 cells x 25 genes",
        ),
    ]  # fmt: skip


CATALOGUE: dict[str, BuiltIn] = {entry.name: entry for entry in _entries()}


def lookup_key(name: str) -> str:
    """Case- and punctuation-insensitive key of a data-set name."""
    return "".join(character for character in name.lower() if character.isalnum())


def find_built_in(name: str) -> tuple[str, BuiltIn] | None:
    """The catalogue entry matching ``name`` (by name or title), or ``None``."""
    key = lookup_key(name)
    for entry_name, entry in CATALOGUE.items():
        if lookup_key(entry_name) == key or lookup_key(entry.title) == key:
            return entry_name, entry
    return None


def availability(entry: BuiltIn, directory: str | os.PathLike[str]) -> str:
    """Whether ``entry`` is cached, downloaded, partly downloaded or not yet downloaded.

    Files put in place by hand (without a download record) are "present, unverified".
    """
    from scvae.data.download import part_path, verified

    if any((entry.folder(directory) / "cache").glob("original-*.h5")):
        return "cached"
    if not entry.sources:
        return "generated offline"
    files = list(entry.files(directory).values())
    present = sum(path.is_file() for path in files)
    if present == len(files):
        return "downloaded" if all(map(verified, files)) else "present, unverified"
    if present or any(part_path(path).is_file() for path in files):
        return f"partly downloaded ({present} of {len(files)} files)"
    return "not downloaded"


def describe(directory: str | os.PathLike[str]) -> list[dict[str, str]]:
    """One row per built-in set: name, title, size, description and availability."""
    return [
        {
            "name": entry.name,
            "title": entry.title,
            "size": entry.size,
            "description": entry.description,
            "status": availability(entry, directory),
        }
        for entry in CATALOGUE.values()
    ]
