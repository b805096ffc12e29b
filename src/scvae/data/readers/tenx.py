"""10x Genomics reader: Cell Ranger v2/v3 ``.h5``, mtx folders, bare ``matrix.mtx`` and tarballs.

10x stores genes x cells; the result is cells x genes CSR. Feature names are gene
symbols made unique (a repeated ``Rp1`` becomes ``Rp1``, ``Rp1-1``, ...), with the
original ids (Ensembl) kept in ``feature_ids``. When a v3 feature table mixes feature
types, only ``Gene Expression`` features are kept (as Cell Ranger and scanpy do by
default); the dropped types are listed in ``metadata["dropped_feature_types"]``.
"""

from __future__ import annotations

import csv
import os
import shutil
import tarfile
import tempfile
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import scipy.sparse as sp

from scvae.data.raw import RawData, ReadOptions
from scvae.data.readers.hdf5 import (
    compressed_matrix,
    labels_from_file,
    open_hdf5,
    reading,
    to_strings,
)
from scvae.errors import DataError

GENE_EXPRESSION = "Gene Expression"
_MATRIX_ENDINGS = ("matrix.mtx", "matrix.mtx.gz")
_FEATURE_FILES = ("features.tsv.gz", "features.tsv", "genes.tsv.gz", "genes.tsv")
_BARCODE_FILES = ("barcodes.tsv.gz", "barcodes.tsv")
_SEARCH_DEPTH = 3


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
    shape = np.asarray(group["shape"][()]).reshape(-1)
    if len(shape) != 2:
        raise DataError(path, f"'{group.name}/shape' must hold two numbers")
    n_genes, n_cells = int(shape[0]), int(shape[1])
    if len(group["indptr"]) != n_cells + 1:
        raise DataError(
            path, f"'{group.name}/indptr' has {len(group['indptr'])} entries, not {n_cells + 1}"
        )
    parts = (group["data"][()], group["indices"][()], group["indptr"][()])
    matrix = compressed_matrix(path, parts, (n_genes, n_cells), "csc")
    return matrix.T.tocsr(), (n_cells, n_genes)


def _read_h5_v2(group: Any, genome: str, path: Path) -> RawData:
    values, (n_cells, n_genes) = _sparse_parts(group, path)
    symbols_key = "gene_names" if "gene_names" in group else "genes"
    if symbols_key not in group:
        raise DataError(path, f"group '{group.name}' lacks 'gene_names' and 'genes'")
    symbols = to_strings(group[symbols_key][()])
    ids = to_strings(group["genes"][()]) if "genes" in group else symbols
    barcodes = to_strings(group["barcodes"][()])
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
    ids = to_strings(features["id"][()])
    symbols = to_strings(features["name"][()]) if "name" in features else ids
    barcodes = to_strings(group["barcodes"][()])
    _check_lengths(path, n_cells, n_genes, barcodes, symbols, ids)
    keep = np.ones(n_genes, dtype=bool)
    genome = None
    if "genome" in features:
        genomes = to_strings(features["genome"][()])
        if len(genomes) != n_genes:
            raise DataError(
                path, f"'matrix/features/genome' has {len(genomes)} entries, not {n_genes}"
            )
        genome = _choose(sorted(set(genomes.tolist())), options.genome, path)
        keep &= genomes == genome
    types = to_strings(features["feature_type"][()]) if "feature_type" in features else None
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
    barcodes = _table(barcodes_path)[:, 0]
    features = _table(features_path)
    with reading(matrix_path, "a MatrixMarket file"):
        import scipy.io

        stored = _compact(sp.coo_matrix(scipy.io.mmread(matrix_path)), matrix_path)
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


def _compact(matrix: sp.coo_matrix, path: Path) -> sp.coo_matrix:
    """Check the values are real numbers; store integers as int32 when they fit."""
    if matrix.dtype.kind not in "biuf":
        raise DataError(path, f"holds non-real values ({matrix.dtype})")
    limits = np.iinfo(np.int32)
    if matrix.dtype.kind in "iu" and matrix.dtype.itemsize > 4 and matrix.nnz:
        if matrix.data.min() >= limits.min and matrix.data.max() <= limits.max:
            matrix.data = matrix.data.astype(np.int32)
    return matrix


def _table(path: Path) -> np.ndarray:
    """A tab-separated file without header as a 2-D object array of strings."""
    import pandas as pd

    with reading(path, "a tab-separated table"):
        try:
            table = pd.read_csv(
                path,
                sep="\t",
                header=None,
                dtype=str,
                keep_default_na=False,
                quoting=csv.QUOTE_NONE,
                compression="infer",
            )
        except pd.errors.EmptyDataError:
            raise DataError(path, "is empty") from None
    return table.to_numpy(dtype=object)


# ---------------------------------------------------------------- archives
def _read_tar(path: Path, options: ReadOptions) -> RawData:
    with tempfile.TemporaryDirectory(prefix="scvae-10x-") as folder:
        root = Path(folder)
        with reading(path, "a tar archive"), tarfile.open(path, "r:*") as archive:
            _extract(archive, root, path)
        try:
            return _read_folder(root, options)
        except DataError as error:
            inner = error.path or ""
            where = inner[len(folder) :].lstrip("/\\") if inner.startswith(folder) else ""
            problem = f"{where}: {error.problem}" if where else error.problem
            raise DataError(path, f"in the archive, {problem}") from None


def _extract(archive: tarfile.TarFile, root: Path, path: Path) -> None:
    """Extract regular files and folders, refusing any path that leaves ``root``."""
    links = []
    for member in archive.getmembers():
        target = _safe_target(root, member.name, path)
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
        elif member.isfile():
            target.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            with source, open(target, "wb") as sink:
                shutil.copyfileobj(source, sink)
        elif member.issym() or member.islnk():
            base = PurePosixPath(member.name).parent if member.issym() else PurePosixPath()
            linked = _safe_target(root, str(base / member.linkname), path, link=member.name)
            links.append((target, linked))
    for target, linked in links:
        if linked.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(linked, target)


def _safe_target(root: Path, name: str, path: Path, link: str | None = None) -> Path:
    pure = PurePosixPath(name.replace("\\", "/"))
    subject = f"link '{link}' (to '{name}')" if link else f"member '{name}'"
    drive = bool(pure.parts) and ":" in pure.parts[0]
    if pure.is_absolute() or drive:
        raise DataError(path, f"archive {subject} is an absolute path; refusing to extract")
    target = (root / pure).resolve()
    inside = target == root.resolve() or root.resolve() in target.parents
    if ".." in pure.parts or not inside:
        raise DataError(path, f"archive {subject} leads outside the archive; refusing to extract")
    return target
