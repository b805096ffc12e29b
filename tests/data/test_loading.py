"""Opening data sets: cache keys, verified caches on disk, names, one decision point."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest
import scipy.sparse as sp

from scvae.config import DataConfig
from scvae.data import DataSet
from scvae.data.cache import CacheCorrupt, read_backed, read_raw, write_raw
from scvae.data.loading import cache_location, open_data_set
from scvae.data.matrix import CountMatrix
from scvae.data.raw import RawData, ReadOptions, normalise_name, path_name


def _touch_later(path, text: str) -> None:
    status = path.stat()
    path.write_text(text)
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))


def _tsv(path, rows: int = 4) -> None:
    lines = ["\t".join(["", "a", "b"])]
    lines += [f"c{i}\t{i}\t{i + 1}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")


def test_cache_key_covers_every_file_of_a_folder(tmp_path):
    folder = tmp_path / "outs"
    folder.mkdir()
    for index in range(70):
        (folder / f"f{index:03d}.txt").write_text("x")
    before, _ = cache_location(str(folder), None, tmp_path / "d", ReadOptions())
    _touch_later(folder / "f069.txt", "changed")  # the last of 70 files in sorted order
    after, _ = cache_location(str(folder), None, tmp_path / "d", ReadOptions())
    assert before != after


def test_cache_key_covers_the_files_of_a_folder_named_by_a_specification(tmp_path):
    folder = tmp_path / "matrix"
    folder.mkdir()
    _tsv(folder / "values.tsv")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"values": "matrix"}))
    before, _ = cache_location(str(spec), None, tmp_path / "d", ReadOptions())
    _touch_later(folder / "values.tsv", "other counts")
    after, _ = cache_location(str(spec), None, tmp_path / "d", ReadOptions())
    assert before != after


def _cache(tmp_path):
    path = tmp_path / "cache.h5"
    values = sp.csr_matrix(np.arange(12, dtype=np.float32).reshape(3, 4))
    write_raw(path, RawData(values=values))
    return path


def test_values_on_disk_are_verified_against_the_checksum(tmp_path):
    path = _cache(tmp_path)
    assert read_backed(path).values.shape == (3, 4)
    with h5py.File(path, "r+") as file:
        file["values/data"][2] = 99.0
    for read in (read_raw, read_backed):
        with pytest.raises(CacheCorrupt, match="checksum"):
            read(path)


def test_a_tampered_cache_is_rebuilt_when_values_stay_on_disk(tmp_path):
    source = tmp_path / "counts.tsv"
    _tsv(source, rows=6)
    config = DataConfig(backed=True, data_directory=str(tmp_path / "d"))
    first = open_data_set(config, str(source))
    cache, expected = first.values.path, first.values.to_csr().toarray()
    first.values.close()
    with h5py.File(cache, "r+") as file:
        file["values/data"][0] = 1000.0
    second = open_data_set(config, str(source))
    assert np.array_equal(second.values.to_csr().toarray(), expected)


def test_one_function_decides_where_the_values_are(tmp_path):
    source = tmp_path / "counts.tsv"
    _tsv(source, rows=6)
    directory = str(tmp_path / "d")
    in_memory = open_data_set(DataConfig(data_directory=directory), str(source), "poisson")
    on_disk = open_data_set(DataConfig(backed=True, data_directory=directory), str(source))
    assert sp.issparse(in_memory.values) and in_memory.reconstruction_distribution == "poisson"
    assert isinstance(on_disk.values, CountMatrix) and on_disk.values.sequential
    assert np.array_equal(in_memory.values.toarray(), on_disk.values.to_csr().toarray())


def test_names_are_never_empty(tmp_path):
    hidden = tmp_path / ".hidden.tsv"
    _tsv(hidden)
    assert path_name(hidden) == "hidden"
    assert DataSet(hidden).name == "hidden"
    cache, _ = cache_location(str(hidden), None, tmp_path / "d", ReadOptions())
    assert cache.parent.parent == tmp_path / "d" / "hidden"
    assert normalise_name("") and normalise_name('()"?') and path_name("...") == "data"


def test_the_cache_key_never_reads_a_special_or_deep_specification(tmp_path) -> None:
    import os

    from scvae.data.loading import _json_references

    fifo = tmp_path / "spec.json"
    os.mkfifo(fifo)  # reading it would block forever
    assert _json_references(fifo) == []
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert _json_references(deep) == []
    spec = tmp_path / "ok.json"
    spec.write_text('{"values": "counts.tsv", "labels": "labels.tsv"}')
    assert _json_references(spec) == [tmp_path / "counts.tsv", tmp_path / "labels.tsv"]
