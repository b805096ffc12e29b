"""Every format name works on the user's own files, through ``--format`` and a JSON spec.

Each case writes a tiny file in its format with another library (h5py, anndata, scipy,
gzip, struct, pickle) or by hand, and the expected counts, names and labels are the ones
written; the data set read back through the command line and through a JSON
specification must hold exactly those.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import pickle
import struct
import tarfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from scvae.cli import main
from scvae.data import DataSet
from scvae.data.loading import load_raw
from scvae.data.raw import ReadOptions
from scvae.data.readers import READERS, normalise_format
from scvae.errors import DataError

COUNTS = np.array([[0, 3, 1], [2, 0, 0], [5, 1, 4], [0, 0, 7]])  # 4 cells x 3 genes
CELLS = ["c1", "c2", "c3", "c4"]
GENES = ["Rho", "Sag", "Pde6b"]
LABELS = ["rod", "cone", "rod", "cone"]


# ------------------------------------------------------------------ writers
def _tsv(rows: list[list[object]]) -> str:
    return "".join("\t".join(str(v) for v in row) + "\n" for row in rows)


def write_ebf(folder: Path) -> tuple[Path, dict]:
    path = folder / "cells.tsv"
    path.write_text(
        _tsv([["cell", *GENES], *([c, *r] for c, r in zip(CELLS, COUNTS.tolist(), strict=True))])
    )
    (folder / "labels.tsv").write_text(_tsv(list(zip(CELLS, LABELS, strict=True))))
    return path, {"labels": folder / "labels.tsv"}


def write_fbe(folder: Path) -> tuple[Path, dict]:
    path = folder / "genes.tsv.gz"
    rows = [["gene", *CELLS], *([g, *r] for g, r in zip(GENES, COUNTS.T.tolist(), strict=True))]
    path.write_bytes(gzip.compress(_tsv(rows).encode()))
    (folder / "labels.tsv").write_text(_tsv([["cell", "type"], *zip(CELLS, LABELS, strict=True)]))
    return path, {"labels": folder / "labels.tsv"}


def write_tcga(folder: Path) -> tuple[Path, dict]:
    """Xena: log2(x+1) values, genes x samples; a clinical matrix with one empty site."""
    path = folder / "xena.gz"
    logs = [[f"{math.log2(v + 1):.6f}" for v in row] for row in COUNTS.T.tolist()]
    path.write_bytes(gzip.compress(_tsv([["sample", *CELLS], *([g, *r] for g, r in zip(GENES, logs, strict=True))]).encode()))  # fmt: skip
    clinical = [["sampleID", "age", "_primary_site"], ["c3", 50, "rod"], ["c1", 61, "rod"],
                ["c2", 40, "cone"], ["c4", 70, "cone"], ["c9", 1, "other"]]  # fmt: skip
    (folder / "clinical.tsv").write_text(_tsv(clinical))
    return path, {"labels": folder / "clinical.tsv"}


def write_macosko(folder: Path) -> tuple[Path, dict]:
    """Genes x cells with gene names first; clusters of three of the four cells."""
    path = folder / "retina.txt.gz"
    rows = [["gene", *CELLS], *([g, *r] for g, r in zip(GENES, COUNTS.T.tolist(), strict=True))]
    path.write_bytes(gzip.compress(_tsv(rows).encode()))
    (folder / "clusters.txt").write_text("c1\t24\nc2\t25\nc3\t24\n")
    return path, {"labels": folder / "clusters.txt"}


def write_gtex(folder: Path) -> tuple[Path, dict]:
    path = folder / "reads.gct"
    rows = [["Name", "Description", *CELLS],
            *([f"ENSG{i}", g, *r] for i, (g, r) in enumerate(zip(GENES, COUNTS.T.tolist(), strict=True)))]  # fmt: skip
    path.write_text(f"#1.2\n{len(GENES)}\t{len(CELLS)}\n" + _tsv(rows))
    (folder / "attributes.txt").write_text(
        _tsv([["SAMPID", "SMTSD"], *zip(CELLS, LABELS, strict=True)])
    )
    return path, {"labels": folder / "attributes.txt"}


def write_loom(folder: Path) -> tuple[Path, dict]:
    path = folder / "cells.loom"
    with h5py.File(path, "w") as file:
        file["matrix"] = COUNTS.T.astype(np.float32)
        file["row_attrs/Gene"] = np.array(GENES, dtype="S")
        file["col_attrs/CellID"] = np.array(CELLS, dtype="S")
        file["col_attrs/ClusterName"] = np.array(LABELS, dtype="S")
    return path, {}


def write_h5(folder: Path) -> tuple[Path, dict]:
    path = folder / "sparse.h5"
    matrix = sp.csr_matrix(COUNTS)
    with h5py.File(path, "w") as file:
        for key in ("data", "indices", "indptr"):
            file[key] = getattr(matrix, key)
        file["shape"] = np.array(matrix.shape)
        file["barcodes"] = np.array(CELLS, dtype="S")
        file["genes"] = np.array(GENES, dtype="S")
    (folder / "labels.tsv").write_text(_tsv(list(zip(CELLS, LABELS, strict=True))))
    return path, {"labels": folder / "labels.tsv"}


def write_h5ad(folder: Path) -> tuple[Path, dict]:
    import anndata
    import pandas as pd

    path = folder / "cells.h5ad"
    obs = pd.DataFrame({"label": LABELS}, index=CELLS)
    var = pd.DataFrame(index=GENES)
    anndata.AnnData(sp.csr_matrix(COUNTS, dtype=np.float32), obs=obs, var=var).write_h5ad(path)
    return path, {}


def tenx_tarball(counts: np.ndarray, barcodes: list[str], genome: str = "hg19") -> bytes:
    """A Cell Ranger v2 tarball: genes x cells matrix.mtx, genes.tsv, barcodes.tsv."""
    matrix = io.BytesIO()
    scipy.io.mmwrite(matrix, sp.coo_matrix(counts.T))
    members = {
        "matrix.mtx": matrix.getvalue(),
        "genes.tsv": _tsv([[f"ENSG{i}", g] for i, g in enumerate(GENES)]).encode(),
        "barcodes.tsv": "".join(f"{b}\n" for b in barcodes).encode(),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(f"filtered_gene_bc_matrices/{genome}/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write_10x(folder: Path) -> tuple[Path, dict]:
    path = folder / "pbmc.tar.gz"
    path.write_bytes(tenx_tarball(COUNTS, CELLS))
    (folder / "labels.tsv").write_text(_tsv(list(zip(CELLS, LABELS, strict=True))))
    return path, {"labels": folder / "labels.tsv"}


def write_10x_combine(folder: Path) -> tuple[Path, dict]:
    """Populations 'rod' (cells 1 and 3) and 'cone' (cells 2 and 4), stacked cone first."""
    populations = folder / "populations"
    populations.mkdir()
    for label in ("rod", "cone"):
        rows = [i for i, other in enumerate(LABELS) if other == label]
        archive = populations / f"{label}.tar.gz"
        archive.write_bytes(tenx_tarball(COUNTS[rows], [CELLS[i] for i in rows]))
    return populations, {}


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes (LeCun's format)."""
    head = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return head + array.astype(np.uint8).tobytes()


