"""Builders of hostile input files for tests/data/test_hostile_inputs.py.

Each builder returns a function that writes its file (or folder) into a given folder and
returns the path (or the path and extra command-line arguments). Bombs are built as
repeated deflate blocks, so making a 2 MB gzip of 2 GiB takes about a second.
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

GOOD_TSV = "cell\tg1\tg2\nc1\t1\t2\nc2\t0\t3\n"
MTX_HEADER = "%%MatrixMarket matrix coordinate integer general\n"
GIB = 1 << 30


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


def fifo_labels(folder: Path) -> tuple[Path, list[str]]:
    (folder / "counts.tsv").write_text(GOOD_TSV)
    os.mkfifo(folder / "labels.tsv")
    return folder / "counts.tsv", ["--labels", str(folder / "labels.tsv")]


def fifo_in_folder(folder: Path) -> Path:
    target = folder / "tenx"
    target.mkdir()
    os.mkfifo(target / "matrix.mtx")
    (target / "barcodes.tsv").write_text("b1\n")
    (target / "features.tsv").write_text("g1\tG1\n")
    return target


def fifo_spec(folder: Path) -> Path:
    os.mkfifo(folder / "spec.json")
    return folder / "spec.json"


def hard_link_cycle(file, folder):
    group = file.create_group("a")
    group["x"] = np.ones(3)
    group["loop"] = group  # a group holding itself


def cut_short(make, keep: float = 0.5):
    """The file ``make`` writes, cut to a fraction of its length."""

    def cut(folder: Path) -> Path:
        path = make(folder)
        content = path.read_bytes()
        path.write_bytes(content[: int(len(content) * keep)])
        return path

    return cut
