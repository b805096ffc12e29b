"""The MNIST built-in sets and JSON ``URLs``, fetched from a local HTTP server.

The server on 127.0.0.1 serves tiny look-alike files written here (IDX files, a pickle,
``.amat`` text); the expected values, digits and splits are the ones put into them.
"""

from __future__ import annotations

import gzip
import json
import pickle
import struct

import numpy as np
import pytest
from local_http import LocalServer

from scvae.cli import main
from scvae.data import DataSet
from scvae.data import download as download_module
from scvae.data.catalogue import CATALOGUE, MIRROR_VARIABLE
from scvae.data.loading import load_raw
from scvae.data.raw import ReadOptions
from scvae.errors import DataError

IMAGES = (np.arange(5 * 3 * 3).reshape(5, 3, 3) * 7) % 256  # 5 images of 3 x 3 pixels
DIGITS = np.array([5, 0, 4, 1, 9])


def idx_bytes(array: np.ndarray) -> bytes:
    head = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    return head + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


@pytest.fixture
def server(mirror):
    return mirror


def _serve_original(server) -> None:
    for stem, images, digits in (
        ("train", IMAGES[:4], DIGITS[:4]),
        ("t10k", IMAGES[4:], DIGITS[4:]),
    ):
        server.files[f"mnist/{stem}-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(images))
        server.files[f"mnist/{stem}-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(digits))


def test_mnist_original_is_downloaded_with_its_split_and_image_shape(server, tmp_path):
    _serve_original(server)
    data = DataSet("MNIST (original)", directory=tmp_path).load()
    np.testing.assert_array_equal(data.values.toarray(), IMAGES.reshape(5, -1))
    assert list(data.labels) == ["5", "0", "4", "1", "9"]
    assert {k: list(v) for k, v in data.split_indices.items()} == {
        "training": [0, 1, 2, 3],
        "test": [4],
    }
    assert data.specifications["feature dimensions"] == [3, 3]
    assert data.example_type == "images" and data.title == "MNIST (original)"
    assert data.terms["feature"] == "pixel"
    original = tmp_path / "mnist_original" / "original"
    assert sorted(p.name for p in original.glob("*.gz")) == [
        "mnist_original-labels-test.gz",
        "mnist_original-labels-training.gz",
        "mnist_original-values-test.gz",
        "mnist_original-values-training.gz",
    ]
    assert len(server.requests) == 4
    training, validation, test = data.split("indices")
    assert (training.number_of_examples, test.number_of_examples) == (3, 1)
    assert validation.number_of_examples == 1  # the last training image


def test_mnist_normalised_and_names_match_insensitively(server, tmp_path):
    flat = (IMAGES.reshape(5, -1) / 255).astype(np.float32)
    pairs = ((flat[:2], DIGITS[:2]), (flat[2:4], DIGITS[2:4]), (flat[4:], DIGITS[4:]))
    server.files["mnist-pickle/mnist.pkl.gz"] = gzip.compress(pickle.dumps(pairs, protocol=2))
    raw = load_raw("mnist_normalised", None, tmp_path, ReadOptions())
    np.testing.assert_array_equal(raw.values.toarray(), flat)
    assert {k: list(v) for k, v in raw.split_indices.items()} == {
        "training": [0, 1],
        "validation": [2, 3],
        "test": [4],
    }
    assert raw.metadata["terms"]["type"] == "value"
    assert (
        tmp_path / "mnist_normalised" / "original" / "mnist_normalised-all-full.pkl.gz"
    ).is_file()


def test_mnist_binarised_is_marked_as_already_binarised(server, tmp_path):
    binary = (IMAGES.reshape(5, -1) > 120).astype(int)
    for kind, rows in (("train", binary[:3]), ("valid", binary[3:4]), ("test", binary[4:])):
        text = "".join(" ".join(map(str, row)) + "\n" for row in rows)
        server.files[f"larochelle/binarized_mnist_{kind}.amat"] = text.encode()
    data = DataSet("MNIST-binarised", directory=tmp_path).load()
    np.testing.assert_array_equal(data.values.toarray(), binary)
    assert data.labels is None
    assert data.specifications["preprocessing methods"] == ["binarise"]
    assert {k: list(v) for k, v in data.split_indices.items()} == {
        "training": [0, 1, 2],
        "validation": [3],
        "test": [4],
    }


def test_mnist_download_failure_names_the_url_and_the_place_for_the_file(monkeypatch, tmp_path):
    monkeypatch.setattr(download_module.time, "sleep", lambda seconds: None)
    with LocalServer() as local:  # serves nothing: every file is 404
        monkeypatch.setenv(MIRROR_VARIABLE, local.root)
        with pytest.raises(DataError) as caught:
            load_raw("mnist_original", None, tmp_path, ReadOptions())
    message = str(caught.value)
    assert f"{local.root}/mnist/train-images-idx3-ubyte.gz" in message
    assert "mnist_original-values-training.gz" in message


def test_data_list_shows_the_mnist_sets(tmp_path, capsys):
    assert main(["data", "list", "-D", str(tmp_path)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line}
    for name in ("mnist_original", "mnist_normalised", "mnist_binarised"):
        assert rows[name].endswith("not downloaded")
    assert CATALOGUE["mnist_original"].sources[0].url.endswith("/mnist/train-images-idx3-ubyte.gz")


# ------------------------------------------------------------------ JSON URLs
def test_json_urls_are_downloaded_into_the_data_directory(server, tmp_path):
    counts = "cell\tA\tB\nc1\t1\t0\nc2\t0\t4\nc3\t2\t2\n"
    server.files["mine/counts.tsv.gz"] = gzip.compress(counts.encode())
    server.files["mine/labels.tsv"] = b"c1\tx\nc2\ty\nc3\tx\n"
    spec = {
        "title": "My Set",
        "format": "matrix_ebf",
        "URLs": {
            "values": {"full": server.url("mine/counts.tsv.gz")},
            "labels": {"full": server.url("mine/labels.tsv")},
        },
    }
    (tmp_path / "mine.json").write_text(json.dumps(spec))
    data = DataSet(str(tmp_path / "mine.json"), directory=tmp_path / "data").load()
    np.testing.assert_array_equal(data.values.toarray(), [[1, 0], [0, 4], [2, 2]])
    assert list(data.labels) == ["x", "y", "x"] and data.title == "My Set"
    original = tmp_path / "data" / "mine" / "original"
    assert sorted(p.name for p in original.iterdir() if not p.name.endswith(".verified")) == [
        "my_set-labels-full.tsv",
        "my_set-values-full.tsv.gz",
    ]
    server.requests.clear()
    DataSet(str(tmp_path / "mine.json"), directory=tmp_path / "data").load()
    assert server.requests == []  # read from the cache


def test_json_urls_for_split_files_and_populations(server, tmp_path):
    _serve_original(server)
    urls = {
        role: {split: server.url(f"mnist/{stem}-{kind}-ubyte.gz") for split, stem in
               (("training", "train"), ("test", "t10k"))}
        for role, kind in (("values", "images-idx3"), ("labels", "labels-idx1"))
    }  # fmt: skip
    (tmp_path / "digits.json").write_text(json.dumps({"format": "mnist_original", "URLs": urls}))
    raw = load_raw(str(tmp_path / "digits.json"), None, tmp_path / "data", ReadOptions())
    np.testing.assert_array_equal(raw.values.toarray(), IMAGES.reshape(5, -1))
    assert list(raw.split_indices["test"]) == [4]


def test_json_urls_may_name_local_paths_and_are_checked(tmp_path):
    (tmp_path / "counts.tsv").write_text("cell\tA\nc1\t3\nc2\t1\n")
    spec = {"format": "tsv", "URLs": {"values": {"full": "counts.tsv"}}}
    (tmp_path / "local.json").write_text(json.dumps(spec))
    raw = load_raw(str(tmp_path / "local.json"), None, tmp_path / "data", ReadOptions())
    assert raw.values.toarray().ravel().tolist() == [3, 1]
    (tmp_path / "labels.tsv").write_text("c1\tx\nc2\ty\n")
    (tmp_path / "local.json").write_text(json.dumps({**spec, "labels": "labels.tsv"}))
    raw = load_raw(str(tmp_path / "local.json"), None, tmp_path / "data", ReadOptions())
    assert list(raw.labels) == ["x", "y"]
    bad = [
        ({"URLs": {"values": {"full": "counts.tsv"}}, "values": "counts.tsv"}, "both 'values' and 'URLs'"),
        ({"URLs": {"pictures": {"full": "counts.tsv"}}}, "unknown role 'pictures'"),
        ({"URLs": {"values": {"full": "ftp://example.org/x.tsv"}}}, "an http\\(s\\) URL or a path"),
        ({"URLs": {"values": {"full": "nowhere.tsv"}}}, "does not exist"),
        ({"URLs": {"labels": {"full": "counts.tsv"}}}, "neither 'values' nor 'all'"),
        ({"format": "tsv", "URLs": {"values": {"training": "counts.tsv"}}}, "takes one values file"),
    ]  # fmt: skip
    for number, (content, problem) in enumerate(bad):
        path = tmp_path / f"bad{number}.json"
        path.write_text(json.dumps(content))
        with pytest.raises(DataError, match=problem):
            load_raw(str(path), None, tmp_path / "data", ReadOptions())
