"""A generated corpus of hostile inputs: each is refused in one line, quickly, writing nothing.

Every case goes through ``scvae analyse`` (a few also through ``train -e 1``) and must end
with exit code 2 and exactly one ``scvae: error:`` line on stderr: no traceback, no crash,
nothing cached, and nothing written outside the folders given with ``-D``/``-A``/``-M``.
Bombs (a 2 MB gzip of one 2 GiB line, a tar.gz of a 2 GiB member) are built as repeated
deflate blocks, so making them is quick and they are refused before being unpacked.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import tarfile
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse as sp

from scvae.cli import main

GOOD_TSV = "cell\tg1\tg2\nc1\t1\t2\nc2\t0\t3\n"
MTX_HEADER = "%%MatrixMarket matrix coordinate integer general\n"
GIB = 1 << 30


# ---------------------------------------------------------------- builders
def repeated_gzip(head: bytes, block: bytes, repeat: int, tail: bytes = b"") -> bytes:
    """A valid gzip file of ``head + block * repeat + tail``, made without compressing it all."""

    def flushed(data: bytes) -> bytes:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)

    crc = zlib.crc32(head)
    for _ in range(repeat):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(tail, crc)
    size = len(head) + len(block) * repeat + len(tail)
    end = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = flushed(head) + flushed(block) * repeat + end.compress(tail) + end.flush()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + body + struct.pack("<II", crc, size & 0xFFFFFFFF)


def text(name: str, content: str):
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_text(content)
        return path

    return make


def raw_bytes(name: str, content: bytes):
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(content)
        return path

    return make


def h5(name: str, build):
    def make(folder: Path) -> Path:
        path = folder / name
        with h5py.File(path, "w") as file:
            build(file, folder)
        return path

    return make


def sparse_h5(data, indices, indptr, shape, name="sparse.h5"):
    def build(file, folder):
        file["data"], file["indices"] = np.asarray(data), np.asarray(indices)
        file["indptr"], file["shape"] = np.asarray(indptr), np.asarray(shape)

    return h5(name, build)


def h5ad(
    data=(1.0, 2.0, 3.0), indices=(0, 2, 1), indptr=(0, 2, 3), shape=(2, 3), kind="csr_matrix"
):
    """A minimal h5ad file (anndata's encoding) with the sparse parts given as they are."""

    def build(file, folder):
        file.attrs["encoding-type"], file.attrs["encoding-version"] = "anndata", "0.1.0"
        matrix = file.create_group("X")
        matrix.attrs["encoding-type"], matrix.attrs["encoding-version"] = kind, "0.1.0"
        matrix.attrs["shape"] = np.asarray(shape)
        matrix["data"], matrix["indices"] = np.asarray(data), np.asarray(indices)
        matrix["indptr"] = np.asarray(indptr)
        for key, size in (("obs", shape[0]), ("var", shape[1])):
            table = file.create_group(key)
            table.attrs.update(
                {"encoding-type": "dataframe", "encoding-version": "0.2.0", "_index": "_index"}
            )
            table.attrs["column-order"] = np.array([], dtype="S")
            names = [f"{key}{i}" for i in range(min(size, 10))]
            table["_index"] = np.array(names, dtype="S")

    return h5("bad.h5ad", build)


def mtx_folder(
    matrix: str | bytes, barcodes: str = "b1\nb2\n", features: str | bytes | None = None
):
    def make(folder: Path) -> Path:
        target = folder / "tenx"
        target.mkdir()
        body = matrix.encode() if isinstance(matrix, str) else matrix
        (target / "matrix.mtx.gz").write_bytes(
            body if body[:2] == b"\x1f\x8b" else gzip.compress(body)
        )
        (target / "barcodes.tsv").write_text(barcodes)
        genes = features if features is not None else "g1\tG1\ng2\tG2\ng3\tG3\n"
        feature_bytes = genes.encode() if isinstance(genes, str) else genes
        (target / "features.tsv.gz").write_bytes(feature_bytes)
        return target

    return make


def tar_of(members):
    """A tar.gz of ``(TarInfo, bytes | None)`` pairs."""

    def make(folder: Path) -> Path:
        path = folder / "archive.tar.gz"
        with tarfile.open(path, "w:gz") as archive:
            for info, content in members():
                if content is not None:
                    info.size = len(content)
                archive.addfile(info, io.BytesIO(content) if content is not None else None)
        return path

    return make


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def tar_bomb(folder: Path) -> Path:
    header = tarfile.TarInfo("x/matrix.mtx")
    header.size = 2 * GIB
    path = folder / "bomb.tar.gz"
    path.write_bytes(repeated_gzip(header.tobuf(), bytes(1 << 20), 2048, bytes(1024)))
    return path


def line_bomb(name: str = "line.tsv.gz"):
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(repeated_gzip(b"cell\t", b"1" * (1 << 20), 2048, b"\n"))
        return path

    return make


def fifo(folder: Path) -> Path:
    path = folder / "pipe.tsv"
    os.mkfifo(path)
    return path


def json_spec(specification, extra_files=None):
    def make(folder: Path) -> Path:
        for name, content in (extra_files or {}).items():
            (folder / name).write_text(content)
        path = folder / "spec.json"
        path.write_text(
            specification if isinstance(specification, str) else json.dumps(specification)
        )
        return path

    return make


def with_labels(make_values, labels: bytes):
    def make(folder: Path) -> tuple[Path, list[str]]:
        (folder / "labels.tsv.gz").write_bytes(labels)
        return make_values(folder), ["--labels", str(folder / "labels.tsv.gz")]

    return make


def external_link(file, folder):
    with h5py.File(folder / "other.h5", "w") as other:
        other["X"] = np.ones((2, 2))
    file["X"] = h5py.ExternalLink(str(folder / "other.h5"), "/X")


def external_storage(file, folder):
    (folder / "raw.bin").write_bytes(np.ones(4).tobytes())
    file.create_dataset("X", shape=(2, 2), dtype="f8", external=[(str(folder / "raw.bin"), 0, 32)])


def virtual_dataset(file, folder):
    with h5py.File(folder / "source.h5", "w") as source:
        source["v"] = np.ones((2, 2))
    layout = h5py.VirtualLayout(shape=(2, 2), dtype="f8")
    layout[:] = h5py.VirtualSource(str(folder / "source.h5"), "v", shape=(2, 2))
    file.create_virtual_dataset("X", layout)


def hollow_dense(file, folder):
    file.create_dataset("X", shape=(10**6, 10**6), dtype="f4", chunks=(100, 100))


def loom(matrix, cells=2, genes=3):
    def build(file, folder):
        file["matrix"] = np.asarray(matrix)
        file.create_group("row_attrs")["Gene"] = np.array(
            [f"g{i}" for i in range(genes)], dtype="S"
        )
        file.create_group("col_attrs")["CellID"] = np.array(
            [f"c{i}" for i in range(cells)], dtype="S"
        )

    return h5("bad.loom", build)


def cellranger_v3(indices=(0, 2, 1), barcodes=2):
    def build(file, folder):
        matrix = file.create_group("matrix")
        matrix["data"], matrix["indices"] = np.array([1, 2, 3]), np.asarray(indices)
        matrix["indptr"], matrix["shape"] = np.array([0, 2, 3]), np.array([3, 2])
        matrix["barcodes"] = np.array([f"b{i}" for i in range(barcodes)], dtype="S")
        features = matrix.create_group("features")
        features["id"] = np.array([b"g1", b"g2", b"g3"])
        features["name"] = np.array([b"G1", b"G2", b"G3"])

    return h5("cellranger.h5", build)


def many_members():
    return [(member(f"m/f{i}.txt"), b"") for i in range(10_001)]


# ---------------------------------------------------------------- the corpus
SPLIT_VALUES = {"values.tsv": GOOD_TSV}

CASES = {
    # structure of compressed matrices
    "h5ad column index beyond the shape": h5ad(indices=(0, 7, 9)),
    "h5ad negative column index": h5ad(indices=(0, -1, 1)),
    "h5ad decreasing indptr": h5ad(indptr=(0, 4, 3)),
    "h5ad indptr not ending at nnz": h5ad(indptr=(0, 1, 2)),
    "h5ad indptr not starting at 0": h5ad(indptr=(1, 2, 3)),
    "h5ad data and indices of different lengths": h5ad(indices=(0, 1)),
    "h5ad float indices": h5ad(indices=(0.0, 2.0, 1.0)),
    "h5ad csc row index beyond the shape": h5ad(indices=(0, 5, 1), indptr=(0, 1, 2, 3), kind="csc_matrix"),
    "h5ad value 1e39": h5ad(data=(1.0, 1e39, 2.0)),
    "h5ad infinite value": h5ad(data=(1.0, np.inf, 2.0)),
    "h5ad shape 2 x 2^40": h5ad(shape=(2, 2**40)),
    "h5ad string values": h5ad(data=np.array([b"a", b"b", b"c"])),
    "h5 sparse shape 2 x 2^40": sparse_h5([1.0], [5], [0, 1, 1], [2, 2**40]),
    "h5 sparse decreasing indptr": sparse_h5([1.0], [0], [0, 2, 1], [2, 2]),
    "h5 sparse negative index": sparse_h5([1.0, 2.0], [0, -3], [0, 1, 2], [2, 2]),
    "h5 sparse float indices": sparse_h5([1.0, 2.0], [0.0, 1.0], [0, 1, 2], [2, 2]),
    "h5 sparse shape with three numbers": sparse_h5([1.0], [0], [0, 1, 1], [2, 2, 2]),
    "h5 sparse negative shape": sparse_h5([1.0], [0], [0, 1], [-1, 2]),
    "h5 sparse value 1e39": sparse_h5([1.0, 1e39], [0, 1], [0, 1, 2], [2, 2]),
    "h5 dense declared 10^12 entries": h5("hollow.h5", hollow_dense),
    "h5 dense value 1e39": h5("dense.h5", lambda f, _: f.create_dataset("X", data=[[1.0, 1e39]])),
    "h5 external link": h5("linked.h5", external_link),
    "h5 external storage": h5("external.h5", external_storage),
    "h5 virtual dataset": h5("virtual.h5", virtual_dataset),
    "10x h5 index beyond the genes": cellranger_v3(indices=(0, 9, 1)),
    "10x h5 barcodes of the wrong length": cellranger_v3(barcodes=5),
    "loom value 1e39": loom([[1.0, 1e39], [0.0, 1.0], [2.0, 3.0]]),
    "loom NaN value": loom([[1.0, np.nan], [0.0, 1.0], [2.0, 3.0]]),
    "loom attribute of the wrong length": loom([[1.0, 2.0]], cells=2, genes=3),
    # MatrixMarket
    "mtx integer file holding 1.5": mtx_folder(MTX_HEADER + "3 2 2\n1 1 1.5\n3 2 1\n"),
    "mtx header claiming 10^12 entries": mtx_folder(MTX_HEADER + "1000000 1000000 1000000000000\n1 1 1\n"),
    "mtx dimensions 1e20": mtx_folder(MTX_HEADER + "1e20 2 1\n1 1 1\n"),
    "mtx dimensions of 21 digits": mtx_folder(MTX_HEADER + "100000000000000000000 2 1\n1 1 1\n"),
    "mtx fewer entries than declared": mtx_folder(MTX_HEADER + "3 2 3\n1 1 5\n3 2 1\n"),
    "mtx more entries than declared": mtx_folder(MTX_HEADER + "3 2 1\n1 1 5\n3 2 1\n"),
    "mtx row index 0": mtx_folder(MTX_HEADER + "3 2 2\n0 1 5\n3 2 1\n"),
    "mtx column index beyond the shape": mtx_folder(MTX_HEADER + "3 2 2\n1 1 5\n3 9 1\n"),
    "mtx fractional index": mtx_folder(MTX_HEADER + "3 2 2\n1.5 1 5\n3 2 1\n"),
    "mtx value 1e39": mtx_folder(MTX_HEADER.replace("integer", "real") + "3 2 2\n1 1 1e39\n3 2 1\n"),
    "mtx value nan": mtx_folder(MTX_HEADER.replace("integer", "real") + "3 2 2\n1 1 nan\n3 2 1\n"),
    "mtx without banner": mtx_folder("3 2 2\n1 1 5\n3 2 1\n"),
    "mtx complex field": mtx_folder(MTX_HEADER.replace("integer", "complex") + "3 2 1\n1 1 1 0\n"),
    "mtx ragged entry": mtx_folder(MTX_HEADER + "3 2 2\n1 1 5\n3 2\n"),
    "mtx word as value": mtx_folder(MTX_HEADER + "3 2 2\n1 1 five\n3 2 1\n"),
    "mtx symmetric but not square": mtx_folder(MTX_HEADER.replace("general", "symmetric") + "3 2 1\n1 1 5\n"),
    "mtx endless comment line": mtx_folder(repeated_gzip(MTX_HEADER.encode() + b"%", b"x" * (1 << 16), 64)),
    "mtx gzip bomb of feature names": mtx_folder(MTX_HEADER + "3 2 2\n1 1 5\n3 2 1\n", features=repeated_gzip(b"", b"g\tG\n" * 4096, 4096)),
    "mtx NUL in a barcode": mtx_folder(MTX_HEADER + "3 2 2\n1 1 5\n3 2 1\n", barcodes="b1\nb\x002\n"),
    # text
    "tsv value 1e39": text("big.tsv", "cell\tg1\tg2\nc1\t1\t1e39\nc2\t0\t3\n"),
    "tsv value -1e39": text("small.tsv", "cell\tg1\tg2\nc1\t1\t-1e39\nc2\t0\t3\n"),
    "csv value 1e400": text("huge.csv", "cell,g1,g2\nc1,1,1e400\nc2,0,3\n"),
    "tsv NUL in a gene name": text("nul.tsv", "cell\tg\x001\tg2\nc1\t1\t2\nc2\t0\t3\n"),
    "gzip of one 2 GiB line": line_bomb(),
    "labels gzip of one 2 GiB line": with_labels(text("counts.tsv", GOOD_TSV), repeated_gzip(b"", b"a" * (1 << 20), 2048)),
    "tsv with more fields than the limit": raw_bytes("wide.tsv.gz", repeated_gzip(b"cell", b"\t0" * (1 << 16), 64, b"\n")),
    "gct declaring other dimensions": text("bad.gct", "#1.2\n5\t2\nName\tDescription\ts1\ts2\ng1\tG1\t1\t2\n"),
    "FIFO as input": fifo,
    # archives
    "tar.gz of a 2 GiB member": tar_bomb,
    "tar with more than 10,000 members": tar_of(many_members),
    "tar with an escaping symbolic link": tar_of(lambda: [(member("m/barcodes.tsv", tarfile.SYMTYPE, "../../../etc/passwd"), None)]),
    "tar with an absolute path": tar_of(lambda: [(member("/tmp/scvae-absolute/matrix.mtx"), b"x")]),
    "tar with a device": tar_of(lambda: [(member("m/matrix.mtx", tarfile.CHRTYPE), None)]),
    "tar with a FIFO": tar_of(lambda: [(member("m/matrix.mtx", tarfile.FIFOTYPE), None)]),
    # JSON specifications
    "json values at /dev/zero": json_spec({"values": "/dev/zero", "format": "tsv"}),
    "json labels at /dev/zero": json_spec({"values": "values.tsv", "labels": "/dev/zero"}, SPLIT_VALUES),
    "json overlapping split indices": json_spec({"values": "values.tsv", "split indices": {"training": [0, 1], "test": [1]}}, SPLIT_VALUES),
    "json split index outside the data": json_spec({"values": "values.tsv", "split indices": {"training": [0, 5]}}, SPLIT_VALUES),
    "json split range beyond the data": json_spec({"values": "values.tsv", "split indices": {"training": {"start": 0, "stop": 10**12}}}, SPLIT_VALUES),
    "json split index repeated": json_spec({"values": "values.tsv", "split indices": {"training": [0, 0]}}, SPLIT_VALUES),
    "json split start as text": json_spec({"values": "values.tsv", "split indices": {"training": {"start": "0", "stop": 1}}}, SPLIT_VALUES),
    "json split of booleans": json_spec({"values": "values.tsv", "split indices": {"training": [True]}}, SPLIT_VALUES),
    "json number of 5,000 digits": json_spec('{"values": "values.tsv", "title": ' + "9" * 5000 + "}", SPLIT_VALUES),
}  # fmt: skip

#: a fragment each case's message must hold (the problem named, not a side effect)
EXPECTED = {
    "10x h5 barcodes of the wrong length": "'/matrix/barcodes' has (5,) entries, not 2",
    "10x h5 index beyond the genes": "'indices' hold the position 9, outside the matrix shape 3 x 2",
    "FIFO as input": "is a FIFO (named pipe), not a regular file",
    "csv value 1e400": "holds '1e400', which is too large",
    "gct declaring other dimensions": "declares 5 genes x 2 samples but holds 1 x 2",
    "gzip of one 2 GiB line": "line 1 is longer than 67,108,864 characters",
    "h5 dense declared 10^12 entries": "declares 1,000,000,000,000 entries (4 TB)",
    "h5 dense value 1e39": "1e+39 in row 1, column 2, too large for 32-bit floats",
    "h5 external link": "'/X' is an HDF5 external link",
    "h5 external storage": "dataset '/X' keeps its data in other files",
    "h5 sparse decreasing indptr": "'indptr' decreases somewhere",
    "h5 sparse float indices": "'indices' must hold integers, not float64",
    "h5 sparse negative index": "position -3, outside the matrix shape 2 x 2",
    "h5 sparse negative shape": "'shape' must hold two non-negative integers",
    "h5 sparse shape 2 x 2^40": "is 1,099,511,627,776, more than the limit",
    "h5 sparse shape with three numbers": "'shape' must hold two non-negative integers",
    "h5 sparse value 1e39": "1e+39 in row 2, column 2, too large for 32-bit floats",
    "h5 virtual dataset": "dataset '/X' keeps its data in other files",
    "h5ad column index beyond the shape": "position 9, outside the matrix shape 2 x 3",
    "h5ad csc row index beyond the shape": "position 5, outside the matrix shape 2 x 3",
    "h5ad data and indices of different lengths": "'data' has 3 entries but 'indices' has 2",
    "h5ad decreasing indptr": "'indptr' decreases somewhere",
    "h5ad float indices": "'indices' must hold integers, not float64",
    "h5ad indptr not ending at nnz": "not run from 0 to 2",
    "h5ad indptr not starting at 0": "not run from 1 to 3",
    "h5ad infinite value": "non-finite value (inf) in row 1, column 3",
    "h5ad negative column index": "position -1, outside the matrix shape 2 x 3",
    "h5ad shape 2 x 2^40": "is 1,099,511,627,776, more than the limit",
    "h5ad string values": "non-numeric type",
    "h5ad value 1e39": "1e+39 in row 1, column 3, too large for 32-bit floats",
    "json labels at /dev/zero": "key 'labels' points to /dev/zero, which is a device",
    "json number of 5,000 digits": "is not a usable JSON specification",
    "json overlapping split indices": "index 1 is in 'test' and an earlier split",
    "json split index outside the data": "'training' has indices outside 0..1",
    "json split index repeated": "'training' lists an index more than once",
    "json split of booleans": "'training' must be a list of integers",
    "json split range beyond the data": "runs from 0 to 1000000000000, outside 0..2",
    "json split start as text": "must give whole numbers for 'start' and 'stop'",
    "json values at /dev/zero": "key 'values' points to /dev/zero, which is a device",
    "labels gzip of one 2 GiB line": "labels.tsv.gz: line 1 is longer than 1,048,576 characters",
    "loom NaN value": "non-finite value (nan)",
    "loom attribute of the wrong length": "'row_attrs/Gene' has 3 entries, not 1",
    "loom value 1e39": "too large for 32-bit floats",
    "mtx NUL in a barcode": "example name 2 ('b\\02') holds a NUL character",
    "mtx column index beyond the shape": "entry 2 has the column 9, outside 1..2",
    "mtx complex field": "has MatrixMarket field 'complex'",
    "mtx dimensions 1e20": "should give 3 whole numbers (the sizes), not '1e20 2 1'",
    "mtx dimensions of 21 digits": "is 100,000,000,000,000,000,000, more than the limit",
    "mtx endless comment line": "line 2 of the header is longer than 65,536 bytes",
    "mtx fewer entries than declared": "holds 2 entries but declares 3",
    "mtx fractional index": "entry 1 has the row 1.5, outside 1..3",
    "mtx gzip bomb of feature names": "features.tsv.gz: has more than 3 lines",
    "mtx header claiming 10^12 entries": "declares 1,000,000,000,000 entries, more than its",
    "mtx integer file holding 1.5": "is declared 'integer' but entry 1 holds 1.5",
    "mtx more entries than declared": "holds more entries than the 1 it declares",
    "mtx ragged entry": "line 4 has 2 fields, not 3",
    "mtx row index 0": "entry 1 has the row 0, outside 1..3",
    "mtx symmetric but not square": "is declared symmetric but is not square",
    "mtx value 1e39": "1e+39 in entry 1, too large for 32-bit floats",
    "mtx value nan": "line 3 holds 'nan', which is not a finite number",
    "mtx without banner": "is not a MatrixMarket file",
    "mtx word as value": "line 3 holds 'five', which is not a number",
    "tar with a FIFO": "member 'm/matrix.mtx' is a special file",
    "tar with a device": "member 'm/matrix.mtx' is a special file",
    "tar with an absolute path": "is an absolute path; refusing to extract",
    "tar with an escaping symbolic link": "points outside the archive",
    "tar with more than 10,000 members": "holds more than 10,000 members",
    "tar.gz of a 2 GiB member": "would unpack to more than",
    "tsv NUL in a gene name": "feature name 1 ('g\\01') holds a NUL character",
    "tsv value -1e39": "-1e+39 in row 1, column 2, too large for 32-bit floats",
    "tsv value 1e39": "1e+39 in row 1, column 2, too large for 32-bit floats",
    "tsv with more fields than the limit": "line 1 has 4,194,305 fields, more than the limit",
}

TRAIN_CASES = (
    "h5ad column index beyond the shape",
    "mtx integer file holding 1.5",
    "tsv value 1e39",
    "gzip of one 2 GiB line",
)


def _files(root: Path, skip: tuple[Path, ...]) -> set[Path]:
    return {
        path
        for path in root.rglob("*")
        if not any(path == folder or folder in path.parents for folder in skip)
    }


def _refused(tmp_path, capsys, monkeypatch, case: str, command: list[str]) -> str:
    inputs, work = tmp_path / "in", tmp_path / "cwd"
    inputs.mkdir()
    work.mkdir()
    made = CASES[case](inputs)
    path, extra = made if isinstance(made, tuple) else (made, [])
    outputs = tuple(tmp_path / name for name in ("d", "a", "m"))
    before = _files(tmp_path, outputs)
    monkeypatch.chdir(work)
    folders = ["-D", str(outputs[0]), "-A", str(outputs[1])]
    if command[0] == "train":
        folders = ["-D", str(outputs[0]), "-M", str(outputs[2])]
    code = main([command[0], str(path), *command[1:], *folders, *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("scvae: error:"), err
    assert "Traceback" not in err
    assert _files(tmp_path, outputs) == before, "something was written outside -D/-A/-M"
    caches = list(outputs[0].rglob("*.h5")) if outputs[0].exists() else []
    assert not caches, caches
    return err


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_input_is_refused_in_one_line(case, tmp_path, capsys, monkeypatch):
    err = _refused(tmp_path, capsys, monkeypatch, case, ["analyse"])
    assert EXPECTED[case] in err, err


def test_every_case_names_its_expected_problem():
    assert set(EXPECTED) == set(CASES)
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", ["h5ad column index beyond the shape", "h5ad value 1e39"])
def test_hostile_h5ad_is_refused_when_backed(case, tmp_path, capsys, monkeypatch):
    err = _refused(tmp_path, capsys, monkeypatch, case, ["analyse", "--backed"])
    assert "bad.h5ad" in err


@pytest.mark.parametrize("case", TRAIN_CASES)
def test_hostile_input_is_refused_by_train(case, tmp_path, capsys, monkeypatch):
    _refused(tmp_path, capsys, monkeypatch, case, ["train", "-e", "1"])


def test_nan_categories_are_missing_labels_not_a_class(tmp_path):
    import anndata
    import pandas as pd

    from scvae.data.raw import ReadOptions
    from scvae.data.readers import read

    data = anndata.AnnData(sp.csr_matrix(np.ones((3, 2), dtype=np.float32)))
    data.obs["cell_type"] = pd.Categorical(["T cell", None, "B cell"])
    data.write_h5ad(tmp_path / "labels.h5ad")
    labels = read(tmp_path / "labels.h5ad", "infer", ReadOptions()).labels
    assert labels.tolist() == ["T cell", "No class", "B cell"]


def test_real_mtx_values_stay_as_written(tmp_path):
    from scipy.io import mmwrite

    from scvae.data.readers.mtx import read_mtx

    expected = sp.random(7, 5, density=0.4, random_state=1, format="coo") * 10
    mmwrite(tmp_path / "m.mtx", expected)
    read_back = read_mtx(tmp_path / "m.mtx")
    np.testing.assert_allclose(read_back.toarray(), expected.toarray())


def test_deeply_nested_json_specification_is_one_error(tmp_path):
    from scvae.data.readers.json_spec import read_json_spec
    from scvae.errors import DataError

    path = json_spec("[" * 100_000 + "]" * 100_000)(tmp_path)
    with pytest.raises(DataError, match="not a usable JSON specification"):
        read_json_spec(path)
