"""Backed values: same minibatches as in memory, chunked statistics equal to scipy/NumPy.

The truths are computed independently: NumPy on the dense matrix, scipy's CSR
operations, anndata writing the files read back here, and the in-memory
:class:`MatrixSource` for the minibatches.
"""

from __future__ import annotations

import json
from pathlib import Path

import anndata
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from scvae import api
from scvae.config import DataConfig
from scvae.data import DataSet, load, to_anndata
from scvae.data.batches import RowSource, chunk_shuffled_order
from scvae.data.loading import use_backed
from scvae.data.matrix import CountMatrix, open_hdf
from scvae.data.statistics import feature_moments, row_sums, summary_statistics
from scvae.data.storage.store import HdfStore
from scvae.errors import DataError, NotCountsError, NotSupportedYet

CITE_PBMC = "scdcc_cite_pbmc_top2000/CITE_PBMC_counts.h5"


def stored_on_disk(values) -> bool:
    """Whether ``values`` is a count matrix whose store is an HDF5 file."""
    return isinstance(values, CountMatrix) and isinstance(values.store, HdfStore)


def _counts(n: int = 300, f: int = 40, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = rng.poisson(0.7, size=(n, f)) * (rng.random((n, f)) < 0.4)
    dense[7] = 0  # an empty row
    return sp.csr_matrix(dense.astype(np.float32))


def _h5ad(path: Path, values, **obs) -> Path:
    import pandas as pd

    frame = pd.DataFrame(obs, index=[f"c{i}" for i in range(values.shape[0])])
    anndata.AnnData(X=values, obs=frame).write_h5ad(path)
    return path


def _sources(path: Path, **options):
    """The in-memory and backed sources of one h5ad file."""
    memory = DataSet(path, directory=path.parent / "d", reconstruction_distribution="poisson")
    load(memory)
    config = DataConfig(backed=True, data_directory=str(path.parent / "d"))
    backed = api.load_data_set(config, str(path), reconstruction_distribution="poisson")
    assert stored_on_disk(backed.values)
    return (
        RowSource.from_data_set(memory, **options),
        RowSource.from_data_set(backed, **options),
        memory,
        backed,
    )


def _same_inputs(a, b) -> None:
    for name in ("x", "target", "library_size", "count_sum", "batch"):
        left, right = getattr(a, name), getattr(b, name)
        assert (left is None) == (right is None), name
        if left is not None:
            assert torch.equal(left, right), name


@pytest.mark.parametrize(
    "options",
    [{}, {"count_sum": True, "batch_correction": True}, {"binarise": True}],
    ids=["plain", "count-sum-and-batches", "binarised"],
)
def test_backed_and_memory_give_identical_minibatches(tmp_path, options):
    values = _counts()
    batches = np.arange(values.shape[0]) % 3
    path = _h5ad(tmp_path / "x.h5ad", values, batch=[str(b) for b in batches])
    memory, backed, *_ = _sources(path, **options)
    rng = np.random.default_rng(5)
    order = rng.permutation(values.shape[0])
    for start in range(0, len(order), 64):
        rows = np.sort(order[start : start + 64])
        _same_inputs(memory.inputs_for(rows), backed.inputs_for(rows))


def test_backed_subsets_match_memory_subsets_for_a_random_split(tmp_path):
    values = _counts(500, 30)
    path = _h5ad(tmp_path / "x.h5ad", values, cell_type=[f"t{i % 4}" for i in range(500)])
    _, _, memory, backed = _sources(path)
    splits = zip(memory.split("random", 0.8), backed.split("random", 0.8), strict=True)
    for part_memory, part_backed in splits:
        assert stored_on_disk(part_backed.values)
        assert list(part_memory.labels) == list(part_backed.labels)
        source_memory = RowSource.from_data_set(part_memory)
        source_backed = RowSource.from_data_set(part_backed)
        rows = np.arange(part_memory.number_of_examples)
        _same_inputs(source_memory.inputs_for(rows), source_backed.inputs_for(rows))
        # the backed reading order is the file order, a permutation of the positions
        order = source_backed.reading_order()
        assert sorted(order) == list(rows)
        file_rows = part_backed.values.file_rows[order]
        assert np.all(np.diff(file_rows) > 0)


def test_rounded_values_like_check_values(tmp_path):
    values = _counts().astype(np.float64)
    values.data = values.data + 1e-8  # near-integers are rounded, as in memory
    path = _h5ad(tmp_path / "x.h5ad", values)
    memory, backed, *_ = _sources(path)
    rows = np.arange(values.shape[0])
    _same_inputs(memory.inputs_for(rows), backed.inputs_for(rows))
    assert np.array_equal(backed.inputs_for(rows).x.numpy(), np.rint(values.toarray()))


def test_project_cache_serves_backed_values(shared_data, tmp_path):
    path = shared_data / CITE_PBMC
    memory = load(DataSet(path, directory=tmp_path / "m"))
    config = DataConfig(backed=True, data_directory=str(tmp_path / "b"))
    backed = api.load_data_set(config, str(path))
    assert stored_on_disk(backed.values) and backed.values.group == "values"
    assert backed.values.path.parent.name == "cache"
    assert list(backed.labels) == list(memory.labels)
    rows = np.arange(0, memory.number_of_examples, 7)
    assert (backed.values.read(rows) != memory.values[rows]).nnz == 0
    assert np.array_equal(backed.values.row_sums(), np.asarray(memory.values.sum(1)).ravel())


def test_statistics_in_chunks_equal_dense_numpy(tmp_path):
    values = _counts(257, 33).astype(np.float64)
    values.data = values.data * 1.5  # not integers: nothing is rounded
    path = _h5ad(tmp_path / "x.h5ad", values)
    backed = open_hdf(path, "X")
    dense = values.toarray()
    for matrix in (backed, backed[np.arange(257)[::-1]], CountMatrix.from_csr(values)):
        # tiny chunks so that many are used
        chunks = list(matrix.iter_chunks(max_values=50))
        assert len(chunks) > 10
        assert sorted(np.concatenate([p for p, _ in chunks])) == list(range(257))
        assert all(c.nnz <= 50 or c.shape[0] == 1 for _, c in chunks)
    import scvae.data.storage.chunks as module

    module.CHUNK_VALUES, saved = 97, module.CHUNK_VALUES
    try:
        mean, variance = feature_moments(backed)
        sums = row_sums(backed)
        stats = summary_statistics(backed)
    finally:
        module.CHUNK_VALUES = saved
    np.testing.assert_allclose(mean, dense.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(variance, dense.var(axis=0), rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(sums, np.asarray(values.sum(axis=1)).ravel(), rtol=1e-6)
    flat = dense.astype(np.float32).astype(np.float64).ravel()
    assert stats["mean"] == pytest.approx(flat.mean(), rel=1e-9)
    assert stats["standard deviation"] == pytest.approx(flat.std(ddof=1), rel=1e-9)
    assert stats["dispersion"] == pytest.approx(flat.var(ddof=1) / flat.mean(), rel=1e-9)
    assert (stats["minimum"], stats["maximum"]) == (flat.min(), flat.max())
    assert stats["sparsity"] == pytest.approx(np.mean(flat < 0.5))
    assert np.allclose(backed.sum(axis=0).ravel(), dense.sum(axis=0), rtol=1e-6)


def test_has_zeros_and_empty_views(tmp_path):
    dense = np.arange(1, 13, dtype=np.float32).reshape(3, 4)
    full = open_hdf(_h5ad(tmp_path / "full.h5ad", sp.csr_matrix(dense)), "X")
    assert not full.has_zeros()
    sparse = open_hdf(_h5ad(tmp_path / "sparse.h5ad", _counts()), "X")
    assert sparse.has_zeros()
    empty = sparse[np.zeros(0, dtype=np.int64)]
    assert empty.shape == (0, 40) and list(empty.iter_chunks()) == []


@pytest.mark.parametrize(
    ("value", "likelihood", "error"),
    [(np.nan, "gaussian", DataError), (-2.0, "poisson", NotCountsError), (0.5, "poisson", None)],
)
def test_checks_report_like_in_memory(tmp_path, value, likelihood, error):
    values = _counts(120, 10).tolil()
    values[77, 3] = value
    values = values.tocsr()
    path = _h5ad(tmp_path / "bad.h5ad", values)
    kinds = {"reconstruction_distribution": likelihood}
    with pytest.raises(error or NotCountsError) as memory_error:
        load(DataSet(path, directory=tmp_path / "m", **kinds))
    config = DataConfig(backed=True, data_directory=str(tmp_path / "b"))
    with pytest.raises(type(memory_error.value)) as backed_error:
        api.load_data_set(config, str(path), **kinds)
    assert str(backed_error.value) == str(memory_error.value)
    assert "row 77, column 3" in str(backed_error.value)


def test_densifying_backed_values_is_refused(tmp_path):
    backed = open_hdf(_h5ad(tmp_path / "x.h5ad", _counts()), "X")
    with pytest.raises(NotSupportedYet, match="dense"):
        np.asarray(backed)
    with pytest.raises(NotSupportedYet):
        backed[:, 3]


def test_chunk_shuffled_order_keeps_blocks_together():
    rng = np.random.default_rng(1)
    order = chunk_shuffled_order(1000, rng, block_rows=64, buffer_blocks=3)
    assert sorted(order) == list(range(1000))
    again = chunk_shuffled_order(1000, np.random.default_rng(1), block_rows=64, buffer_blocks=3)
    assert np.array_equal(order, again)
    # each run of 3 blocks' worth of examples covers exactly 3 whole blocks
    blocks = order // 64
    for start in range(0, 1000, 3 * 64):
        chosen = set(blocks[start : start + 3 * 64])
        assert len(chosen) <= 3
    assert not np.array_equal(order, np.sort(order))


def test_an_epoch_reads_each_block_once(tmp_path, monkeypatch):
    values = _counts(2000, 20)
    path = _h5ad(tmp_path / "x.h5ad", values)
    config = DataConfig(backed=True, data_directory=str(tmp_path / "d"))
    data = api.load_data_set(config, str(path), reconstruction_distribution="poisson")
    source = RowSource.from_data_set(data)
    source.block_rows, source.buffer_blocks = 100, 4
    from scvae.data.storage.store import HdfStore as CsrStore

    reads = []
    original = CsrStore.raw_range
    monkeypatch.setattr(
        CsrStore, "raw_range", lambda self, a, b: reads.append((a, b)) or original(self, a, b)
    )
    order = source.epoch_order(np.random.default_rng(0))
    seen = []
    for start in range(0, len(order), 50):
        rows = np.sort(order[start : start + 50])
        batch = source.inputs_for(rows)
        assert torch.equal(batch.x, torch.from_numpy(values[rows].toarray()))
        seen.extend(rows)
    assert sorted(seen) == list(range(2000))
    assert len(reads) == 20  # 20 blocks of 100 rows, each read once in one slice
    assert sorted(b - a for a, b in reads) == [100] * 20


def test_backed_automatically_above_the_threshold(tmp_path):
    path = _h5ad(tmp_path / "x.h5ad", _counts())
    stored = _counts().nnz
    tiny = DataConfig(backed_above=(8 * stored) / 1e9 / 2, data_directory=str(tmp_path))
    large = DataConfig(backed_above=(8 * stored) / 1e9 * 2, data_directory=str(tmp_path))
    assert use_backed(tiny, str(path))
    assert not use_backed(large, str(path))
    assert not use_backed(DataConfig(backed_above=float("inf")), str(path))
    loaded = api.load_data_set(tiny, str(path))
    assert stored_on_disk(loaded.values)


def test_processing_options_work_with_backed_data(tmp_path):
    """-F, -E and -p give backed views equal to the in-memory pipeline's matrices."""
    dense = _counts().toarray()
    dense[:, 4] = 0  # a feature that remove_zeros removes
    values = sp.csr_matrix(dense)
    path = _h5ad(tmp_path / "x.h5ad", values, cell_type=[f"t{i % 4}" for i in range(300)])
    options = dict(
        feature_selection=("remove_zeros",),
        example_filter=("remove", "t1"),
        preprocessing_methods=("log",),
    )
    loaded = []
    for backed in (False, True):
        config = DataConfig(backed=backed, data_directory=str(tmp_path / str(backed)), **options)
        loaded.append(api.load_data_set(config, str(path), reconstruction_distribution="poisson"))
    memory, on_disk = loaded
    assert stored_on_disk(on_disk.values) and on_disk.values.shape == (225, 39)
    assert stored_on_disk(on_disk.preprocessed_values)
    assert list(on_disk.labels) == list(memory.labels)
    assert list(on_disk.feature_names) == list(memory.feature_names)
    rows = np.arange(memory.number_of_examples)
    assert (on_disk.values.read(rows) != memory.values).nnz == 0
    network = on_disk.preprocessed_values.read(rows)
    assert (network != memory.preprocessed_values.astype(np.float32)).nnz == 0
    # independent truth: the same selection, filter and log(1 + x) made by hand
    kept = np.array([i for i in range(300) if i % 4 != 1])
    expected = dense[kept][:, np.delete(np.arange(40), 4)]
    assert np.array_equal(on_disk.values.read(rows).toarray(), expected)
    np.testing.assert_allclose(network.toarray(), np.log1p(expected), rtol=1e-6)
    source = RowSource.from_data_set(on_disk)
    batch = source.inputs_for(rows[:50])
    np.testing.assert_allclose(batch.x.numpy(), np.log1p(expected[:50]), rtol=1e-6)
    assert np.array_equal(batch.target.numpy(), expected[:50])


@pytest.fixture
def small_real(shared_data, tmp_path) -> Path:
    """300 cells of the CITE-seq PBMC set as h5ad (labels kept)."""
    data = load(DataSet(shared_data / CITE_PBMC, directory=tmp_path / "d"))
    subset = data.subset(np.arange(0, data.number_of_examples, 12)[:300], "full")
    path = tmp_path / "pbmc300.h5ad"
    to_anndata(subset).write_h5ad(path)
    return path


def test_backed_training_and_its_evaluation_match_memory(small_real, tmp_path):
    from scvae.config import ModelConfig, TrainingConfig
    from scvae.models.build import ModelFacts, build_module_from
    from scvae.training.checkpoints import load_checkpoint
    from scvae.training.curves import read_curves
    from scvae.training.fit import FitOptions, LabelledSource, evaluate_terms

    model = ModelConfig(
        model_type="GMVAE", reconstruction_distribution="negative_binomial", hidden_sizes=(16,)
    )
    runs = {}
    for name, backed in (("memory", False), ("backed", True)):
        data = DataConfig(backed=backed, data_directory=str(tmp_path / name), split_data_set=True)
        training = TrainingConfig(number_of_epochs=1, models_directory=str(tmp_path / name), seed=3)
        runs[name] = api.train(
            str(small_real), data, model, training, progress=False, log=lambda *_: None
        )
    curves = {name: read_curves(run / "learning_curves.csv") for name, run in runs.items()}
    for row_memory, row_backed in zip(curves["memory"], curves["backed"], strict=True):
        # chunk-shuffled epochs differ from full permutations only in the order of steps
        assert row_backed["lower_bound"] == pytest.approx(row_memory["lower_bound"], rel=1e-2)
    # the same model evaluated on in-memory and backed values gives the same terms
    run = runs["memory"]
    facts = ModelFacts.from_dict(json.loads((run / "model.json").read_text()))
    module = build_module_from(model, facts)
    module.load_state_dict(load_checkpoint(run / "checkpoint.pt")["model"])
    memory, backed, memory_set, _ = _sources(small_real)
    options = FitOptions(number_of_epochs=1, minibatch_size=64, progress=False)
    results = []
    for source in (memory, backed):
        torch.manual_seed(11)
        labelled = LabelledSource(source, memory_set.labels, ())
        results.append(evaluate_terms(module, labelled, options, torch.device("cpu")))
    assert results[0].keys() == results[1].keys() and "accuracy" in results[0]
    for name, value in results[0].items():
        assert results[1][name] == pytest.approx(value, rel=1e-6, abs=1e-9), name


def test_integer_stored_counts_are_served_backed(tmp_path):
    """A 10x-style matrix stored as integers (no infinite sentinel fits an int)."""
    values = _counts().astype(np.int32)
    path = _h5ad(tmp_path / "ints.h5ad", values)
    memory, backed, *_ = _sources(path)
    rows = np.arange(values.shape[0])
    _same_inputs(memory.inputs_for(rows), backed.inputs_for(rows))
    assert np.array_equal(backed.inputs_for(rows).x.numpy(), values.toarray())
