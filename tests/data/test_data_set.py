"""DataSet behaviour on small hand-made matrices."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from scvae.data import DataSet, from_anndata, load, to_anndata
from scvae.data.raw import ReadOptions


def _small(n: int = 20, labels=None, batches=None) -> DataSet:
    rng = np.random.default_rng(0)
    values = rng.poisson(2.0, size=(n, 6)).astype(np.float32)
    return DataSet(
        "small",
        values=values,
        labels=labels,
        batch_indices=batches,
        feature_names=[f"g{j}" for j in range(6)],
    )


def test_in_memory_values_are_csr_and_names_default():
    data = _small()
    assert sp.isspmatrix_csr(data.values) or isinstance(data.values, sp.csr_array)
    assert data.example_names[0] == "example 1"
    assert data.number_of_values == 20 * 6


def test_class_names_sorted_numerically_generic_last():
    labels = ["10", "2", "No class", "1", "2", "10", "1", "No class"] + ["1"] * 12
    data = _small(labels=labels)
    assert data.class_names == ["1", "2", "10", "No class"]
    assert data.excluded_classes == ["No class"]
    assert data.number_of_classes == 4 and data.number_of_excluded_classes == 1
    assert data.label_ids[:3].tolist() == [2, 1, 3]


def test_split_sizes_and_own_batches():
    batches = np.arange(100) % 3
    data = _small(100, labels=[str(i % 4) for i in range(100)], batches=batches)
    training, validation, test = data.split("random", 0.9)
    assert (
        training.number_of_examples,
        validation.number_of_examples,
        test.number_of_examples,
    ) == (81, 9, 10)
    names = np.concatenate([s.example_names for s in (training, validation, test)])
    assert sorted(names) == sorted(data.example_names)
    for subset in (training, validation, test):
        index = np.array([int(name.split()[1]) - 1 for name in subset.example_names])
        assert np.array_equal(subset.batch_indices, batches[index])  # not the training set's
        assert subset.class_names == data.class_names
        assert (subset.values != data.values[index]).nnz == 0


def test_count_sum_and_normalised():
    data = _small()
    expected = np.asarray(data.values.sum(axis=1)).ravel()
    assert np.allclose(data.count_sum.ravel(), expected)
    assert np.isclose(data.normalised_count_sum.max(), 1.0)


def test_anndata_round_trip(tmp_path):
    import anndata

    labels = [str(i % 3) for i in range(20)]
    data = _small(labels=labels, batches=np.arange(20) % 2)
    adata = to_anndata(data)
    path = tmp_path / "x.h5ad"
    adata.write_h5ad(path)
    read_back = anndata.read_h5ad(path)
    assert np.array_equal(read_back.X.toarray(), data.values.toarray())
    assert list(read_back.obs["label"].astype(str)) == labels
    again = from_anndata(read_back, label_key="label", batch_key="batch")
    assert (again.values != data.values).nnz == 0
    assert list(again.labels) == labels
    assert list(again.feature_names) == list(data.feature_names)


def test_clear_and_reload_development(tmp_path):
    data = load(DataSet("development", directory=tmp_path))
    assert (data.number_of_examples, data.number_of_features) == (10000, 25)
    data.clear()
    assert data.values is None
    load(data)
    assert data.number_of_examples == 10000


def _h5ad_with_a_layer(path):
    """An h5ad file whose counts are in layer "counts" (X holds other numbers)."""
    import anndata
    import pandas as pd

    rng = np.random.default_rng(1)
    counts = sp.csr_matrix(rng.poisson(1.5, size=(30, 8)).astype(np.float32))
    obs = pd.DataFrame(
        {
            "cell_type": [f"t{i % 3}" for i in range(30)],
            "batch": [f"b{i % 2}" for i in range(30)],
        },
        index=[f"c{i}" for i in range(30)],
    )
    adata = anndata.AnnData(X=sp.csr_matrix(counts * 0.5), obs=obs)
    adata.var_names = [f"g{j}" for j in range(8)]
    adata.layers["counts"] = counts
    adata.write_h5ad(path)
    return counts, obs


def test_read_options_are_keywords(tmp_path):
    path = tmp_path / "cells.h5ad"
    counts, obs = _h5ad_with_a_layer(path)
    data = load(
        DataSet(
            path, layer="counts", label_key="cell_type", batch_key="batch", directory=tmp_path / "d"
        )
    )
    assert data.read_options == ReadOptions(
        layer="counts", label_key="cell_type", batch_key="batch"
    )
    assert (data.values != counts).nnz == 0  # the layer, not X
    assert list(data.labels) == list(obs["cell_type"])
    assert [data.batch_names[i] for i in data.batch_indices] == list(obs["batch"])
    given = DataSet(path, read_options=ReadOptions(layer="counts"))
    assert given.read_options.layer == "counts"
    with pytest.raises(TypeError, match="not both"):
        DataSet(path, read_options=ReadOptions(), layer="counts")
    with pytest.raises(TypeError):
        DataSet(path, no_such_option=1)


def test_without_a_directory_nothing_is_written_in_the_current_folder(tmp_path, monkeypatch):
    source = tmp_path / "input" / "cells.h5ad"
    source.parent.mkdir()
    counts, _ = _h5ad_with_a_layer(source)
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr(sys, "platform", "linux")
    data = load(DataSet(str(source), layer="counts", feature_selection=["keep_highest_variances"]))
    columns = [int(name[1:]) for name in data.feature_names]
    assert (data.values != counts[:, columns]).nnz == 0
    assert list(work.iterdir()) == []
    cached = sorted(p.name.split("-")[0] for p in (cache / "scvae" / "cells" / "cache").iterdir())
    assert cached == ["decisions", "original"]
    assert data.directory == cache / "scvae"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # ignored, as the XDG rules say
    assert DataSet("x").directory == Path.home() / ".cache" / "scvae"


def test_options_asked_for_are_kept_apart_from_what_was_done():
    values = np.random.default_rng(2).poisson(2.0, size=(12, 5)).astype(np.float32)
    data = DataSet(
        "small",
        values=values,
        specifications={"preprocessing methods": ["log"]},
        feature_selection=["keep_highest_variances"],
        preprocessing_methods=["binarise"],
        noisy_preprocessing_methods=["binarise"],
    )
    asked = data.options
    load(data)
    assert data.options == asked  # never written back
    assert asked.feature_selection == ("keep_highest_variances",)
    assert data.feature_selection == ["keep_highest_variances", "2"]  # default recorded
    assert data.preprocessing_methods == ["log"] and data.noisy_preprocessing_methods == []
    assert data.preprocessed_values is None  # already preprocessed: nothing applied
    training, _, _ = data.split("random", 0.5)
    assert training.processing == data.processing
    data.clear()
    assert data.processing is None and data.feature_selection == ["keep_highest_variances"]


def test_the_old_spellings_still_work_and_warn(tmp_path):
    data = _small(labels=[str(i % 2) for i in range(20)])
    with pytest.warns(DeprecationWarning, match=r"scvae\.data\.to_anndata"):
        adata = data.to_anndata()
    assert np.array_equal(adata.X.toarray(), to_anndata(data).X.toarray())
    with pytest.warns(DeprecationWarning, match=r"scvae\.data\.from_anndata"):
        again = DataSet.from_anndata(adata, label_key="label")
    assert (again.values != data.values).nnz == 0 and list(again.labels) == list(data.labels)
    with pytest.warns(DeprecationWarning, match=r"scvae\.data\.load\(data_set\)"):
        loaded = DataSet("development", directory=tmp_path).load()
    expected = load(DataSet("development", directory=tmp_path))
    assert (loaded.values != expected.values).nnz == 0


def test_wrong_label_count_is_refused():
    from scvae.errors import DataError

    with pytest.raises(DataError, match="labels"):
        _small(labels=["a", "b"])
