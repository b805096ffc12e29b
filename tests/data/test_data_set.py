"""DataSet behaviour on small hand-made matrices."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from scvae.data import DataSet


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
    adata = data.to_anndata()
    path = tmp_path / "x.h5ad"
    adata.write_h5ad(path)
    read_back = anndata.read_h5ad(path)
    assert np.array_equal(read_back.X.toarray(), data.values.toarray())
    assert list(read_back.obs["label"].astype(str)) == labels
    again = DataSet.from_anndata(read_back, label_key="label", batch_key="batch")
    assert (again.values != data.values).nnz == 0
    assert list(again.labels) == labels
    assert list(again.feature_names) == list(data.feature_names)


def test_clear_and_reload_development(tmp_path):
    data = DataSet("development", directory=tmp_path).load()
    assert (data.number_of_examples, data.number_of_features) == (10000, 25)
    data.clear()
    assert data.values is None
    data.load()
    assert data.number_of_examples == 10000


def test_wrong_label_count_is_refused():
    from scvae.errors import DataError

    with pytest.raises(DataError, match="labels"):
        _small(labels=["a", "b"])
