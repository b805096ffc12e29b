"""10x Genomics reader: Cell Ranger v2/v3 ``.h5``, mtx folders, bare ``matrix.mtx`` and tarballs.

10x stores genes x cells; the result is cells x genes CSR. Feature names are gene
symbols made unique (a repeated ``Rp1`` becomes ``Rp1``, ``Rp1-1``, ...), with the
original ids (Ensembl) kept in ``feature_ids``. When a v3 feature table mixes feature
types, only ``Gene Expression`` features are kept (as Cell Ranger and scanpy do by
default); the dropped types are listed in ``metadata["dropped_feature_types"]``.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from scvae.data.download import extract
from scvae.data.raw import RawData, ReadOptions
from scvae.data.readers.checks import check_shape, checked_reader
from scvae.data.readers.hdf5 import (
    labels_from_file,
    open_hdf5,
    read_compressed,
    read_dataset,
    reading,
    to_strings,
)
from scvae.data.readers.mtx import read_header, read_mtx
from scvae.data.readers.text_io import name_table, open_binary
from scvae.errors import DataError

GENE_EXPRESSION = "Gene Expression"
_MATRIX_ENDINGS = ("matrix.mtx", "matrix.mtx.gz")
_FEATURE_FILES = ("features.tsv.gz", "features.tsv", "genes.tsv.gz", "genes.tsv")
_BARCODE_FILES = ("barcodes.tsv.gz", "barcodes.tsv")
_SEARCH_DEPTH = 3


@checked_reader
def read_10x(path: Path, options: ReadOptions) -> RawData:
    """Read 10x Genomics output in any of its layouts.

    Parameters
    ----------
    path
        A Cell Ranger ``.h5`` (v2 or v3), a folder holding ``matrix.mtx[.gz]`` with
        its barcodes and features/genes files (possibly a level or two down), a
        ``matrix.mtx[.gz]`` file, or a ``.tar.gz`` archive of such a folder.
    options
        ``genome`` picks a genome when there are several; ``labels_path`` adds labels.

    Returns
    -------
    RawData
        Cells x genes CSR with barcodes, unique gene symbols and gene ids.
    """
    path = Path(path)
    name = path.name.lower()
    if path.is_dir():
        raw = _read_folder(path, options)
    elif name.endswith((".tar.gz", ".tgz", ".tar")):
        raw = _read_tar(path, options)
    elif name.endswith((".mtx", ".mtx.gz")):
        raw = _read_mtx(path)
    elif _is_hdf5(path):
        raw = _read_h5(path, options)
    elif _is_tar(path):
        raw = _read_tar(path, options)
    else:
        raise DataError(
            path,
            "is not a 10x Genomics .h5 file, matrix folder, matrix.mtx file or .tar.gz archive",
        )
    from_file = labels_from_file(raw.example_names, options)
    if from_file is not None:
        raw.labels = from_file
    return raw


def make_unique(names: np.ndarray) -> np.ndarray:
    """Append ``-1``, ``-2``, ... to repeated names (first occurrence kept as is)."""
    taken = set(names.tolist())
    seen: dict[str, int] = {}
    result = names.astype(object).copy()
    for position, name in enumerate(names.tolist()):
        if name not in seen:
            seen[name] = 0
            continue
        number = seen[name]
        while True:
            number += 1
            candidate = f"{name}-{number}"
            if candidate not in taken:
                break
        seen[name] = number
        taken.add(candidate)
        result[position] = candidate
    return result


# ---------------------------------------------------------------- HDF5 layouts
def _is_hdf5(path: Path) -> bool:
    import h5py

    return path.is_file() and h5py.is_hdf5(path)


def _is_tar(path: Path) -> bool:
    try:
        return path.is_file() and tarfile.is_tarfile(path)
    except OSError:
        return False


def _read_h5(path: Path, options: ReadOptions) -> RawData:
    """Cell Ranger v3 (``matrix`` with ``features``) or v2 (one group per genome)."""
    import h5py

    with reading(path, "a 10x Genomics .h5 file"), open_hdf5(path) as file:
        matrix = file.get("matrix")
        if isinstance(matrix, h5py.Group) and isinstance(matrix.get("features"), h5py.Group):
            return _read_h5_v3(matrix, path, options)
        sparse = [
            key
            for key, item in file.items()
            if isinstance(item, h5py.Group) and "barcodes" in item and "data" in item
        ]
        groups = {key: file[key] for key in sparse if {"genes", "gene_names"} & set(file[key])}
        if groups:
            genome = _choose(sorted(groups), options.genome, path)
            return _read_h5_v2(groups[genome], genome, path)
    if sparse:  # barcodes but no Cell Ranger gene table: a generic sparse HDF5 file
        from scvae.data.readers.hdf5 import read_hdf5

        return read_hdf5(path, replace(options, labels_path=None))
    raise DataError(
        path,
        "holds neither a Cell Ranger v3 'matrix' group nor v2 genome groups "
        "with 'barcodes', 'genes' and 'data'",
    )


def _choose(genomes: list[str], wanted: str | None, path: Path) -> str:
    listed = ", ".join(genomes)
    if wanted:
        if wanted not in genomes:
            raise DataError(path, f"has no genome '{wanted}' (genomes: {listed})")
        return wanted
    if len(genomes) > 1:
        raise DataError(path, f"holds several genomes ({listed}); pick one with --genome")
    return genomes[0]


def _sparse_parts(group: Any, path: Path) -> tuple[Any, tuple[int, int]]:
    """The stored genes x cells CSC matrix of a Cell Ranger group, as cells x genes CSR."""
    missing = [key for key in ("data", "indices", "indptr", "shape") if key not in group]
    if missing:
        raise DataError(path, f"group '{group.name}' lacks {', '.join(missing)}")
    n_genes, n_cells = check_shape(path, read_dataset(group["shape"], path), f"'{group.name}'")
    matrix = read_compressed(group, path, (n_genes, n_cells), "csc")
    return matrix.T.tocsr(), (n_cells, n_genes)


def _strings(group: Any, key: str, size: int, path: Path) -> np.ndarray:
    """A name array of ``size`` entries, its length checked before it is read."""
    dataset = group[key]
    if dataset.ndim != 1 or len(dataset) != size:
        raise DataError(path, f"'{dataset.name}' has {dataset.shape} entries, not {size}")
    return to_strings(read_dataset(dataset, path))


def _read_h5_v2(group: Any, genome: str, path: Path) -> RawData:
    values, (n_cells, n_genes) = _sparse_parts(group, path)
    symbols_key = "gene_names" if "gene_names" in group else "genes"
    if symbols_key not in group:
        raise DataError(path, f"group '{group.name}' lacks 'gene_names' and 'genes'")
    symbols = _strings(group, symbols_key, n_genes, path)
    ids = _strings(group, "genes", n_genes, path) if "genes" in group else symbols
    barcodes = _strings(group, "barcodes", n_cells, path)
    _check_lengths(path, n_cells, n_genes, barcodes, symbols, ids)
    return RawData(
        values=values,
        example_names=barcodes,
        feature_names=make_unique(symbols),
        feature_ids=ids,
        metadata={"genome": genome},
    )


def _read_h5_v3(group: Any, path: Path, options: ReadOptions) -> RawData:
    values, (n_cells, n_genes) = _sparse_parts(group, path)
    features = group["features"]
    if "id" not in features:
        raise DataError(path, "'matrix/features' lacks 'id'")
    ids = _strings(features, "id", n_genes, path)
    symbols = _strings(features, "name", n_genes, path) if "name" in features else ids
    barcodes = _strings(group, "barcodes", n_cells, path)
    _check_lengths(path, n_cells, n_genes, barcodes, symbols, ids)
    keep = np.ones(n_genes, dtype=bool)
    genome = None
    if "genome" in features:
        genomes = _strings(features, "genome", n_genes, path)
        if len(genomes) != n_genes:
            raise DataError(
                path, f"'matrix/features/genome' has {len(genomes)} entries, not {n_genes}"
            )
        genome = _choose(sorted(set(genomes.tolist())), options.genome, path)
        keep &= genomes == genome
    types = (
        _strings(features, "feature_type", n_genes, path) if "feature_type" in features else None
    )
    raw = _assemble(values, barcodes, symbols, ids, types, keep, path)
    if genome is not None:
        raw.metadata["genome"] = genome
    return raw


def _check_lengths(
    path: Path, n_cells: int, n_genes: int, barcodes: np.ndarray, *features: np.ndarray
) -> None:
    if len(barcodes) != n_cells:
        raise DataError(path, f"has {len(barcodes)} barcodes but the matrix has {n_cells} cells")
    for names in features:
        if len(names) != n_genes:
            raise DataError(path, f"has {len(names)} features but the matrix has {n_genes} genes")


def _assemble(
    values: sp.csr_matrix,
    barcodes: np.ndarray,
    symbols: np.ndarray,
    ids: np.ndarray,
    types: np.ndarray | None,
    keep: np.ndarray,
    path: Path,
) -> RawData:
    """Keep the selected (and gene-expression) features and build the result."""
    dropped: list[str] = []
    if types is not None and len(types) == len(keep):
        expression = types == GENE_EXPRESSION
        if expression[keep].any() and not expression[keep].all():
            dropped = sorted(set(types[keep & ~expression].tolist()))
            keep = keep & expression
    if not keep.all():
        values = values[:, np.flatnonzero(keep)].tocsr()
        symbols, ids = symbols[keep], ids[keep]
    raw = RawData(
        values=values,
        example_names=barcodes,
        feature_names=make_unique(symbols),
        feature_ids=ids,
    )
    if dropped:
        raw.metadata["dropped_feature_types"] = dropped
    return raw


# ---------------------------------------------------------------- mtx layouts
def _read_folder(folder: Path, options: ReadOptions) -> RawData:
    matrices = _find_matrices(folder)
    if not matrices:
        raise DataError(folder, "holds no matrix.mtx or matrix.mtx.gz (looked 3 levels deep)")
    if len(matrices) == 1:
        return _read_mtx(matrices[0])
    by_name = {str(m.parent.relative_to(folder)): m for m in matrices}
    listed = ", ".join(sorted(by_name))
    if not options.genome:
        raise DataError(folder, f"holds several matrices (in {listed}); pick one with --genome")
    picked = [m for key, m in by_name.items() if options.genome in (key, m.parent.name)]
    if len(picked) != 1:
        raise DataError(folder, f"has no single matrix for genome '{options.genome}' (in {listed})")
    return _read_mtx(picked[0])


def _find_matrices(folder: Path) -> list[Path]:
    found = []
    for directory, subfolders, files in os.walk(folder):
        depth = len(Path(directory).relative_to(folder).parts)
        subfolders[:] = sorted(d for d in subfolders if not d.startswith((".", "__")))
        if depth >= _SEARCH_DEPTH:
            subfolders[:] = []
        names = sorted(f for f in files if f.lower().endswith(_MATRIX_ENDINGS))
        if names:
            found.append(Path(directory) / names[0])
    return found


def _prefix(matrix: Path) -> str:
    """What comes before ``matrix.mtx`` in the file name (GEO style ``GSM1_matrix.mtx``)."""
    cut = matrix.name.lower().rfind("matrix.mtx")
    return matrix.name[:cut] if cut > 0 else ""


def _sibling(matrix: Path, candidates: tuple[str, ...], what: str) -> Path:
    prefix = _prefix(matrix)
    for name in candidates:
        for option in (prefix + name, name):
            if (matrix.parent / option).is_file():
                return matrix.parent / option
    listed = " or ".join(candidates)
    raise DataError(matrix.parent, f"has no {what} file ({listed}) beside {matrix.name}")


def _read_mtx(matrix_path: Path) -> RawData:
    """Read a ``matrix.mtx[.gz]`` and its sibling barcodes and features files."""
    barcodes_path = _sibling(matrix_path, _BARCODE_FILES, "barcodes")
    features_path = _sibling(matrix_path, _FEATURE_FILES, "features")
    with reading(matrix_path, "a MatrixMarket file"), open_binary(matrix_path) as stream:
        header = read_header(matrix_path, stream)  # sizes checked before names are built
    most = max(header.rows, header.columns)
    barcodes = name_table(barcodes_path, most)[:, 0]
    features = name_table(features_path, most)
    stored = read_mtx(matrix_path)
    n_genes, n_cells = stored.shape
    if (n_genes, n_cells) == (len(features), len(barcodes)):
        values = stored.T.tocsr()
    elif (n_cells, n_genes) == (len(features), len(barcodes)):
        values = stored.tocsr()  # already cells x genes
    else:
        raise DataError(
            matrix_path,
            f"is {n_genes} x {n_cells} but there are {len(features)} features in "
            f"{features_path.name} and {len(barcodes)} barcodes in {barcodes_path.name}",
        )
    ids = features[:, 0]
    symbols = features[:, 1] if features.shape[1] > 1 else ids
    types = features[:, 2] if features.shape[1] > 2 else None
    keep = np.ones(len(ids), dtype=bool)
    raw = _assemble(values, barcodes, symbols, ids, types, keep, matrix_path)
    if features_path.name.startswith(("genes.tsv", f"{_prefix(matrix_path)}genes.tsv")):
        raw.metadata["genome"] = matrix_path.parent.name  # v2 keeps one folder per genome
    return raw


# ---------------------------------------------------------------- archives
def _read_tar(path: Path, options: ReadOptions) -> RawData:
    with tempfile.TemporaryDirectory(prefix="scvae-10x-") as folder:
        root = Path(folder)
        with reading(path, "a tar archive"):
            extract(path, root)
        try:
            return _read_folder(root, options)
        except DataError as error:
            inner = error.path or ""
            where = inner[len(folder) :].lstrip("/\\") if inner.startswith(folder) else ""
            problem = f"{where}: {error.problem}" if where else error.problem
            raise DataError(path, f"in the archive, {problem}") from None
