"""Binary readers (HDF5, Loom, 10x, h5ad): real files, round trips and malformed input.

Expected shapes and label counts for the files in ../shared/data are those stated in
../shared/data/README.md; values are compared with independent reads through
h5py, scipy.io and anndata.
"""

from __future__ import annotations

import gzip
import io
import shutil
import sys
import tarfile
import types
import warnings
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp

from scvae.data.raw import RawData, ReadOptions
from scvae.data.readers import hdf5, read
from scvae.data.readers.h5ad import read_h5ad
from scvae.data.readers.hdf5 import read_hdf5
from scvae.data.readers.loom import read_loom
from scvae.data.readers.tenx import make_unique, read_10x
from scvae.errors import DataError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
V3 = "scanpy_10x_testdata/3.0.0"
V2 = "scanpy_10x_testdata/1.2.0"


@pytest.fixture
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED


def same(a: sp.spmatrix, b: sp.spmatrix) -> bool:
    return a.shape == b.shape and (sp.csr_matrix(a) != sp.csr_matrix(b)).nnz == 0


def names_of(path: Path, column: int = 0) -> np.ndarray:
    table = pd.read_csv(path, sep="\t", header=None, dtype=str, compression="infer")
    return table[column].to_numpy()


# ---------------------------------------------------------------- real data
# path under shared/data, (cells, genes), label counts (largest first), number of classes
REAL = [
    ("scdeepcluster_10x_pbmc4k_top2000/10X_PBMC_top2000.h5", (4271, 2000),
     [1292, 702, 606, 459, 450, 332, 295, 135], 8),
    ("scdeepcluster_mouse_bladder/mouse_bladder_cell_select_2100.h5", (2100, 20670), None, 16),
    ("scdeepcluster_mouse_bladder/mouse_bladder_cell_top2000.h5", (2746, 2003),
     [717, 357, 344, 316, 236, 224, 131, 80, 75, 64, 44, 41, 38, 36, 30, 13], 16),
    ("scdeepcluster_worm_neuron/worm_neuron_cell.h5", (4186, 13488),
     [1015, 842, 443, 400, 334, 314, 305, 239, 224, 70], 10),
    ("scdcc_cite_cbmc_top2000/CITE_CBMC_counts_top2000.h5", (8617, 2000),
     [2293, 1791, 1248, 1089, 608, 350, 273, 230, 182, 119, 114, 105, 96, 70, 49], 15),
    ("scdcc_cite_pbmc_top2000/CITE_PBMC_counts.h5", (3762, 2000),
     [1323, 415, 411, 390, 371, 315, 210, 145, 112, 47, 16, 7], 12),
    ("mouse_brain_1M_subset_10k_1000genes", (10000, 1000), None, 0),
    (f"{V3}/filtered_feature_bc_matrix", (1107, 507), None, 0),
    (f"{V3}/filtered_feature_bc_matrix.h5", (1107, 507), None, 0),
    (f"{V2}/filtered_gene_bc_matrices/hg19_chr21", (12, 343), None, 0),
    (f"{V2}/filtered_gene_bc_matrices_h5.h5", (12, 343), None, 0),
    ("scvi_retina_tiny_loom/retina.loom", (25, 1316), [5, 5, 5, 5, 5], 5),
]  # fmt: skip


@pytest.mark.parametrize(("relative", "shape", "counts", "classes"), REAL, ids=[r[0] for r in REAL])
def test_real_counts_files(shared, relative, shape, counts, classes):
    raw = read(shared / relative)
    assert isinstance(raw.values, sp.csr_matrix)
    assert raw.shape == shape
    stored = raw.values.data
    assert np.all(stored >= 0) and np.array_equal(stored, np.round(stored))
    if classes == 0:
        assert raw.labels is None
        return
    found = Counter(raw.labels.tolist())
    assert len(found) == classes
    assert all(isinstance(label, str) and "." not in label for label in found)
    if counts is not None:
        assert sorted(found.values(), reverse=True) == counts


@pytest.mark.parametrize(
    "relative",
    [
        "scdeepcluster_10x_pbmc4k_top2000/10X_PBMC_top2000.h5",
        "scdeepcluster_mouse_bladder/mouse_bladder_cell_select_2100.h5",
        "scdcc_cite_pbmc_top2000/CITE_PBMC_counts.h5",
    ],
)
def test_dense_h5_matches_h5py(shared, relative):
    raw = read_hdf5(shared / relative, ReadOptions())
    with h5py.File(shared / relative) as file:
        expected, labels = file["X"][()], file["Y"][()]
    assert np.array_equal(raw.values.toarray(), expected)
    assert raw.labels.tolist() == [str(int(v)) for v in labels]
    assert raw.example_names is None and raw.feature_names is None


