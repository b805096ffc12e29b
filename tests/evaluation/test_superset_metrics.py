"""The four slots of each clustering metric (clusters/labels x labels/superset)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score, silhouette_score

from scvae.analyses.results import prediction_lines
from scvae.evaluation.metrics import clustering_metrics, prediction_metrics
from scvae.evaluation.predict import predict

SUPERSET = {"1": "Rods", "2": "Cones", "3": "Cones", "0": "No class"}


def _example():
    rng = np.random.default_rng(3)
    labels = np.array(["1"] * 30 + ["2"] * 20 + ["3"] * 20 + ["0"] * 10, dtype=object)
    superset = np.array([SUPERSET[label] for label in labels], dtype=object)
    latent = rng.normal(size=(80, 3)) + np.repeat(np.arange(4), [30, 20, 20, 10])[:, None] * 3
    clusters = np.repeat([0, 1, 2, 3], [30, 20, 20, 10])
    clusters[:5] = 1  # five rods in a cone cluster
    clusters[30:35] = 2  # five of class 2 with class 3
    return labels, superset, latent, clusters


def test_four_slots_equal_scikit_learn_with_excluded_classes_left_out():
    labels, superset, latent, clusters = _example()
    prediction = predict(
        "kmeans",
        clusters,
        number_of_clusters=4,
        labels=labels,
        superset_labels=superset,
        excluded_classes=("0",),
        excluded_superset_classes=("No class",),
    )
    metrics = clustering_metrics(
        labels,
        clusters,
        prediction.labels,
        latent,
        ("0",),
        superset_labels=superset,
        predicted_superset_labels=prediction.superset_labels,
        excluded_superset_classes=("No class",),
    )
    keep = labels != "0"
    truth, truth_superset = labels[keep], superset[keep]
    predicted = prediction.labels[keep].astype(str)
    predicted_superset = prediction.superset_labels[keep].astype(str)
    expected = {
        "adjusted_rand_index": adjusted_rand_score(truth, clusters[keep]),
        "adjusted_rand_index_superset": adjusted_rand_score(truth_superset, clusters[keep]),
        "adjusted_rand_index_labels": adjusted_rand_score(truth, predicted),
        "adjusted_rand_index_labels_superset": adjusted_rand_score(
            truth_superset, predicted_superset
        ),
        "adjusted_mutual_information_superset": adjusted_mutual_info_score(
            truth_superset, clusters[keep], average_method="arithmetic"
        ),
        "adjusted_mutual_information_labels_superset": adjusted_mutual_info_score(
            truth_superset, predicted_superset, average_method="arithmetic"
        ),
        "silhouette_score_labels": silhouette_score(latent[keep], predicted),
        "silhouette_score_labels_superset": silhouette_score(latent[keep], predicted_superset),
        # cluster 1 holds 5 rods and 15 of class 2; cluster 2 holds 5 of class 2 and 20 of 3
        "accuracy": (25 + 15 + 20) / 70,
        "accuracy_superset": (25 + 15 + 25) / 70,
    }
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value), name
    assert metrics["silhouette_score_superset"] is None  # not a slot of the silhouette
    # the superset slots differ from the plain ones here (the test can tell them apart)
    assert metrics["adjusted_rand_index_superset"] != pytest.approx(metrics["adjusted_rand_index"])


def test_without_superset_the_superset_slots_are_empty_and_lines_show_the_slots():
    labels, _, latent, clusters = _example()
    prediction = predict("model", clusters, number_of_clusters=4, labels=labels)
    metrics = clustering_metrics(labels, clusters, prediction.labels, latent)
    assert metrics["adjusted_rand_index_superset"] is None
    assert metrics["accuracy_superset"] is None
    assert metrics["adjusted_rand_index_labels"] is not None
    lines = prediction_lines("model_4", metrics)
    start = lines.index("    Adjusted Rand index:")
    assert lines[start + 1].startswith("        Clusters: ")
    assert lines[start + 2].startswith("        Labels: ")
    assert not any("superset" in line for line in lines)


def test_prediction_metrics_reads_the_data_sets_superset():
    from scvae.data import DataSet

    labels, superset, latent, clusters = _example()
    data_set = DataSet(
        "s",
        values=np.ones((80, 2)),
        labels=labels,
        specifications={"label superset": {"Rods": ["1"], "Cones": ["2", "3"], "No class": ["0"]}},
        excluded_classes=["0"],
    )
    assert list(data_set.superset_labels) == list(superset)
    prediction = predict(
        "kmeans",
        clusters,
        number_of_clusters=4,
        labels=data_set.labels,
        superset_labels=data_set.superset_labels,
        excluded_classes=("0",),
    )
    metrics = prediction_metrics(prediction, data_set, latent)
    keep = labels != "0"
    assert metrics["adjusted_rand_index_superset"] == pytest.approx(
        adjusted_rand_score(superset[keep], clusters[keep])
    )
    lines = "\n".join(prediction_lines("kmeans_4", metrics))
    for slot in ("Clusters", "Clusters; superset", "Labels", "Labels; superset", "Superset"):
        assert f"        {slot}: " in lines