IMAGES = np.arange(4 * 2 * 2).reshape(4, 2, 2) * 16 % 256  # 4 images of 2 x 2 pixels
DIGITS = np.array([3, 1, 4, 1])


def write_mnist_original(folder: Path) -> tuple[Path, dict]:
    """LeCun's four files: three training images and one test image."""
    mnist = folder / "mnist"
    mnist.mkdir()
    for name, array in (("train-images-idx3-ubyte", IMAGES[:3]), ("train-labels-idx1-ubyte", DIGITS[:3]),
                        ("t10k-images-idx3-ubyte", IMAGES[3:]), ("t10k-labels-idx1-ubyte", DIGITS[3:])):  # fmt: skip
        (mnist / f"{name}.gz").write_bytes(gzip.compress(idx_bytes(array)))
    return mnist, {}


def write_mnist_normalised(folder: Path) -> tuple[Path, dict]:
    path = folder / "mnist.pkl.gz"
    flat = (IMAGES.reshape(4, -1) / 255).astype(np.float32)
    pairs = ((flat[:2], DIGITS[:2]), (flat[2:3], DIGITS[2:3]), (flat[3:], DIGITS[3:]))
    path.write_bytes(gzip.compress(pickle.dumps(pairs, protocol=2)))
    return path, {}


BINARY = (IMAGES.reshape(4, -1) > 100).astype(int)


def write_mnist_binarised(folder: Path) -> tuple[Path, dict]:
    path = folder / "digits.amat"
    path.write_text("".join(" ".join(map(str, row)) + "\n" for row in BINARY))
    return path, {}


def write_development(folder: Path) -> tuple[Path, dict]:
    path = folder / "anything.txt"
    path.write_text("not read\n")
    return path, {}