def test_mtx_folder_matches_scipy(shared):
    folder = shared / "mouse_brain_1M_subset_10k_1000genes"
    raw = read_10x(folder, ReadOptions())
    assert same(raw.values, scipy.io.mmread(folder / "matrix.mtx.gz").T)
    assert raw.example_names.tolist() == names_of(folder / "barcodes.tsv.gz").tolist()
    assert raw.feature_ids.tolist() == names_of(folder / "features.tsv.gz").tolist()
    symbols = names_of(folder / "features.tsv.gz", 1)
    assert len(set(raw.feature_names)) == 1000
    assert "Rp1" in raw.feature_names and "Rp1-1" in raw.feature_names
    assert np.sum(symbols != raw.feature_names) == 1
    assert raw.values.getnnz() == 691914
    assert np.sum(np.asarray(raw.values.sum(axis=1)).ravel() == 0) == 1


def test_v3_folder_and_h5_are_identical(shared):
    folder = read(shared / V3 / "filtered_feature_bc_matrix")
    h5 = read(shared / V3 / "filtered_feature_bc_matrix.h5")
    assert same(folder.values, h5.values)
    for attribute in ("example_names", "feature_names", "feature_ids"):
        assert getattr(folder, attribute).tolist() == getattr(h5, attribute).tolist()
    assert h5.metadata["genome"] == "GRCh38_chr21"
    with h5py.File(shared / V3 / "filtered_feature_bc_matrix.h5") as file:
        group = file["matrix"]
        stored = sp.csc_matrix(
            (group["data"][()], group["indices"][()], group["indptr"][()]),
            shape=tuple(group["shape"][()]),
        )
    assert same(h5.values, stored.T)


def test_v2_folder_and_h5_are_identical(shared):
    folder = read(shared / V2 / "filtered_gene_bc_matrices")  # one level above hg19_chr21
    h5 = read(shared / V2 / "filtered_gene_bc_matrices_h5.h5")
    assert same(folder.values, h5.values)
    for attribute in ("example_names", "feature_names", "feature_ids"):
        assert getattr(folder, attribute).tolist() == getattr(h5, attribute).tolist()
    assert folder.metadata["genome"] == h5.metadata["genome"] == "hg19_chr21"
    assert same(
        folder.values,
        scipy.io.mmread(shared / V2 / "filtered_gene_bc_matrices/hg19_chr21/matrix.mtx").T,
    )
    assert "\t" not in "".join(folder.feature_names)


def test_multiple_genomes(shared):
    path = shared / V2 / "multiple_genomes.h5"
    with pytest.raises(DataError, match="another_genome, hg19_chr21") as error:
        read(path)
    assert path.name in str(error.value)
    raw = read(path, options=ReadOptions(genome="another_genome"))
    assert raw.shape == (12, 343) and raw.metadata["genome"] == "another_genome"
    with pytest.raises(DataError, match="hg19_chr21"):
        read(path, options=ReadOptions(genome="mm10"))


def test_loom_matches_h5py(shared):
    path = shared / "scvi_retina_tiny_loom/retina.loom"
    raw = read(path)
    with h5py.File(path) as file:
        expected = file["matrix"][()].T
        batches = file["col_attrs/Batch_id"][()].ravel()
        barcodes = [b.decode() for b in file["col_attrs/Barcodes"][()]]
    assert np.array_equal(raw.values.toarray(), expected)
    assert raw.example_names.tolist() == barcodes
    assert raw.feature_names[0] == "Gene0"
    assert raw.metadata["batch_names"] == ["0", "1"]
    assert raw.batch_indices.tolist() == np.unique(batches, return_inverse=True)[1].tolist()


