"""On-disk cache: exact round trip, corruption detected and rebuilt, keys, no leftovers."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse as sp

from scvae.data import cache
from scvae.data.cache import CacheCorrupt, cache_key, load_or_build, read_raw, write_raw
from scvae.data.raw import RawData
from scvae.data.storage.store import HdfStore


def _raw() -> RawData:
    values = sp.csr_matrix(np.array([[1, 0, 3], [0, 0, 0], [4, 5, 0], [0, 2, 7]], np.float32))
    return RawData(
        values=values,
        example_names=np.array(["cell é", "cell 2", "cell 3", "cell 4"], dtype=object),
        feature_names=np.array(["CD4", "MS4A1", "Gene-3"]),
        labels=np.array(["T", "B", "T", "0"], dtype=object),
        batch_indices=np.array([0, 1, 1, 0]),
        feature_ids=np.array(["ENSG1", "ENSG2", "ENSG3"], dtype=object),
        feature_mapping={"A": ["ENSG1", "ENSG2"], "B": [], "C": ["ENSG3"]},
        split_indices={"training": np.array([0, 2]), "validation": np.array([3]), "test": [1]},
        metadata={"title": "Tiny", "terms": {"example": "cell"}, "classes": ["T", "B"], "n": 4},
    )


def _assert_same(read: RawData, raw: RawData) -> None:
    assert read.values.dtype == raw.values.dtype and read.shape == raw.shape
    assert sp.isspmatrix_csr(read.values) and (read.values != raw.values).nnz == 0
    for name in ("example_names", "feature_names", "labels", "feature_ids", "batch_indices"):
        expected, got = getattr(raw, name), getattr(read, name)
        if expected is None:
            assert got is None
        else:
            assert np.array_equal(got, np.asarray(expected)), name
    assert read.feature_mapping == raw.feature_mapping
    if raw.split_indices is None:
        assert read.split_indices is None
    else:
        assert set(read.split_indices) == set(raw.split_indices)
        for kind, indices in raw.split_indices.items():
            assert np.array_equal(read.split_indices[kind], indices)
    assert read.metadata == raw.metadata


def test_round_trip_every_field(tmp_path: Path) -> None:
    raw = _raw()
    path = write_raw(tmp_path / "c.h5", raw)
    read = read_raw(path)
    _assert_same(read, raw)
    assert read.example_names.dtype == object and isinstance(read.labels[0], str)
    assert read.batch_indices.dtype.kind == "i"
    assert [p.name for p in tmp_path.iterdir()] == ["c.h5"]


def test_round_trip_minimal(tmp_path: Path) -> None:
    raw = RawData(values=sp.csr_matrix((3, 2), dtype=np.float64))
    read = read_raw(write_raw(tmp_path / "c.h5", raw))
    _assert_same(read, raw)
    assert read.metadata == {}


def test_round_trip_numeric_labels_and_empty_mapping(tmp_path: Path) -> None:
    raw = RawData(
        values=sp.csr_matrix(np.eye(2, dtype=np.float32)),
        labels=np.array([3, 1]),
        feature_mapping={},
    )
    _assert_same(read_raw(write_raw(tmp_path / "c.h5", raw)), raw)


def test_metadata_with_numpy_values(tmp_path: Path) -> None:
    raw = RawData(
        values=sp.csr_matrix(np.eye(2)),
        metadata={"batch_names": np.array(["a", "b"]), "k": np.int64(3)},
    )
    assert read_raw(write_raw(tmp_path / "c.h5", raw)).metadata == {
        "batch_names": ["a", "b"],
        "k": 3,
    }


def _data_offset(path: Path) -> int:
    with h5py.File(path, "r") as file:
        return file["values/data"].id.get_offset()


def _flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as file:
        file.seek(offset)
        byte = file.read(1)
        file.seek(offset)
        file.write(bytes([byte[0] ^ 0xFF]))


def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _flip_values(path: Path) -> None:
    _flip_byte(path, _data_offset(path) + 2)


def _drop_complete(path: Path) -> None:
    with h5py.File(path, "a") as file:
        del file.attrs["complete"]


def _other_version(path: Path) -> None:
    with h5py.File(path, "a") as file:
        file.attrs["format_version"] = cache.FORMAT_VERSION + 1


def _edit_labels(path: Path) -> None:
    with h5py.File(path, "a") as file:
        file["labels"][0] = "X"


def _garbage(path: Path) -> None:
    path.write_bytes(b"not an HDF5 file at all")


DAMAGES = [_truncate, _flip_values, _drop_complete, _other_version, _edit_labels, _garbage]


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda damage: damage.__name__.strip("_"))
def test_corruption_detected_and_rebuilt(tmp_path: Path, damage) -> None:
    path = tmp_path / "c.h5"
    write_raw(path, _raw())
    damage(path)
    with pytest.raises(CacheCorrupt):
        read_raw(path)
    calls: list[int] = []

    def build() -> RawData:
        calls.append(1)
        return _raw()

    _assert_same(load_or_build(path, build), _raw())
    assert calls == [1]
    _assert_same(read_raw(path), _raw())
    assert [p.name for p in tmp_path.iterdir()] == ["c.h5"]


def test_cache_corrupt_is_not_a_data_error() -> None:
    from scvae.errors import ScvaeError

    assert not issubclass(CacheCorrupt, ScvaeError)


def test_load_or_build_builds_once_then_reads(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "c.h5"
    built = load_or_build(path, _raw)
    _assert_same(built, _raw())

    def fail() -> RawData:
        raise AssertionError("the cache should have been used")

    _assert_same(load_or_build(path, fail), _raw())


def test_build_failure_leaves_nothing(tmp_path: Path) -> None:
    def build() -> RawData:
        raise RuntimeError("cannot parse")

    with pytest.raises(RuntimeError, match="cannot parse"):
        load_or_build(tmp_path / "c.h5", build)
    assert list(tmp_path.iterdir()) == []


def test_write_failure_leaves_no_partial_file(tmp_path: Path, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("disk trouble")

    monkeypatch.setattr(cache, "_checksum", broken)
    with pytest.raises(RuntimeError, match="disk trouble"):
        write_raw(tmp_path / "c.h5", _raw())
    assert list(tmp_path.iterdir()) == []


def test_unwritable_cache_still_returns_the_data(tmp_path: Path, monkeypatch) -> None:
    def refuse(path, raw):
        raise PermissionError("read-only")

    monkeypatch.setattr(cache, "write_raw", refuse)
    _assert_same(load_or_build(tmp_path / "c.h5", _raw), _raw())


def test_values_left_on_disk_come_through_the_same_cache(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "c.h5"
    on_disk = load_or_build(path, _raw, on_disk=True)
    assert isinstance(on_disk.values, HdfStore)
    with h5py.File(path, "r") as file:  # the values are the cached file's, read by h5py
        stored = sp.csr_matrix(
            (file["values/data"][:], file["values/indices"][:], file["values/indptr"][:]),
            shape=_raw().shape,
        )
    assert (stored != _raw().values).nnz == 0
    assert on_disk.labels.tolist() == _raw().labels.tolist()
    with h5py.File(path, "r+") as file:  # damaged: rebuilt, as in memory
        file["values/data"][0] = 99
    calls = []
    load_or_build(path, lambda: calls.append(1) or _raw(), on_disk=True)
    assert calls == [1]
    assert (read_raw(path).values != _raw().values).nnz == 0

    def refuse(path, raw):
        raise PermissionError("read-only")

    monkeypatch.setattr(cache, "write_raw", refuse)
    with pytest.raises(PermissionError):  # the values need the file
        load_or_build(tmp_path / "other.h5", _raw, on_disk=True)


def test_cache_key_tracks_sources_and_options(tmp_path: Path) -> None:
    source = tmp_path / "counts.tsv"
    source.write_text("a\tb\n")
    key = cache_key([source], {"format": "tsv", "layer": None})
    assert len(key) == 16 and int(key, 16) >= 0
    assert cache_key([source], {"layer": None, "format": "tsv"}) == key
    assert cache_key([str(source)], {"format": "tsv", "layer": None}) == key
    assert cache_key([source], {"format": "tsv", "layer": "raw"}) != key
    status = source.stat()
    os.utime(source, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000))
    touched = cache_key([source], {"format": "tsv", "layer": None})
    assert touched != key
    source.write_text("a\tb\tc\n")
    os.utime(source, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000))
    assert cache_key([source], {"format": "tsv", "layer": None}) != touched


def test_cache_key_sources_and_missing_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a.tsv", tmp_path / "b.tsv"
    first.write_text("1")
    alone = cache_key([first], {})
    assert cache_key([first, second], {}) != alone  # a missing file still counts
    second.write_text("2")
    assert cache_key([first, second], {}) != alone
