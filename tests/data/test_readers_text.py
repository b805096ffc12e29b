"""Text matrix, labels, GTEx and JSON-specification readers: real files, small files, bad files."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scvae.data.raw import ReadOptions
from scvae.data.readers import read
from scvae.data.readers import text as text_module
from scvae.data.readers.gtex import read_gtex
from scvae.data.readers.json_spec import read_json_spec
from scvae.data.readers.labels import labels_for, match_labels, read_labels
from scvae.data.readers.text import read_matrix_ebf, read_matrix_fbe
from scvae.errors import DataError

SHARED = Path(__file__).parents[2].parent / "shared" / "data"
ZEISEL = "zeisel2015_cortex_first200genes"
CELLTYPIST = "celltypist_sample_near_integer/sample_cell_by_gene.csv.gz"

DENSE = np.array([[0, 1, 2, 0], [3, 0, 0, 4], [0, 0, 5, 6]], dtype=float)
EXAMPLES = ["c1", "c2", "c3"]
FEATURES = ["g1", "g2", "g3", "g4"]


def shared(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"{path} is not present")
    return path


def write(path: Path, text: str, compress: bool = False) -> Path:
    data = text.encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def matrix_text(sep: str, header: bool, index: bool, r_style: bool = False) -> str:
    lines = []
    if header:
        names = FEATURES if r_style or not index else ["cell", *FEATURES]
        lines.append(sep.join(names))
    for name, row in zip(EXAMPLES, DENSE, strict=True):
        values = [f"{v:g}" for v in row]
        lines.append(sep.join([name, *values] if index else values))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------- real files
def test_zeisel_genes_by_cells_matches_pandas() -> None:
    path = shared(f"{ZEISEL}/counts_genes_x_cells.tsv.gz")
    raw = read_matrix_fbe(path, ReadOptions())
    expected = pd.read_csv(path, sep="\t", index_col=0)
    assert raw.shape == (3005, 200)
    assert list(raw.example_names) == list(expected.columns)
    assert list(raw.feature_names) == list(expected.index)
    np.testing.assert_array_equal(raw.values.toarray(), expected.to_numpy(dtype=float).T)


def test_zeisel_labels_from_cell_annotation() -> None:
    path = shared(f"{ZEISEL}/counts_genes_x_cells.tsv.gz")
    annotation = shared(f"{ZEISEL}/cell_annotation.tsv.gz")
    raw = read(path, "matrix_fbe", ReadOptions(labels_path=str(annotation)))
    counts = sorted(Counter(raw.labels).values(), reverse=True)
    assert counts == [939, 820, 399, 290, 235, 224, 98]  # level1class, as in the README
    assert "No class" not in set(raw.labels)


def test_celltypist_cells_by_genes_csv() -> None:
    path = shared(CELLTYPIST)
    raw = read(path)  # format inferred: matrix_ebf
    assert raw.shape == (559, 32786)
    assert raw.values.dtype == np.float64
    assert raw.example_names[0] == "Cell_1" and raw.feature_names[0] == "MIR1302-10"
    assert np.abs(raw.values.data - np.round(raw.values.data)).max() <= 1e-10
    head = pd.read_csv(path, index_col=0, nrows=3)
    np.testing.assert_array_equal(raw.values[:3].toarray(), head.to_numpy(dtype=float))
    assert list(raw.feature_names) == list(head.columns)


# --------------------------------------------------------------------- small matrices
LAYOUTS = [
    ("m.tsv", "\t", True, True, False),
    ("m.tsv", "\t", True, True, True),
    ("m.tsv", "\t", False, True, False),
    ("m.tsv", "\t", True, False, False),
    ("m.tsv", "\t", False, False, False),
    ("m.csv", ",", True, True, False),
    ("m.csv.gz", ",", True, True, False),
    ("m.tsv.gz", "\t", False, True, False),
    ("m.txt", " ", True, True, False),
    ("m.txt", "  ", False, False, False),
]


@pytest.mark.parametrize(("name", "sep", "header", "index", "gz"), LAYOUTS)
def test_small_matrix_layouts(tmp_path: Path, name, sep, header, index, gz) -> None:
    gz = gz or name.endswith(".gz")
    path = write(tmp_path / name, matrix_text(sep, header, index), compress=gz)
    raw = read_matrix_ebf(path, ReadOptions())
    np.testing.assert_array_equal(raw.values.toarray(), DENSE)
    assert raw.values.format == "csr" and raw.values.nnz == 6
    expected_examples = EXAMPLES if index else ["example 1", "example 2", "example 3"]
    expected_features = FEATURES if header else [f"feature {j}" for j in range(1, 5)]
    assert list(raw.example_names) == expected_examples
    assert list(raw.feature_names) == expected_features


def test_header_without_name_over_index_column(tmp_path: Path) -> None:
    path = write(tmp_path / "r.tsv", matrix_text("\t", True, True, r_style=True))
    raw = read_matrix_ebf(path)
    assert list(raw.feature_names) == FEATURES and list(raw.example_names) == EXAMPLES


def test_fbe_is_the_transpose_of_ebf(tmp_path: Path) -> None:
    path = write(tmp_path / "m.tsv", matrix_text("\t", True, True))
    ebf, fbe = read_matrix_ebf(path), read_matrix_fbe(path)
    np.testing.assert_array_equal(fbe.values.toarray(), ebf.values.toarray().T)
    assert list(fbe.example_names) == FEATURES and list(fbe.feature_names) == EXAMPLES


def test_gzip_is_detected_by_magic_bytes_not_name(tmp_path: Path) -> None:
    text = matrix_text("\t", True, True)
    hidden = write(tmp_path / "hidden.tsv", text, compress=True)
    plain = write(tmp_path / "plain.tsv.gz", text)
    for path in (hidden, plain):
        np.testing.assert_array_equal(read_matrix_ebf(path).values.toarray(), DENSE)


def test_quoted_names_and_crlf(tmp_path: Path) -> None:
    text = '"",g1,g2\r\n"cell, one",1,0\r\n"c2",0,2\r\n'
    raw = read_matrix_ebf(write(tmp_path / "q.csv", text))
    assert list(raw.example_names) == ["cell, one", "c2"]
    assert list(raw.feature_names) == ["g1", "g2"]
    np.testing.assert_array_equal(raw.values.toarray(), [[1, 0], [0, 2]])


def test_two_index_columns_and_float_values(tmp_path: Path) -> None:
    text = "id\tsymbol\ts1\ts2\nE1\tA\t0.5\t1e2\nE2\tB\t-3\t0\n"
    raw = read_matrix_fbe(write(tmp_path / "m.tsv", text))
    assert list(raw.feature_names) == ["E1", "E2"] and list(raw.example_names) == ["s1", "s2"]
    np.testing.assert_array_equal(raw.values.toarray(), [[0.5, -3], [100, 0]])


def test_small_chunks_give_the_same_matrix(tmp_path: Path, monkeypatch) -> None:
    rng = np.random.default_rng(0)
    dense = rng.poisson(0.7, size=(53, 7)).astype(float)
    lines = ["\t".join(["cell", *[f"g{j}" for j in range(7)]])]
    lines += ["\t".join([f"c{i}", *[f"{v:g}" for v in row]]) for i, row in enumerate(dense)]
    path = write(tmp_path / "big.tsv", "\n".join(lines) + "\n")
    monkeypatch.setattr(text_module, "VALUES_PER_CHUNK", 20)  # 2 rows per chunk
    raw = read_matrix_ebf(path)
    np.testing.assert_array_equal(raw.values.toarray(), dense)
    assert list(raw.example_names) == [f"c{i}" for i in range(53)]


def test_ragged_row_at_a_chunk_start_is_caught(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path / "ragged_chunk.tsv", "a\t1\t2\nb\t3\t4\nc\t5\t6\t7\n")
    monkeypatch.setattr(text_module, "VALUES_PER_CHUNK", 6)  # 2 rows per chunk
    with pytest.raises(DataError, match="ragged_chunk.tsv: line 3 has 4 fields"):
        read_matrix_ebf(path)


def test_matrix_with_labels_file(tmp_path: Path) -> None:
    path = write(tmp_path / "m.tsv", matrix_text("\t", True, True))
    labels = write(tmp_path / "l.tsv", "c3\tB\nc1\tA\n")
    raw = read_matrix_ebf(path, ReadOptions(labels_path=str(labels)))
    assert list(raw.labels) == ["A", "No class", "B"]


# --------------------------------------------------------------------- labels
LABEL_FILES = [
    ("one.tsv", "1\n2\n1\n", False, ["1", "2", "1"]),
    ("one_header.tsv", "celltype\nT\nB\nT\n", False, ["T", "B", "T"]),
    ("one_extra_line.tsv", "whatever\nT\nB\nT\n", False, ["T", "B", "T"]),
    ("spaces.txt", "B cells\nT cells\nNK cells\n", False, ["B cells", "T cells", "NK cells"]),
    ("pairs.tsv", "c2\tB\nc1\tA\nc3\tC\n", False, ["A", "B", "C"]),
    ("pairs_header.tsv", "barcodes\tcelltype\nc2\tB\nc1\tA\nc3\tC\n", False, ["A", "B", "C"]),
    ("pairs_header_odd.tsv", "x\ty\nc2\tB\nc1\tA\nc3\tC\n", False, ["A", "B", "C"]),
    ("pairs_r_style.tsv", "label\nc2\tB\nc1\tA\nc3\tC\n", False, ["A", "B", "C"]),
    ("pairs.csv", "cell,label\nc1,A\nc3,C\n", False, ["A", "No class", "C"]),
    ("pairs.csv.gz", "c1,7\nc2,8\nc3,7\n", True, ["7", "8", "7"]),
    ("hidden_gz.tsv", "c1\tA\nc2\tB\nc3\tA\n", True, ["A", "B", "A"]),
    ("pairs_space.txt", "c1 T cells\nc2 B cells\nc3 T cells\n", False,
     ["T cells", "B cells", "T cells"]),
    ("columns.tsv", "x\tcell_id\tlevel1\tother\n0\tc1\tA\tz\n0\tc2\tB\tz\n0\tc3\tA\tz\n",
     False, ["A", "B", "A"]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "gz", "expected"), LABEL_FILES)
def test_label_file_shapes(tmp_path: Path, name, text, gz, expected) -> None:
    path = write(tmp_path / name, text, compress=gz)
    labels = labels_for(path, np.array(EXAMPLES, dtype=object))
    assert list(labels) == expected
    assert all(isinstance(label, str) for label in labels)


def test_read_labels_without_example_names(tmp_path: Path) -> None:
    names, labels = read_labels(write(tmp_path / "l.tsv", "cell\tlabel\nc1\t1\nc2\t2\n"))
    assert list(names) == ["c1", "c2"] and list(labels) == ["1", "2"]
    names, labels = read_labels(write(tmp_path / "o.tsv", "3\n4\n"))
    assert names is None and list(labels) == ["3", "4"]


def test_match_labels_directly() -> None:
    matched = match_labels(["a", "b", "c"], ["c", "a"], [2, 1], "l.tsv")
    assert list(matched) == ["1", "No class", "2"]
    assert list(match_labels(["a", "b"], None, ["x", "y"], "l.tsv")) == ["x", "y"]


def test_label_count_mismatch(tmp_path: Path) -> None:
    path = write(tmp_path / "short_labels.tsv", "A\nB\n")
    with pytest.raises(DataError, match="short_labels.tsv.*label count mismatch"):
        labels_for(path, np.array(EXAMPLES, dtype=object))


# --------------------------------------------------------------------- GTEx
GCT = (
    "#1.2\n3\t2\nName\tDescription\tS-1\tS-2\n"
    "ENSG1.1\tGENEA\t0\t5\nENSG2.1\tGENEB\t1\t0\nENSG3.1\tGENEA\t2\t3\n"
)
ATTRIBUTES = "SAMPID\tSMATSSCR\tSMTS\tSMTSD\nS-2\t1\tBlood\tWhole Blood\nS-9\t0\tLung\tLung\n"


def test_gtex_gct_with_sample_attributes(tmp_path: Path) -> None:
    path = write(tmp_path / "tiny.gct.gz", GCT, compress=True)
    attributes = write(tmp_path / "attributes.txt", ATTRIBUTES)
    raw = read(path, "infer", ReadOptions(labels_path=str(attributes)))
    assert raw.shape == (2, 3)
    np.testing.assert_array_equal(raw.values.toarray(), [[0, 1, 2], [5, 0, 3]])
    assert list(raw.example_names) == ["S-1", "S-2"]
    assert list(raw.feature_names) == ["ENSG1.1", "ENSG2.1", "ENSG3.1"]
    assert raw.feature_mapping == {"GENEA": ["ENSG1.1", "ENSG3.1"], "GENEB": ["ENSG2.1"]}
    assert list(raw.labels) == ["No class", "Whole Blood"]


# --------------------------------------------------------------------- JSON specifications
def test_json_spec_with_relative_paths_and_metadata(tmp_path: Path) -> None:
    folder = tmp_path / "sub"
    folder.mkdir()
    write(folder / "values.tsv", matrix_text("\t", True, True))
    write(folder / "labels.tsv", "c1\tA\nc2\tB\nc3\tA\n")
    write(folder / "batches.tsv", "10\n2\n10\n")
    specification = {
        "values": "values.tsv",
        "labels": "labels.tsv",
        "batches": "batches.tsv",
        "format": "matrix_ebf",
        "title": "Tiny",
        "example type": "counts",
        "terms": {"example": "cell", "feature": "gene"},
        "excluded classes": ["B"],
        "split indices": {"training": [0, 1], "test": {"start": 2, "stop": 3}},
    }
    path = folder / "tiny.json"
    path.write_text(json.dumps(specification))
    raw = read(path)
    np.testing.assert_array_equal(raw.values.toarray(), DENSE)
    assert list(raw.labels) == ["A", "B", "A"]
    assert list(raw.batch_indices) == [1, 0, 1] and raw.metadata["batch_names"] == ["2", "10"]
    assert raw.metadata["title"] == "Tiny" and raw.metadata["example type"] == "counts"
    assert raw.metadata["terms"]["example"] == "cell"
    assert raw.metadata["excluded classes"] == ["B"]
    assert list(raw.split_indices["test"]) == [2]


def test_json_spec_infers_the_format(tmp_path: Path) -> None:
    write(tmp_path / "genes.tsv", matrix_text("\t", True, True))
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"values": "genes.tsv", "format": "matrix_fbe"}))
    assert read_json_spec(path, ReadOptions()).shape == (4, 3)
    path.write_text(json.dumps({"values": str(tmp_path / "genes.tsv")}))
    assert read_json_spec(path, ReadOptions()).shape == (3, 4)


# --------------------------------------------------------------------- malformed input
GOOD = "cell\tg1\tg2\nc1\t1\t2\nc2\t3\t4\n"
BAD_MATRICES = [
    ("empty.tsv", b"", "is empty"),
    ("blank.tsv", b"\n  \n\n", "is empty"),
    ("ragged_long.tsv", b"cell\tg1\tg2\nc1\t1\t2\nc2\t3\t4\t5\n", "line 3 has 4 fields"),
    ("ragged_short.tsv", b"cell\tg1\tg2\nc1\t1\t2\nc2\t3\n", "line 3 has 2 fields"),
    ("word.tsv", b"cell\tg1\tg2\nc1\t1\t2\nc2\tthree\t4\n", "'three', which is not a number"),
    ("hole.csv", b",g1,g2\nc1,1,2\nc2,,4\n", "empty value"),
    ("truncated.tsv.gz", gzip.compress(GOOD.encode() * 50)[:-30], "truncated"),
    ("corrupt.tsv.gz", b"\x1f\x8b\x08\x00" + b"garbage" * 20, "gzip"),
    ("header_only.tsv", b"cell\tg1\tg2\n", "header line but no data rows"),
    ("names_only.tsv", b"cell\ng\nh\n", "no numeric values"),
    ("commas.tsv", b"c1,1,2\nc2,3,4\n", "comma-separated"),
    ("bad_header.tsv", b"cell\tg1\tg2\tg3\tg4\nc1\t1\t2\nc2\t3\t4\n", "header line has 5"),
    ("binary.tsv", b"\xff\xfe\x00\x81\x82" * 20, "not a text file"),
]


@pytest.mark.parametrize(("name", "content", "problem"), BAD_MATRICES)
def test_malformed_matrices(tmp_path: Path, name: str, content: bytes, problem: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as caught:
        read_matrix_ebf(path, ReadOptions())
    assert name in str(caught.value) and problem in str(caught.value)


BAD_LABELS = [
    ("labels_empty.tsv", "\n", "is empty"),
    ("labels_ragged.tsv", "c1\tA\nc2\tB\tC\n", "rows of different lengths"),
    ("labels_unmatched.tsv", "x1\tA\nx2\tB\n", "matches an example name"),
    ("labels_header_only.tsv", "cell\tlabel\n", "header line but no labels"),
]


@pytest.mark.parametrize(("name", "content", "problem"), BAD_LABELS)
def test_malformed_label_files(tmp_path: Path, name: str, content: str, problem: str) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(DataError) as caught:
        labels_for(path, np.array(EXAMPLES, dtype=object))
    assert name in str(caught.value) and problem in str(caught.value)


BAD_GCT = [
    ("no_version.gct", GCT.replace("#1.2", "1.2"), "first line"),
    ("no_dimensions.gct", GCT.replace("3\t2\n", "three\n"), "second line"),
    ("wrong_dimensions.gct", GCT.replace("3\t2\n", "4\t2\n"), "declares 4 genes"),
]


@pytest.mark.parametrize(("name", "content", "problem"), BAD_GCT)
def test_malformed_gct(tmp_path: Path, name: str, content: str, problem: str) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(DataError) as caught:
        read_gtex(path, ReadOptions())
    assert name in str(caught.value) and problem in str(caught.value)


BAD_SPECS = [
    ("invalid.json", "{values: 1", "not valid JSON"),
    ("list.json", '["values.tsv"]', "JSON object"),
    ("no_values.json", '{"labels": "values.tsv"}', "'values'"),
    ("unknown.json", '{"values": "values.tsv", "colour": 1}', "unknown key 'colour'"),
    ("missing.json", '{"values": "nowhere.tsv"}', "key 'values' points to"),
    ("bad_format.json", '{"values": "values.tsv", "format": "xls"}', "key 'format'"),
    ("bad_title.json", '{"values": "values.tsv", "title": 3}', "key 'title'"),
    ("bad_batches.json", '{"values": "values.tsv", "batches": "two.tsv"}', "4 batches for 2"),
    ("urls.json", '{"URLs": {"values": "http://x"}}', "'URLs'"),
]


@pytest.mark.parametrize(("name", "content", "problem"), BAD_SPECS)
def test_malformed_json_specs(tmp_path: Path, name: str, content: str, problem: str) -> None:
    write(tmp_path / "values.tsv", GOOD)
    write(tmp_path / "two.tsv", "1\n2\n3\n4\n")
    path = write(tmp_path / name, content)
    with pytest.raises(DataError) as caught:
        read_json_spec(path, ReadOptions())
    message = str(caught.value)
    assert problem in message
    assert name in message