def test_h5ad_old_layout(shared):
    import anndata

    path = shared / "pbmc68k_reduced_NOT_COUNTS/10x_pbmc68k_reduced.h5ad"
    raw = read(path)
    assert raw.shape == (700, 765)
    assert len(set(raw.labels)) == 11  # louvain comes before bulk_labels
    bulk = read_h5ad(path, ReadOptions(label_key="bulk_labels", layer="raw"))
    assert len(set(bulk.labels)) == 10 and "CD14+ Monocyte" in set(bulk.labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = anndata.read_h5ad(path)
    assert np.array_equal(raw.values.toarray(), adata.X)
    assert same(bulk.values, adata.raw.X)
    assert raw.example_names.tolist() == adata.obs_names.tolist()
    with pytest.raises(DataError, match="available: X, raw"):
        read_h5ad(path, ReadOptions(layer="counts"))


# ---------------------------------------------------------------- round trips
@pytest.fixture
def counts() -> sp.csr_matrix:
    rng = np.random.default_rng(7)
    matrix = sp.random(13, 9, density=0.35, format="csr", random_state=rng, dtype=np.float64)
    matrix.data = np.ceil(matrix.data * 20)
    return matrix.astype(np.int32)


def cells(n: int) -> list[str]:
    return [f"cell-{i}" for i in range(n)]


def genes(n: int) -> list[str]:
    return [f"gene{i}" for i in range(n)]


def test_h5ad_round_trip(tmp_path, counts):
    import anndata

    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical(list("abcab") * 2 + list("abc")),
            "batch": ["x", "y"] * 6 + ["x"],
        },
        index=cells(13),
    )
    var = pd.DataFrame({"gene_ids": [f"ENS{i}" for i in range(9)]}, index=genes(9))
    adata = anndata.AnnData(X=counts.astype(np.float32) * 0.5, obs=obs, var=var)
    adata.layers["counts"] = counts.toarray()
    adata.raw = anndata.AnnData(X=counts, obs=obs, var=var)
    path = tmp_path / "round.h5ad"
    adata.write_h5ad(path)
    raw = read(path, options=ReadOptions(layer="counts"))
    assert same(raw.values, counts) and isinstance(raw.values, sp.csr_matrix)
    assert raw.example_names.tolist() == cells(13) and raw.feature_names.tolist() == genes(9)
    assert raw.labels.tolist() == obs["cell_type"].astype(str).tolist()
    assert raw.metadata["batch_names"] == ["x", "y"] and raw.batch_indices[:3].tolist() == [0, 1, 0]
    assert raw.feature_ids[0] == "ENS0"
    assert same(read_h5ad(path, ReadOptions(layer="raw")).values, counts)
    assert same(read_h5ad(path, ReadOptions()).values, counts.astype(np.float32) * 0.5)
    with pytest.raises(DataError, match="available: X, raw, counts"):
        read_h5ad(path, ReadOptions(layer="spliced"))
    with pytest.raises(DataError, match="columns: cell_type, batch"):
        read_h5ad(path, ReadOptions(label_key="tissue"))


def write_loom(path: Path, matrix: np.ndarray, **columns: np.ndarray) -> None:
    with h5py.File(path, "w") as file:
        chunks = (min(4, matrix.shape[1]), min(3, matrix.shape[0]))
        file.create_dataset("matrix", data=matrix.T, chunks=chunks)
        file.create_dataset("row_attrs/Gene", data=np.array(genes(matrix.shape[1]), dtype="S"))
        file.create_dataset(
            "row_attrs/Accession",
            data=np.array([f"E{i}" for i in range(matrix.shape[1])], dtype="S"),
        )
        for key, values in columns.items():
            file.create_dataset(f"col_attrs/{key}", data=values)
        file.attrs["CellTypes"] = np.array([b"T cell", b"B cell", b"NK"])


def test_loom_round_trip(tmp_path, counts, monkeypatch):
    monkeypatch.setattr(hdf5, "CHUNK_ENTRIES", 20)  # many small blocks
    dense = counts.toarray()
    ids = np.arange(13) % 3
    path = tmp_path / "round.loom"
    write_loom(
        path, dense, CellID=np.array(cells(13), dtype="S"), ClusterID=ids, BatchID=ids % 2 + 5
    )
    raw = read(path)
    assert same(raw.values, counts)
    assert raw.labels.tolist() == [["T cell", "B cell", "NK"][i] for i in ids]
    assert raw.example_names.tolist() == cells(13) and raw.feature_ids[2] == "E2"
    assert (
        raw.metadata["batch_names"] == ["5", "6"]
        and raw.batch_indices.tolist() == (ids % 2).tolist()
    )
    override = read_loom(path, ReadOptions(label_key="BatchID", batch_key="ClusterID"))
    assert set(override.labels) == {"5", "6"} and override.metadata["batch_names"] == [
        "0",
        "1",
        "2",
    ]