#: format -> (writer, expected values, expected labels or None, expected example names)
CASES: dict[str, tuple[Callable, np.ndarray, list | None, list | None]] = {
    "matrix_ebf": (write_ebf, COUNTS, LABELS, CELLS),
    "matrix_fbe": (write_fbe, COUNTS, LABELS, CELLS),
    "tcga": (write_tcga, COUNTS, LABELS, CELLS),
    "macosko": (write_macosko, COUNTS, ["24", "25", "24", "0"], CELLS),
    "gtex": (write_gtex, COUNTS, LABELS, CELLS),
    "loom": (write_loom, COUNTS, LABELS, CELLS),
    "h5": (write_h5, COUNTS, LABELS, CELLS),
    "h5ad": (write_h5ad, COUNTS, LABELS, CELLS),
    "10x": (write_10x, COUNTS, LABELS, CELLS),
    "10x_combine": (
        write_10x_combine,
        COUNTS[[1, 3, 0, 2]],
        ["cone", "cone", "rod", "rod"],
        ["c2_cone", "c4_cone", "c1_rod", "c3_rod"],
    ),
    "mnist_original": (write_mnist_original, IMAGES.reshape(4, -1), ["3", "1", "4", "1"], None),
    "mnist_normalised": (
        write_mnist_normalised,
        (IMAGES.reshape(4, -1) / 255).astype(np.float32),
        ["3", "1", "4", "1"],
        None,
    ),
    "mnist_binarised": (write_mnist_binarised, BINARY, None, None),
}


def test_every_registered_format_has_a_case():
    assert set(READERS) - {"json", "development"} == set(CASES)
    for name in ("tcga", "macosko", "10x-combine", "development", "MNIST-original",
                 "mnist_normalized", "mnist_binarized"):  # fmt: skip
        assert normalise_format(name) in READERS


def _check(data: DataSet, fmt: str) -> None:
    _, values, labels, examples = CASES[fmt]
    np.testing.assert_allclose(data.values.toarray(), values, rtol=1e-6)
    assert (None if data.labels is None else list(data.labels)) == labels
    if examples is not None:
        assert list(data.example_names) == examples


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_format_through_a_json_specification(tmp_path, fmt):
    writer = CASES[fmt][0]
    path, extra = writer(tmp_path)
    spec = {"values": path.name, "format": fmt.replace("_", "-").upper()}
    spec.update({key: value.name for key, value in extra.items()})
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    data = DataSet(str(tmp_path / "spec.json"), directory=tmp_path / "data").load()
    _check(data, fmt)


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_format_through_the_command_line(tmp_path, fmt, capsys):
    path, extra = CASES[fmt][0](tmp_path)
    labels = ["--labels", str(extra["labels"])] if "labels" in extra else []
    arguments = ["analyse", str(path), "--format", fmt, *labels, "-D", str(tmp_path / "d"),
                 "--analyses-directory", str(tmp_path / "a"), "--included-analyses", "metrics"]  # fmt: skip
    assert main(arguments) == 0, capsys.readouterr().err
    written = list((tmp_path / "a").rglob("data_set_metrics.json"))
    assert len(written) == 1
    values = CASES[fmt][1]
    metrics = json.loads(written[0].read_text())["full"]
    assert (metrics["number_of_examples"], metrics["number_of_features"]) == values.shape
    assert metrics["summary_statistics"]["maximum"] == pytest.approx(values.max())
    assert metrics["count_sum"]["mean"] == pytest.approx(values.sum(axis=1).mean())
    raw = load_raw(
        str(path), fmt, tmp_path / "d", ReadOptions(labels_path=labels[1] if labels else None)
    )
    np.testing.assert_allclose(raw.values.toarray(), values, rtol=1e-6)


# ------------------------------------------------------------------ format details
def test_mnist_sets_carry_splits_and_the_image_shape(tmp_path):
    original = DataSet(str(write_mnist_original(tmp_path)[0]), data_format="mnist_original",
                       directory=tmp_path / "d").load()  # fmt: skip
    assert original.specifications["feature dimensions"] == [2, 2]
    assert original.example_type == "images"
    assert {k: list(v) for k, v in original.split_indices.items()} == {
        "training": [0, 1, 2], "test": [3]}  # fmt: skip
    assert list(original.feature_names) == ["pixel 1", "pixel 2", "pixel 3", "pixel 4"]
    assert list(original.example_names) == ["image 1", "image 2", "image 3", "image 4"]
    normalised = load_raw(str(write_mnist_normalised(tmp_path)[0]), "mnist_normalised", tmp_path,
                          ReadOptions())  # fmt: skip
    assert {k: list(v) for k, v in normalised.split_indices.items()} == {
        "training": [0, 1], "validation": [2], "test": [3]}  # fmt: skip


