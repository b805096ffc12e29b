"""A generated corpus of hostile inputs: each is refused in one line, quickly, writing nothing.

Every case goes through ``scvae analyse`` (a few also through ``train -e 1``) and must end
with exit code 2 and exactly one ``scvae: error:`` line on stderr: no traceback, no crash,
nothing cached, and nothing written outside the folders given with ``-D``/``-A``/``-M``.
Bombs (a 2 MB gzip of one 2 GiB line, a tar.gz of a 2 GiB member) are built as repeated
deflate blocks, so making them is quick and they are refused before being unpacked.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hostile_files import (
    GOOD_TSV,
    MTX_HEADER,
    cellranger_v3,
    cut_short,
    external_link,
    external_storage,
    fifo,
    fifo_in_folder,
    fifo_labels,
    fifo_spec,
    h5,
    h5ad,
    hard_link_cycle,
    hollow_dense,
    json_spec,
    line_bomb,
    loom,
    many_members,
    member,
    mtx_folder,
    raw_bytes,
    repeated_gzip,
    sparse_h5,
    tar_bomb,
    tar_of,
    text,
    virtual_dataset,
    with_labels,
)

from scvae.cli import main

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
    "h5 group holding itself": h5("cycle.h5", hard_link_cycle),
    "h5ad cut in half": cut_short(h5ad()),
    "tar.gz cut in half": cut_short(tar_of(lambda: [(member("m/matrix.mtx"), b"%%MatrixMarket" * 400)])),
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
    "gct declaring 10^30 genes": text("huge.gct", "#1.2\t\n" + "1" + "0" * 30 + "\t2\nName\tDescription\ts1\ts2\n"),
    "gct declaring other dimensions": text("bad.gct", "#1.2\n5\t2\nName\tDescription\ts1\ts2\ng1\tG1\t1\t2\n"),
    "FIFO as input": fifo,
    "FIFO as labels": fifo_labels,
    "FIFO as the matrix of a 10x folder": fifo_in_folder,
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
    "FIFO as labels": "labels.tsv: is a FIFO (named pipe), not a regular file",
    "FIFO as the matrix of a 10x folder": "matrix.mtx: is a FIFO (named pipe)",
    "csv value 1e400": "holds '1e400', which is too large",
    "gct declaring 10^30 genes": "the declared number of genes is 1,000,000,000,000,000,000,000,000,000,000, more than",
    "gct declaring other dimensions": "declares 5 genes x 2 samples but holds 1 x 2",
    "gzip of one 2 GiB line": "line 1 is longer than 67,108,864 characters",
    "h5 dense declared 10^12 entries": "declares 1,000,000,000,000 entries (4 TB)",
    "h5 dense value 1e39": "too large for 32-bit floats (e.g. 1e+39 at row 0, column 1;",
    "h5 external link": "'/X' is an HDF5 external link",
    "h5 external storage": "dataset '/X' keeps its data in other files",
    "h5 sparse decreasing indptr": "'indptr' decreases somewhere",
    "h5 sparse float indices": "'indices' must hold integers, not float64",
    "h5 sparse negative index": "position -3, outside the matrix shape 2 x 2",
    "h5 sparse negative shape": "'shape' must hold two non-negative integers",
    "h5 sparse shape 2 x 2^40": "is 1,099,511,627,776, more than the limit",
    "h5 sparse shape with three numbers": "'shape' must hold two non-negative integers",
    "h5 sparse value 1e39": "too large for 32-bit floats (e.g. 1e+39 at row 1, column 1;",
    "h5 group holding itself": "holds neither a sparse matrix",
    "h5ad cut in half": "is not a readable HDF5 file",
    "tar.gz cut in half": "archive.tar.gz: is not a readable tar or zip archive",
    "h5 virtual dataset": "dataset '/X' keeps its data in other files",
    "h5ad column index beyond the shape": "position 9, outside the matrix shape 2 x 3",
    "h5ad csc row index beyond the shape": "position 5, outside the matrix shape 2 x 3",
    "h5ad data and indices of different lengths": "'data' has 3 entries but 'indices' has 2",
    "h5ad decreasing indptr": "'indptr' decreases somewhere",
    "h5ad float indices": "'indices' must hold integers, not float64",
    "h5ad indptr not ending at nnz": "not run from 0 to 2",
    "h5ad indptr not starting at 0": "not run from 1 to 3",
    "h5ad infinite value": "NaN or infinite numbers (e.g. inf at row 0, column 2)",
    "h5ad negative column index": "position -1, outside the matrix shape 2 x 3",
    "h5ad shape 2 x 2^40": "is 1,099,511,627,776, more than the limit",
    "h5ad string values": "non-numeric type",
    "h5ad value 1e39": "too large for 32-bit floats (e.g. 1e+39 at row 0, column 2;",
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
    "loom NaN value": "NaN or infinite numbers (e.g. nan at row 1, column 0)",
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
    "mtx value 1e39": "too large for 32-bit floats (e.g. 1e+39 in entry 1;",
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
    "tsv value -1e39": "too large for 32-bit floats (e.g. -1e+39 at row 0, column 1;",
    "tsv value 1e39": "too large for 32-bit floats (e.g. 1e+39 at row 0, column 1;",
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
    assert EXPECTED[case] in err


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


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (json_spec("[" * 100_000 + "]" * 100_000), "not a usable JSON specification"),
        (fifo_spec, r"is a FIFO \(named pipe\)"),
    ],
)
def test_json_specification_reader_refuses(make, words, tmp_path):
    # (through the command line, the cache key reads the specification first)
    from scvae.data.readers.json_spec import read_json_spec
    from scvae.errors import DataError

    with pytest.raises(DataError, match=words):
        read_json_spec(make(tmp_path))


BOMB_SCRIPT = """
import resource, sys, time
from scvae.cli import main
for path, extra in zip(sys.argv[1::2], sys.argv[2::2]):
    start = time.perf_counter()
    code = main(["analyse", path, "-D", extra + "/d", "-A", extra + "/a"])
    print(code, time.perf_counter() - start)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_bombs_are_refused_quickly_in_bounded_memory(tmp_path):
    paths = [line_bomb()(tmp_path), tar_bomb(tmp_path)]
    arguments = [str(part) for path in paths for part in (path, tmp_path / path.stem)]
    result = subprocess.run(
        [sys.executable, "-c", BOMB_SCRIPT, *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    *runs, peak_kib = result.stdout.split("\n")[:-1]
    for line in runs:
        code, seconds = line.split()
        assert code == "2" and float(seconds) < 30, result.stderr
    assert len(runs) == 2
    assert int(peak_kib) < 1 << 20, f"peak RSS {int(peak_kib) >> 10} MB"  # under 1 GB
