"""A corpus of malformed inputs: each gives one line naming the file, exit 2, no cache."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from scvae.cli import main
from scvae.data.cache import read_raw


def _text(name, content):
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_text(content)
        return path

    return make


def _gzip(name, content: bytes, truncate: int | None = None):
    def make(folder: Path) -> Path:
        path = folder / name
        data = gzip.compress(content)
        path.write_bytes(data[:truncate] if truncate else data)
        return path

    return make


def _bytes(name, content: bytes):
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(content)
        return path

    return make


def _h5(name, arrays: dict):
    def make(folder: Path) -> Path:
        path = folder / name
        with h5py.File(path, "w") as f:
            for key, value in arrays.items():
                f[key] = value
        return path

    return make


def _loom_without_matrix(folder: Path) -> Path:
    path = folder / "bad.loom"
    with h5py.File(path, "w") as f:
        f.create_group("row_attrs")["Gene"] = np.array([b"a", b"b"])
        f.create_group("col_attrs")["CellID"] = np.array([b"c1"])
    return path


def _mtx_folder(barcodes: int | None, corrupt: bool = False):
    def make(folder: Path) -> Path:
        target = folder / "tenx"
        target.mkdir()
        body = b"%%MatrixMarket matrix coordinate integer general\n3 2 2\n1 1 5\n3 2 1\n"
        data = gzip.compress(body)
        (target / "matrix.mtx.gz").write_bytes(data[: len(data) // 2] if corrupt else data)
        features = b"g1\tG1\tGene Expression\ng2\tG2\tGene Expression\ng3\tG3\tGene Expression\n"
        (target / "features.tsv.gz").write_bytes(gzip.compress(features))
        if barcodes is not None:
            lines = "".join(f"AAA{i}-1\n" for i in range(barcodes)).encode()
            (target / "barcodes.tsv.gz").write_bytes(gzip.compress(lines))
        return target

    return make


def _evil_tar(folder: Path) -> Path:
    path = folder / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        content = b"%%MatrixMarket matrix coordinate integer general\n1 1 1\n1 1 1\n"
        info = tarfile.TarInfo("../../escaped/matrix.mtx")
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    return path


def _json(content, name="spec.json"):
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return path

    return make


def _empty_folder(folder: Path) -> Path:
    target = folder / "nothing_here"
    target.mkdir()
    (target / "readme.txt").write_text("no matrix")
    return target


def _with_labels(make_values, labels_text):
    def make(folder: Path) -> tuple[Path, list[str]]:
        (folder / "labels.tsv").write_text(labels_text)
        return make_values(folder), ["--labels", str(folder / "labels.tsv")]

    return make


GOOD_TSV = "cell\tg1\tg2\nc1\t1\t2\nc2\t0\t3\n"

CASES = {
    "empty file": _text("empty.tsv", ""),
    "truncated gzip": _gzip("trunc.tsv.gz", GOOD_TSV.encode() * 50, truncate=40),
    "ragged rows": _text("ragged.tsv", "cell\tg1\tg2\nc1\t1\t2\nc2\t0\n"),
    "non-numeric cell": _text("word.tsv", "cell\tg1\tg2\nc1\t1\tfoo\nc2\t0\t3\n"),
    "negative value": _text("negative.tsv", "cell\tg1\tg2\nc1\t1\t-2\nc2\t0\t3\n"),
    "NaN value": _text("nan.tsv", "cell\tg1\tg2\nc1\t1\tnan\nc2\t0\t3\n"),
    "Inf value": _text("inf.tsv", "cell\tg1\tg2\nc1\t1\tinf\nc2\t0\t3\n"),
    "header only": _text("header.tsv", "cell\tg1\tg2\n"),
    "zero genes": _text("nogenes.tsv", "c1\nc2\nc3\n"),
    "binary garbage as text": _bytes("garbage.tsv", bytes(range(256)) * 4),
    "label count mismatch": _with_labels(_text("counts.tsv", GOOD_TSV), "a\nb\nc\nd\ne\n"),
    "sparse h5 missing indptr": _h5(
        "sparse.h5", {"data": np.ones(2), "indices": np.array([0, 1]), "shape": np.array([2, 2])}
    ),
    "h5 without a matrix": _h5("vector.h5", {"Y": np.arange(3)}),
    "h5 garbage bytes": _bytes("broken.h5", b"not an hdf5 file at all" * 10),
    "h5ad garbage bytes": _bytes("broken.h5ad", b"\x89HDF\r\n" + b"x" * 100),
    "loom without matrix": _loom_without_matrix,
    "mtx folder without barcodes": _mtx_folder(None),
    "mtx barcodes mismatch": _mtx_folder(5),
    "corrupt gzip mtx": _mtx_folder(2, corrupt=True),
    "tar with path traversal": _evil_tar,
    "folder without a matrix": _empty_folder,
    "json without values": _json({"labels": "x.tsv"}),
    "json syntax error": _json("{values: oops"),
    "json values missing file": _json({"values": "missing.tsv", "format": "tsv"}),
    "json not an object": _json([1, 2, 3]),
    "unknown extension": _text("matrix.xyz", GOOD_TSV),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(case, tmp_path, capsys):
    made = CASES[case](tmp_path)
    path, extra = made if isinstance(made, tuple) else (made, [])
    data_directory = tmp_path / "data_directory"
    code = main(
        ["analyse", str(path), "-D", str(data_directory), "-A", str(tmp_path / "a"), *extra]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    named = [path.name] + [Path(a).name for a in extra if "/" in a]
    assert any(name in err for name in named), err
    # nothing half-written: no temporary files, and any cache left is complete and valid
    files = [p for p in data_directory.rglob("*") if p.is_file()] if data_directory.exists() else []
    assert not [p for p in files if p.name.endswith(".tmp")]
    for cache in files:
        read_raw(cache)


def test_path_that_does_not_exist(tmp_path, capsys):
    assert main(["analyse", str(tmp_path / "absent.loom"), "-D", str(tmp_path)]) == 2
    assert "absent.loom" in capsys.readouterr().err


def test_unknown_format_name(tmp_path, capsys):
    path = _text("ok.tsv", GOOD_TSV)(tmp_path)
    assert main(["analyse", str(path), "-f", "nonsense", "-D", str(tmp_path / "d")]) == 2
    assert "nonsense" in capsys.readouterr().err


def test_multi_genome_without_choice_lists_genomes(shared_data, tmp_path, capsys):
    path = shared_data / "scanpy_10x_testdata/1.2.0/multiple_genomes.h5"
    assert main(["analyse", str(path), "-D", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "genome" in err.lower() and "--genome" in err or "genomes" in err


def test_dot_slash_path_and_format_override(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("x.dat").write_text(GOOD_TSV)
    code = main(["analyse", "./x.dat", "--format", "matrix_ebf", "-D", "d", "-A", "a"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "a/x/no_split/no_preprocessing/data/data_set_metrics.log").exists()