def test_single_idx_images_file_takes_idx_labels(tmp_path):
    images, labels = tmp_path / "images-idx3-ubyte", tmp_path / "labels-idx1-ubyte"
    images.write_bytes(idx_bytes(IMAGES))
    labels.write_bytes(idx_bytes(DIGITS))
    raw = load_raw(str(images), None, tmp_path / "d", ReadOptions(labels_path=str(labels)))
    np.testing.assert_array_equal(raw.values.toarray(), IMAGES.reshape(4, -1))
    assert list(raw.labels) == ["3", "1", "4", "1"] and raw.split_indices is None
    labels.write_bytes(idx_bytes(DIGITS[:3]))
    with pytest.raises(DataError, match="3 labels for 4 images"):
        load_raw(
            str(images), "mnist_original", tmp_path / "e", ReadOptions(labels_path=str(labels))
        )


def test_a_truncated_idx_file_is_refused(tmp_path):
    path = tmp_path / "cut-idx3-ubyte"
    path.write_bytes(idx_bytes(IMAGES)[:-3])
    with pytest.raises(DataError, match="not the 16 declared"):
        load_raw(str(path), None, tmp_path / "d", ReadOptions())
    path.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(DataError, match="not an IDX file"):
        load_raw(str(path), "mnist_original", tmp_path / "e", ReadOptions())


class _Hostile:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path, capsys):
    path = tmp_path / "mnist.pkl"
    path.write_bytes(pickle.dumps(((_Hostile(), DIGITS), (_Hostile(), DIGITS))))
    with pytest.raises(DataError, match="refusing to load builtins.print"):
        load_raw(str(path), "mnist_normalised", tmp_path / "d", ReadOptions())
    assert "must never run" not in capsys.readouterr().out


def test_a_python_2_pickle_is_read(tmp_path):
    """mnist.pkl.gz was written by Python 2: array data as str, ``numpy.core`` names."""
    import numpy._core.multiarray as multiarray

    class Python2Style(pickle.Pickler):
        def reducer_override(self, obj):
            if isinstance(obj, np.ndarray):
                state = (1, obj.shape, obj.dtype, False, obj.tobytes().decode("latin1"))
                return multiarray._reconstruct, (np.ndarray, (0,), "b"), state
            return NotImplemented

    flat = (IMAGES.reshape(4, -1) / 255).astype(np.float32)
    buffer = io.BytesIO()
    Python2Style(buffer, protocol=2).dump(((flat[:3], DIGITS[:3]), (flat[3:], DIGITS[3:])))
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(buffer.getvalue().replace(b"numpy._core", b"numpy.core")))
    raw = load_raw(str(path), "mnist_normalised", tmp_path / "d", ReadOptions())
    np.testing.assert_array_equal(raw.values.toarray(), flat)
    assert {k: list(v) for k, v in raw.split_indices.items()} == {
        "training": [0, 1, 2],
        "test": [3],
    }


def test_tcga_turns_log_values_back_into_counts_and_marks_missing_sites(tmp_path):
    path, extra = write_tcga(tmp_path)
    (tmp_path / "clinical.tsv").write_text(_tsv([["sampleID", "_primary_site"], ["c1", "rod"],
                                                 ["c2", ""], ["c3", "rod"]]))  # fmt: skip
    raw = load_raw(str(path), "tcga", tmp_path / "d", ReadOptions(labels_path=str(extra["labels"])))
    assert list(raw.labels) == ["rod", "No class", "rod", "No class"]
    assert raw.values.dtype == np.float32 and np.array_equal(raw.values.toarray(), COUNTS)


def test_user_files_get_no_superset_from_the_format_but_json_can_add_one(tmp_path):
    path, extra = write_macosko(tmp_path)
    data = DataSet(str(path), data_format="macosko", directory=tmp_path / "d",
                   read_options=ReadOptions(labels_path=str(extra["labels"]))).load()  # fmt: skip
    assert data.label_superset is None and data.excluded_classes == []
    spec = {"values": path.name, "labels": "clusters.txt", "format": "macosko",
            "label superset": {"Rods": ["24"], "Cones": ["25"], "No class": ["0"]}}  # fmt: skip
    (tmp_path / "retina.json").write_text(json.dumps(spec))
    data = DataSet(str(tmp_path / "retina.json"), directory=tmp_path / "d").load()
    assert list(data.superset_labels) == ["Rods", "Cones", "Rods", "No class"]