def write_sparse(path: Path, matrix: sp.spmatrix, group: str = "/", **names: list[str]) -> None:
    with h5py.File(path, "w") as file:
        target = file.require_group(group)
        for key in ("data", "indices", "indptr"):
            target.create_dataset(key, data=getattr(matrix, key))
        target.create_dataset("shape", data=np.array(matrix.shape))
        for key, values in names.items():
            target.create_dataset(key, data=np.array(values, dtype="S"))


@pytest.mark.parametrize(
    ("layout", "orientation", "example_key", "feature_key"),
    [
        ("csr", "cells", "samples", "genes"),
        ("csc", "cells", "cell_ids", "gene_names"),
        ("csr", "genes", "barcodes", "features"),
        ("csc", "genes", "obs_names", None),
        ("csr", "genes", None, "var_names"),
    ],
)
def test_sparse_h5_round_trip(tmp_path, counts, layout, orientation, example_key, feature_key):
    stored = counts if orientation == "cells" else counts.T
    stored = stored.tocsr() if layout == "csr" else stored.tocsc()
    names = {}
    if example_key:
        names[example_key] = cells(13)
    if feature_key:
        names[feature_key] = genes(9)
    path = tmp_path / "round.h5"
    write_sparse(path, stored, "matrix", **names)
    raw = read(path)
    assert same(raw.values, counts) and isinstance(raw.values, sp.csr_matrix)
    if example_key:
        assert raw.example_names.tolist() == cells(13)
    if feature_key:
        assert raw.feature_names.tolist() == genes(9)


def test_square_sparse_h5_uses_format_attribute(tmp_path):
    square = sp.csr_matrix(np.arange(16).reshape(4, 4) % 5)
    path = tmp_path / "square.h5"
    write_sparse(path, square)
    assert same(read_hdf5(path, ReadOptions()).values, square.T)  # no hint: CSC, like 10x
    with h5py.File(path, "a") as file:
        file.attrs["h5sparse_format"] = "csr"
    assert same(read_hdf5(path, ReadOptions()).values, square)


def test_dense_h5_genes_by_cells_with_names(tmp_path, counts):
    path = tmp_path / "dense.h5"
    with h5py.File(path, "w") as file:
        file.create_dataset("counts", data=counts.toarray().T, chunks=(2, 5), compression="gzip")
        file.create_dataset("other", data=np.zeros((3, 3)))
        file.create_dataset("barcodes", data=np.array(cells(13), dtype="S"))
        file.create_dataset("labels", data=np.arange(13.0) % 2)
    raw = read(path)
    assert same(raw.values, counts)
    assert raw.example_names.tolist() == cells(13)
    assert raw.labels.tolist() == [str(i % 2) for i in range(13)]


