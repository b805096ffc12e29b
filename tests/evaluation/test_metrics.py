"""Clustering metrics, majority votes and predictions against scikit-learn and hand counts."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score, silhouette_score

from scvae.errors import ConfigError
from scvae.evaluation.metrics import clustering_metrics
from scvae.evaluation.predict import Prediction, canonical_method, kmeans_clusters, predict


def test_metrics_equal_scikit_learn_without_excluded_examples():
    rng = np.random.default_rng(4)
    labels = np.array(["a"] * 20 + ["b"] * 20 + ["No class"] * 5, dtype=object)
    latent = np.vstack(
        [rng.normal(0, 1, (20, 3)), rng.normal(4, 1, (20, 3)), rng.normal(8, 1, (5, 3))]
    )
    clusters = np.array([0] * 18 + [1] * 2 + [1] * 20 + [2] * 5)
    predicted = predict(
        "kmeans", clusters, number_of_clusters=3, labels=labels, excluded_classes=("No class",)
    )
    metrics = clustering_metrics(labels, clusters, predicted.labels, latent, ("No class",))
    keep = slice(0, 40)
    assert metrics["adjusted_rand_index"] == pytest.approx(
        adjusted_rand_score(labels[keep], clusters[keep])
    )
    assert metrics["adjusted_mutual_information"] == pytest.approx(
        adjusted_mutual_info_score(labels[keep], clusters[keep], average_method="arithmetic")
    )
    assert metrics["silhouette_score"] == pytest.approx(
        silhouette_score(latent[keep], clusters[keep])
    )
    # cluster 0 votes "a" (18), cluster 1 votes "b" (20 vs 2): 38 of 40 right
    assert metrics["accuracy"] == pytest.approx(38 / 40)


def test_silhouette_is_missing_for_a_single_cluster_and_unlabelled_data_give_no_ari():
    latent = np.random.default_rng(0).normal(size=(10, 2))
    metrics = clustering_metrics(None, np.zeros(10, dtype=int), None, latent)
    assert set(metrics) >= {
        "adjusted_rand_index",
        "adjusted_mutual_information",
        "silhouette_score",
        "accuracy",
    }
    assert all(value is None for value in metrics.values())


def test_kmeans_recovers_separated_groups_and_matches_scikit_learn():
    rng = np.random.default_rng(1)
    training = np.vstack([rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (30, 2))])
    evaluation = np.array([[0.0, 0.1], [5.1, 4.9]])
    ids = kmeans_clusters(training, evaluation, 2, seed=0)
    reference = KMeans(2, random_state=0, n_init=10).fit(training).predict(evaluation)
    assert list(ids) == list(reference)
    assert ids[0] != ids[1]


def test_kmeans_needs_enough_examples_and_clusters():
    with pytest.raises(ConfigError):
        kmeans_clusters(np.zeros((2, 2)), np.zeros((1, 2)), 3)


def test_prediction_specification_names():
    ids = np.zeros(3, dtype=int)
    assert Prediction("kmeans", 9, "training", ids).specification == "kmeans_9"
    assert Prediction("kmeans", 9, "validation", ids).specification == "kmeans_9_validation"
    assert Prediction("model", 4, "training", ids).specification == "model_4"
    assert canonical_method("k-means") == "kmeans"
    with pytest.raises(ConfigError):
        canonical_method("hierarchical")