def test_10x_combine_needs_a_folder_of_populations(tmp_path):
    with pytest.raises(DataError, match="one 10x matrix per population"):
        load_raw(str(write_10x(tmp_path)[0]), "10x_combine", tmp_path / "d", ReadOptions())
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="holds no 10x matrices"):
        load_raw(str(tmp_path / "empty"), "10x_combine", tmp_path / "d", ReadOptions())


def test_development_format_generates_the_synthetic_set(tmp_path, capsys):
    path, _ = write_development(tmp_path)
    data = DataSet(str(path), data_format="development", directory=tmp_path / "d").load()
    assert data.values.shape == (10_000, 25)
    assert "is not read" in capsys.readouterr().err
    (tmp_path / "dev.json").write_text(json.dumps({"format": "development", "title": "Mine"}))
    data = DataSet(str(tmp_path / "dev.json"), directory=tmp_path / "d").load()
    assert data.values.shape == (10_000, 25) and data.title == "Mine"


# ------------------------------------------------------------------ JSON keys
def test_label_superset_infer_in_a_json_specification(tmp_path):
    (tmp_path / "cells.tsv").write_text(_tsv([["cell", *GENES], *([c, *r] for c, r in zip(CELLS, COUNTS.tolist(), strict=True))]))  # fmt: skip
    (tmp_path / "labels.tsv").write_text(
        _tsv(
            list(zip(CELLS, ["Amacrine 3", "Amacrine 12", "Bipolar cells 2", "Rods"], strict=True))
        )
    )
    spec = {"values": "cells.tsv", "labels": "labels.tsv", "label superset": "infer"}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    data = DataSet(str(tmp_path / "spec.json"), directory=tmp_path / "d").load()
    assert list(data.superset_labels) == ["Amacrine", "Amacrine", "Bipolar cells", "Rods"]
    spec["label superset"] = "guess"
    (tmp_path / "bad.json").write_text(json.dumps(spec))
    with pytest.raises(DataError, match='an object or "infer"'):
        DataSet(str(tmp_path / "bad.json"), directory=tmp_path / "d").load()


def test_feature_mapping_key_groups_feature_ids(tmp_path):
    (tmp_path / "cells.tsv").write_text(_tsv([["cell", *GENES], *([c, *r] for c, r in zip(CELLS, COUNTS.tolist(), strict=True))]))  # fmt: skip
    (tmp_path / "probes.tsv").write_text("id\tgene\nRho\tA\nSag\tB\nPde6b\tA\n")
    spec = {"values": "cells.tsv", "feature mapping": "probes.tsv"}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    data = DataSet(str(tmp_path / "spec.json"), directory=tmp_path / "d", map_features=True).load()
    assert sorted(data.feature_names) == ["A", "B"]
    by_name = dict(zip(data.feature_names, data.values.toarray().T.tolist(), strict=True))
    assert by_name["A"] == (COUNTS[:, 0] + COUNTS[:, 2]).tolist()


def test_10x_combine_populations_through_json_urls(tmp_path):
    populations, _ = write_10x_combine(tmp_path)
    spec = {
        "format": "10x-combine",
        "URLs": {"all": {"Rods": "populations/rod.tar.gz", "Cones": "populations/cone.tar.gz"}},
    }
    (tmp_path / "pops.json").write_text(json.dumps(spec))
    data = DataSet(str(tmp_path / "pops.json"), directory=tmp_path / "d").load()
    np.testing.assert_array_equal(data.values.toarray(), COUNTS[[1, 3, 0, 2]])
    assert list(data.labels) == ["Cones", "Cones", "Rods", "Rods"]


def test_a_misspelt_format_is_refused_when_parsing_with_a_suggestion(tmp_path, capsys):
    path, _ = write_ebf(tmp_path)
    assert main(["analyse", str(path), "--format", "mnist_orignal", "-D", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "unknown data format 'mnist_orignal'; did you mean mnist_original?" in error
    assert "10x_combine" in error and "tcga" in error and not (tmp_path / "cells").exists()


def test_an_oversized_pickle_is_refused_before_unpickling(tmp_path, monkeypatch):
    from scvae.data.readers import mnist

    path, _ = write_mnist_normalised(tmp_path)
    monkeypatch.setattr(mnist, "MAX_PICKLE_BYTES", 100)
    with pytest.raises(DataError, match="more than 100 bytes"):
        load_raw(str(path), "mnist_normalised", tmp_path / "d", ReadOptions())