def write_mtx_folder(folder: Path, matrix: sp.spmatrix, gz: bool = True, v3: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    n_cells, n_genes = matrix.shape
    symbols = genes(n_genes)
    symbols[3] = symbols[1]  # a repeated symbol
    rows = [f"ENSG{i}\t{s}" + ("\tGene Expression" if v3 else "") for i, s in enumerate(symbols)]
    files = {
        ("features.tsv" if v3 else "genes.tsv"): "\n".join(rows) + "\n",
        "barcodes.tsv": "\n".join(cells(n_cells)) + "\n",
    }
    buffer = io.BytesIO()
    scipy.io.mmwrite(buffer, sp.coo_matrix(matrix.T))
    contents = {name: text.encode() for name, text in files.items()}
    contents["matrix.mtx"] = buffer.getvalue()
    for name, data in contents.items():
        if gz:
            with gzip.open(folder / f"{name}.gz", "wb") as handle:
                handle.write(data)
        else:
            (folder / name).write_bytes(data)


def check_mtx(raw: RawData, counts: sp.csr_matrix) -> None:
    assert same(raw.values, counts) and isinstance(raw.values, sp.csr_matrix)
    assert raw.example_names.tolist() == cells(counts.shape[0])
    assert raw.feature_names[:4].tolist() == ["gene0", "gene1", "gene2", "gene1-1"]
    assert raw.feature_ids[3] == "ENSG3"


def test_mtx_v3_folder_round_trip(tmp_path, counts):
    write_mtx_folder(tmp_path / "filtered_feature_bc_matrix", counts)
    check_mtx(read(tmp_path / "filtered_feature_bc_matrix"), counts)
    check_mtx(read(tmp_path / "filtered_feature_bc_matrix" / "matrix.mtx.gz"), counts)


def test_mtx_tar_round_trip(tmp_path, counts):
    write_mtx_folder(tmp_path / "filtered_gene_bc_matrices" / "GRCh38", counts, gz=False, v3=False)
    archive = tmp_path / "pbmc_filtered_gene_bc_matrices.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "filtered_gene_bc_matrices", arcname="filtered_gene_bc_matrices")
    shutil.rmtree(tmp_path / "filtered_gene_bc_matrices")
    raw = read(archive)
    check_mtx(raw, counts)
    assert raw.metadata["genome"] == "GRCh38"


def test_feature_types_other_than_gene_expression_are_dropped(tmp_path, counts):
    folder = tmp_path / "mixed"
    write_mtx_folder(folder, counts, gz=False)
    lines = (folder / "features.tsv").read_text().splitlines()
    lines[-1] = lines[-1].replace("Gene Expression", "Antibody Capture")
    (folder / "features.tsv").write_text("\n".join(lines) + "\n")
    raw = read_10x(folder, ReadOptions())
    assert same(raw.values, counts[:, :-1])
    assert raw.metadata["dropped_feature_types"] == ["Antibody Capture"]


def write_v3_h5(path: Path, matrix: sp.csr_matrix, genomes: list[str], kinds: list[str]) -> None:
    stored = sp.csc_matrix(matrix.T)
    with h5py.File(path, "w") as file:
        for key in ("data", "indices", "indptr"):
            file.create_dataset(f"matrix/{key}", data=getattr(stored, key))
        file.create_dataset("matrix/shape", data=np.array(stored.shape))
        file.create_dataset("matrix/barcodes", data=np.array(cells(matrix.shape[0]), dtype="S"))
        features = {
            "id": [f"ENSG{i}" for i in range(matrix.shape[1])],
            "name": genes(matrix.shape[1]),
            "genome": genomes,
            "feature_type": kinds,
        }
        for key, values in features.items():
            file.create_dataset(f"matrix/features/{key}", data=np.array(values, dtype="S"))


def test_v3_h5_with_two_genomes_and_antibodies(tmp_path, counts):
    path = tmp_path / "barnyard.h5"
    genomes = ["GRCh38"] * 5 + ["mm10"] * 4
    kinds = ["Gene Expression"] * 4 + ["Antibody Capture"] + ["Gene Expression"] * 4
    write_v3_h5(path, counts, genomes, kinds)
    with pytest.raises(DataError, match="GRCh38, mm10"):
        read(path)
    human = read(path, options=ReadOptions(genome="GRCh38"))
    assert same(human.values, counts[:, :4]) and human.metadata["genome"] == "GRCh38"
    assert human.metadata["dropped_feature_types"] == ["Antibody Capture"]
    mouse = read_10x(path, ReadOptions(genome="mm10"))
    assert same(mouse.values, counts[:, 5:]) and mouse.feature_ids.tolist()[0] == "ENSG5"


def test_folder_with_two_genome_folders(tmp_path, counts):
    for genome in ("hg19", "mm10"):
        write_mtx_folder(tmp_path / "filtered_gene_bc_matrices" / genome, counts, v3=False)
    with pytest.raises(DataError, match="hg19, filtered_gene_bc_matrices/mm10"):
        read(tmp_path)
    raw = read(tmp_path, options=ReadOptions(genome="mm10"))
    assert raw.metadata["genome"] == "mm10"
    check_mtx(raw, counts)


def test_make_unique():
    names = np.array(["a", "b", "a", "a-1", "a", "b"], dtype=object)
    assert make_unique(names).tolist() == ["a", "b", "a-2", "a-1", "a-3", "b-1"]


def test_labels_path_is_matched_through_labels_module(tmp_path, counts, monkeypatch):
    calls = []

    def read_labels(path):
        calls.append(path)
        return np.array(["cell-1", "cell-0"]), np.array(["B", "A"])

    def match_labels(example_names, names, labels, path):
        lookup = dict(zip(names, labels, strict=True))
        return np.array([lookup.get(name, "0") for name in example_names], dtype=object)

    fake = types.ModuleType("scvae.data.readers.labels")
    fake.read_labels, fake.match_labels = read_labels, match_labels
    monkeypatch.setitem(sys.modules, "scvae.data.readers.labels", fake)
    write_mtx_folder(tmp_path / "m", counts)
    raw = read(tmp_path / "m", options=ReadOptions(labels_path=str(tmp_path / "labels.tsv")))
    assert raw.labels[:3].tolist() == ["A", "B", "0"] and len(calls) == 1


# ---------------------------------------------------------------- unsafe archives
@pytest.mark.parametrize("name", ["../evil.txt", "/tmp/scvae-evil.txt", "a/../../evil.txt"])
def test_archive_with_escaping_member_is_refused(tmp_path, name):
    archive = tmp_path / "bad.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"owned\n"
        member = tarfile.TarInfo(name)
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    with pytest.raises(DataError, match="refusing to extract") as error:
        read_10x(archive, ReadOptions())
    assert archive.name in str(error.value)
    assert not (tmp_path.parent / "evil.txt").exists()
    assert not Path("/tmp/scvae-evil.txt").exists()


def test_archive_with_escaping_link_is_refused(tmp_path):
    archive = tmp_path / "link.tar"
    with tarfile.open(archive, "w") as tar:
        member = tarfile.TarInfo("m/barcodes.tsv")
        member.type, member.linkname = tarfile.SYMTYPE, "../../../etc/passwd"
        tar.addfile(member)
    with pytest.raises(DataError, match="refusing to extract"):
        read_10x(archive, ReadOptions())


# ---------------------------------------------------------------- malformed input
def _sparse_without(part: str):
    def build(path: Path) -> None:
        matrix = sp.csr_matrix(np.eye(3, 4))
        write_sparse(path, matrix)
        with h5py.File(path, "a") as file:
            del file[part]

    return build


def _sparse_edit(key: str, value: np.ndarray):
    def build(path: Path) -> None:
        write_sparse(path, sp.csr_matrix(np.eye(3, 4)), barcodes=cells(3))
        with h5py.File(path, "a") as file:
            del file[key]
            file.create_dataset(key, data=value)

    return build


def _h5(**datasets: np.ndarray):
    def build(path: Path) -> None:
        with h5py.File(path, "w") as file:
            for key, value in datasets.items():
                file.create_dataset(key, data=value)

    return build


def _text(content: bytes):
    return lambda path: path.write_bytes(content)


def _truncated_h5(path: Path) -> None:
    _h5(X=np.ones((50, 50)))(path)
    path.write_bytes(path.read_bytes()[:3000])


def _loom_edit(edit):
    def build(path: Path) -> None:
        ids = np.arange(4) % 3
        write_loom(path, np.ones((4, 3)), CellID=np.array(cells(4), dtype="S"), ClusterID=ids)
        with h5py.File(path, "a") as file:
            edit(file)

    return build


def _folder(remove: str | None = None, replace: tuple[str, bytes] | None = None):
    def build(path: Path) -> None:
        write_mtx_folder(path, sp.csr_matrix(np.eye(4, 5)))
        if remove:
            (path / remove).unlink()
        if replace:
            (path / replace[0]).write_bytes(replace[1])

    return build


def _v3_h5_without_ids(path: Path) -> None:
    with h5py.File(path, "w") as file:
        matrix = sp.csc_matrix(np.eye(5, 4))
        for key in ("data", "indices", "indptr"):
            file.create_dataset(f"matrix/{key}", data=getattr(matrix, key))
        file.create_dataset("matrix/shape", data=np.array([5, 4]))
        file.create_dataset("matrix/barcodes", data=np.array(cells(4), dtype="S"))
        file.create_dataset("matrix/features/name", data=np.array(genes(5), dtype="S"))


def _h5ad(path: Path) -> None:
    import anndata

    anndata.AnnData(X=np.ones((3, 2)), obs=pd.DataFrame(index=cells(3))).write_h5ad(path)


def _empty_folder(path: Path) -> None:
    (path / "nested").mkdir(parents=True)


def _corrupt_tar(path: Path) -> None:
    path.write_bytes(gzip.compress(b"not a tar archive at all" * 40)[:-20])


def _damaged_gzip() -> bytes:
    buffer = io.BytesIO()
    scipy.io.mmwrite(buffer, sp.coo_matrix(np.eye(5, 4)))
    data = bytearray(gzip.compress(buffer.getvalue() + b"%" * 5000))
    data[len(data) // 2 : len(data) // 2 + 8] = b"\xff" * 8
    return bytes(data)


def _tar_without_barcodes(path: Path) -> None:
    folder = path.parent / "inner"
    write_mtx_folder(folder, sp.csr_matrix(np.eye(3, 5)))
    (folder / "barcodes.tsv.gz").unlink()
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname="matrices")


MALFORMED = [
    ("no_indptr.h5", _sparse_without("indptr"), read_hdf5, ReadOptions()),
    ("no_shape.h5", _sparse_without("shape"), read_hdf5, ReadOptions()),
    ("bad_indptr.h5", _sparse_edit("indptr", np.array([0, 1, 2])), read_hdf5, ReadOptions()),
    ("short_indices.h5", _sparse_edit("indices", np.array([0, 1])), read_hdf5, ReadOptions()),
    ("far_indices.h5", _sparse_edit("indices", np.array([0, 1, 9])), read_hdf5, ReadOptions()),
    ("bad_barcodes.h5", _sparse_edit("barcodes", np.array([b"a", b"b"])), read_hdf5, ReadOptions()),
    ("no_matrix.h5", _h5(Y=np.arange(3)), read_hdf5, ReadOptions()),
    ("two_matrices.h5", _h5(A=np.ones((2, 2)), B=np.ones((3, 2))), read_hdf5, ReadOptions()),
    ("short_labels.h5", _h5(X=np.ones((4, 2)), Y=np.arange(3)), read_hdf5, ReadOptions()),
    ("text_matrix.h5", _h5(X=np.array([[b"a", b"b"]])), read_hdf5, ReadOptions()),
    ("not_hdf5.h5", _text(b"gene\tcell\n1\t2\n"), read_hdf5, ReadOptions()),
    ("truncated.h5", _truncated_h5, read_hdf5, ReadOptions()),
    ("no_matrix.loom", _loom_edit(lambda f: f.__delitem__("matrix")), read_loom, ReadOptions()),
    ("bad_attr.loom", _loom_edit(lambda f: f.create_dataset("col_attrs/X", data=np.ones(2))),
     read_loom, ReadOptions()),
    ("bad_ids.loom", _loom_edit(lambda f: f.attrs.__setitem__("CellTypes", [b"a"])),
     read_loom, ReadOptions()),
    ("no_batch.loom", _loom_edit(lambda f: None), read_loom, ReadOptions(batch_key="Donor")),
    ("no_barcodes_folder", _folder(remove="barcodes.tsv.gz"), read_10x, ReadOptions()),
    ("no_features_folder", _folder(remove="features.tsv.gz"), read_10x, ReadOptions()),
    ("empty_barcodes_folder", _folder(replace=("barcodes.tsv.gz", gzip.compress(b""))),
     read_10x, ReadOptions()),
    ("short_barcodes_folder", _folder(replace=("barcodes.tsv.gz", gzip.compress(b"a\nb\n"))),
     read_10x, ReadOptions()),
    ("corrupt_gzip_folder", _folder(replace=("matrix.mtx.gz", _damaged_gzip())),
     read_10x, ReadOptions()),
    ("not_mtx_folder", _folder(replace=("matrix.mtx.gz", gzip.compress(b"hello\n1 2 3\n"))),
     read_10x, ReadOptions()),
    ("no_matrix_folder", _empty_folder, read_10x, ReadOptions()),
    ("no_ids_v3.h5", _v3_h5_without_ids, read_10x, ReadOptions()),
    ("no_groups.h5", _h5(X=np.ones((2, 2))), read_10x, ReadOptions()),
    ("corrupt.tar.gz", _corrupt_tar, read_10x, ReadOptions()),
    ("no_barcodes.tar.gz", _tar_without_barcodes, read_10x, ReadOptions()),
    ("unknown.bin", _text(b"\x00\x01 nothing"), read_10x, ReadOptions()),
    ("layer.h5ad", _h5ad, read_h5ad, ReadOptions(layer="counts")),
    ("batch.h5ad", _h5ad, read_h5ad, ReadOptions(batch_key="donor")),
    ("garbage.h5ad", _text(b"\x89HDF\r\n\x1a\n" + b"\x00" * 600), read_h5ad, ReadOptions()),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "build", "reader", "options"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_malformed_input_raises_data_error(tmp_path, name, build, reader, options):
    path = tmp_path / name
    build(path)
    with pytest.raises(DataError) as error:
        reader(path, options)
    assert name in str(error.value)
    assert "\n" not in str(error.value)
