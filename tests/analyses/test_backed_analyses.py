"""``scvae analyse --backed``: the analyses of in-memory data, read from disk chunk by chunk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from histogram_checks import check_count_histograms

from scvae import api
from scvae.analyses import data as data_analyses
from scvae.cli import main
from scvae.config import DataConfig
from scvae.data.matrix import CountMatrix
from scvae.data.storage import chunks
from scvae.data.storage.store import HdfStore

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CITE_PBMC = "scdcc_cite_pbmc_top2000/CITE_PBMC_counts.h5"
INCLUDED = ("metrics", "distributions", "decompositions")
#: scatter plots are also coloured by the values of this feature
FEATURES = ("--highlight-feature-indices", "3")


def stored_on_disk(values) -> bool:
    """Whether ``values`` is a count matrix whose store is an HDF5 file."""
    return isinstance(values, CountMatrix) and isinstance(values.store, HdfStore)


def _analyse(source: Path, data: Path, analyses: Path, *options: str) -> dict[Path, Path]:
    """Run ``scvae analyse`` on a split data set; return {path below the folder: path}."""
    argv = ["analyse", str(source), "-D", str(data), "-A", str(analyses), "--split-data-set"]
    assert main([*argv, "--included-analyses", *INCLUDED, *FEATURES, *options]) == 0
    return {path.relative_to(analyses): path for path in analyses.rglob("*") if path.is_file()}


def _metrics(files: dict[Path, Path]) -> dict:
    (path,) = [path for name, path in files.items() if name.name == "data_set_metrics.json"]
    return json.loads(path.read_text())


def _split(config: DataConfig, source: Path) -> dict:
    data_set = api.load_data_set(config, str(source))
    return {part.kind: part for part in api.split_data_set(data_set, config)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The analyses of the CITE-seq PBMC set (split) in memory and backed, and its subsets."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    source = SHARED_DATA / CITE_PBMC
    folder = tmp_path_factory.mktemp("backed_analyses")
    data = folder / "data"
    memory = _analyse(source, data, folder / "memory")
    on_disk = _analyse(source, data, folder / "backed", "--backed")
    config = DataConfig(data_directory=str(data), split_data_set=True)
    return {"source": source, "data": data, "memory": memory, "backed": on_disk, "config": config}


def _truth(values) -> tuple[dict, dict]:
    """Summary and count-sum statistics of a matrix, densified, with plain NumPy."""
    dense = values.toarray().astype(np.float64)
    sums = dense.sum(axis=1)
    summary = {
        "mean": dense.mean(),
        "standard deviation": dense.std(ddof=1),
        "dispersion": dense.var(ddof=1) / dense.mean(),
        "minimum": dense.min(),
        "maximum": dense.max(),
        "sparsity": np.mean(dense < 0.5),
    }
    count_sum = {
        "mean": sums.mean(),
        "standard deviation": sums.std(ddof=1),
        "minimum": sums.min(),
        "median": np.median(sums),
        "maximum": sums.max(),
    }
    return summary, count_sum


def test_backed_analyses_write_the_same_files_and_figures(runs):
    memory, on_disk = runs["memory"], runs["backed"]
    assert set(memory) == set(on_disk)
    kinds = {"full", "training", "validation", "test"}
    histograms = [name for name in memory if name.parent.name == "histograms"]
    assert {name.name for name in histograms} == {
        f"histogram-normed-{what}-{kind}{suffix}.png"
        for what, suffix in (("counts", ""), ("counts", "-log_values"), ("count_sum", ""))
        + (("classes", ""),)
        for kind in kinds
    }
    figures = [name for name in memory if name.suffix == ".png"]
    assert any(name.name.endswith("-pca-feature-feature_4.png") for name in figures)
    for name in figures:  # histograms from the same bin numbers, scatter plots: the same images
        assert memory[name].read_bytes() == on_disk[name].read_bytes(), name
    tables = [name for name in memory if name.name.endswith("-pca.tsv.gz")]
    assert len(tables) == len(kinds)
    for name in tables:
        expected = pd.read_csv(memory[name], sep="\t", index_col=0)
        found = pd.read_csv(on_disk[name], sep="\t", index_col=0)
        assert list(found.index) == list(expected.index)
        np.testing.assert_allclose(found.abs(), expected.abs(), rtol=1e-4, atol=1e-3)


def test_backed_metrics_equal_in_memory_ones_and_numpy(runs):
    memory, on_disk = _metrics(runs["memory"]), _metrics(runs["backed"])
    parts = _split(runs["config"], runs["source"])
    assert set(memory) == set(on_disk) == set(parts)
    for kind, part in parts.items():
        summary, count_sum = _truth(part.values)
        for found in (memory[kind], on_disk[kind]):
            assert found["number_of_examples"] == part.number_of_examples
            assert found["summary_statistics"] == pytest.approx(summary, rel=1e-9)
            assert found["count_sum"] == pytest.approx(count_sum, rel=1e-9)


@pytest.mark.parametrize("chunk_values", [chunks.CHUNK_VALUES, 997])
def test_count_histograms_in_chunks_equal_numpy(runs, monkeypatch, chunk_values):
    monkeypatch.setattr(chunks, "CHUNK_VALUES", chunk_values)
    config = DataConfig(data_directory=str(runs["data"]), split_data_set=True, backed=True)
    for kind, part in _split(config, runs["source"]).items():
        assert stored_on_disk(part.values), kind
        memory = part.values.read(np.arange(part.number_of_examples))
        dense = memory.toarray().astype(np.float64).ravel()
        # what the in-memory figure draws from the stored values, too
        counted = check_count_histograms(part.values, dense, memory.data, cutoff=3, discrete=True)
        unit_edges = np.arange(dense.min(), dense.max() + 2) - 0.5
        np.testing.assert_array_equal(counted[0][1], unit_edges)


def test_tiny_chunks_give_the_same_analyses(runs, tmp_path, monkeypatch):
    monkeypatch.setattr(chunks, "CHUNK_VALUES", 2_000)
    files = _analyse(runs["source"], runs["data"], tmp_path / "a", "--backed")
    assert set(files) == set(runs["backed"])
    expected, found = _metrics(runs["backed"]), _metrics(files)
    for kind, statistics in expected.items():
        for key in ("summary_statistics", "count_sum"):
            assert found[kind][key] == pytest.approx(statistics[key], rel=1e-12)
    for name in files:
        if name.parent.name == "histograms":
            assert files[name].read_bytes() == runs["backed"][name].read_bytes(), name


def test_backed_analyses_read_a_chunk_or_the_decomposition_subset_at_a_time(
    runs, tmp_path, monkeypatch
):
    chunk, limit = 3_000, 150
    monkeypatch.setattr(chunks, "CHUNK_VALUES", chunk)
    monkeypatch.setattr(data_analyses, "DECOMPOSITION_LIMIT", limit)
    reads: list[tuple[int, int]] = []  # (examples, stored values) of every read
    iter_chunks, read = CountMatrix.iter_chunks, CountMatrix.read

    def recorded_chunks(matrix, *args, **kwargs):
        for positions, values in iter_chunks(matrix, *args, **kwargs):
            reads.append((len(positions), values.nnz))
            yield positions, values

    def recorded_read(matrix, positions):
        values = read(matrix, positions)
        reads.append((values.shape[0], values.nnz))
        return values

    monkeypatch.setattr(CountMatrix, "iter_chunks", recorded_chunks)
    monkeypatch.setattr(CountMatrix, "read", recorded_read)
    values = api.load_data_set(runs["config"], str(runs["source"])).values
    stored, longest = values.nnz, int(np.diff(values.indptr).max())
    files = _analyse(runs["source"], runs["data"], tmp_path / "a", "--backed")
    assert any(name.suffix == ".png" for name in files) and reads
    for examples, values in reads:
        assert values <= max(chunk, longest) or examples <= limit, (examples, values)
    assert max(values for _, values in reads) < stored / 10
