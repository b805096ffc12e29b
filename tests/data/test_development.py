"""The synthetic development data set (reference §2.2)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.sparse as sp

from scvae.data.development import generate_development
from scvae.data.matrix import CountMatrix
from scvae.data.raw import RawData


@pytest.fixture(scope="module")
def development() -> RawData:
    return generate_development()


def test_shape_and_values(development: RawData) -> None:
    values = development.values
    assert development.shape == (10_000, 25)
    assert sp.isspmatrix_csr(values) and values.dtype == np.float32
    assert CountMatrix.from_csr(values).is_counts() and values.data.min() > 0
    assert np.array_equal(values.data, np.rint(values.data))
    assert 0 < values.nnz < 10_000 * 25  # dropout leaves zeros


def test_deterministic_for_a_seed(development: RawData) -> None:
    again = generate_development()
    assert (again.values != development.values).nnz == 0
    assert np.array_equal(again.labels, development.labels)
    other = generate_development(seed=61)
    assert (other.values != development.values).nnz > 0


def test_labels(development: RawData) -> None:
    labels = development.labels
    assert labels.shape == (10_000,)
    assert all(isinstance(label, str) for label in labels)
    classes, counts = np.unique(labels, return_counts=True)
    assert list(classes) == ["0", "1", "2", "3"]  # seed 60: three parameter sets
    assert dict(zip(classes, counts, strict=True))["0"] == 1000  # exactly 10 %


def test_rows_are_shuffled(development: RawData) -> None:
    labelled = development.labels[development.labels != "0"].astype(int)
    assert np.any(np.diff(labelled) < 0)


def test_classes_differ(development: RawData) -> None:
    means = [
        np.asarray(development.values[development.labels == label].mean(axis=0)).ravel()
        for label in ("1", "2", "3")
    ]
    assert np.abs(means[0] - means[1]).max() > 5 and np.abs(means[1] - means[2]).max() > 5


def test_names_and_feature_mapping(development: RawData) -> None:
    assert development.example_names[0] == "cell 1"
    assert development.example_names[-1] == "cell 10000"
    assert len(set(development.example_names)) == 10_000
    features = list(development.feature_names)
    assert features == [f"feature {j}" for j in range(1, 26)]
    mapping = development.feature_mapping
    assert list(mapping) == [f"feature {group}" for group in "ABCDE"]
    assert all(len(ids) == 5 for ids in mapping.values())
    assert sum(mapping.values(), []) == features
    assert mapping["feature B"][0] == "feature 6"


def test_metadata(development: RawData) -> None:
    metadata = development.metadata
    assert metadata["title"] == "Development"
    assert metadata["example type"] == "counts"
    assert metadata["class palette"] == {
        "0": "#000000",
        "1": "#ff0000",
        "2": "#008000",
        "3": "#0000ff",
    }
    assert metadata["label superset"] == {"Rods": ["1"], "Cones": ["2", "3"], "No class": ["0"]}
    assert metadata["excluded classes"] == ["0"]
    assert metadata["excluded superset classes"] == ["No class"]
    assert metadata["terms"]["example"] == "cell"
    assert metadata["terms"]["item"] == "transcript"
    assert generate_development().metadata is not metadata  # no shared mutable state


def test_fast() -> None:
    start = time.perf_counter()
    generate_development()
    assert time.perf_counter() - start < 1.0
