"""The quality benchmark's scores on latent spaces whose answer is known."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from quality import clustering, render


def _blobs(rng, labels_of_cells, spread):
    centres = {"a": (0.0, 0.0), "b": (30.0, 0.0), "c": (0.0, 30.0)}
    return np.array([centres[label] for label in labels_of_cells]) + rng.normal(
        scale=spread, size=(len(labels_of_cells), 2)
    )


def _prepared(labels):
    cells = np.arange(len(labels))
    return {
        "labels": labels,
        "training": cells[cells % 5 != 0],
        "test": cells[cells % 5 == 0],
        "classes": len(np.unique(labels)),
    }


def test_separated_labels_score_one_everywhere():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.array(["a", "b", "c"]), 40)
    result = clustering(_blobs(rng, labels, 1.0), _prepared(labels), None)
    assert result["kmeans_test"] == pytest.approx((1.0, 1.0))
    assert result["kmeans_all"] == pytest.approx((1.0, 1.0))
    assert result["knn_test"] == 1.0


def test_neighbour_accuracy_is_chance_when_the_latent_space_ignores_the_labels():
    rng = np.random.default_rng(2)
    labels = np.repeat(np.array(["a", "b", "c"]), 400)
    # every cell at the same place up to noise: neighbours carry no label information
    latent = rng.normal(size=(len(labels), 2))
    accuracy = clustering(latent, _prepared(labels), None)["knn_test"]
    assert accuracy == pytest.approx(1 / 3, abs=0.08)


def test_neighbour_accuracy_counts_the_test_cells_it_labels_correctly():
    rng = np.random.default_rng(3)
    labels = np.repeat(np.array(["a", "b", "c"]), 50)
    latent = _blobs(rng, labels, 1.0)
    prepared = _prepared(labels)
    # move four test cells of "a" into the middle of "b": they are labelled "b"
    moved = [i for i in prepared["test"] if labels[i] == "a"][:4]
    latent[moved] = (30.0, 0.0)
    accuracy = clustering(latent, prepared, None)["knn_test"]
    assert accuracy == pytest.approx(1 - 4 / len(prepared["test"]))


def test_report_has_the_neighbour_column_and_a_dash_for_runs_without_it():
    args = argparse.Namespace(
        options="-m GMVAE", seeds=[1], peer_epochs=100, importance_samples=10, data_sets=["pbmc4k"]
    )
    run = {
        "kmeans_test": [0.7, 0.8],
        "kmeans_all": [0.7, 0.8],
        "test_elbo": -600.0,
        "test_iw": -598.0,
        "train_seconds": 10.0,
    }
    prepared = {"pbmc4k": {"classes": 8}}
    runs = [{**run, "knn_test": value} for value in (0.9, 0.8, 0.85)]
    with_column = render({("pbmc4k", "scvae"): runs}, prepared, args)
    header, _, row = with_column.splitlines()[-3:]
    column = header.split(" | ").index("kNN accuracy test")
    assert row.split(" | ")[column] == "0.850 (0.800–0.900)"
    without = render({("pbmc4k", "scvae"): [run]}, prepared, args)
    assert without.splitlines()[-1].split(" | ")[column] == "–"
