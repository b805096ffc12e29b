"""Clustering metrics of a prediction against the labels (ARI, AMI, accuracy, silhouette).

Each supervised metric has four slots, as in scVAE: the cluster ids against the labels
(``adjusted_rand_index``), the cluster ids against the superset labels
(``adjusted_rand_index_superset``), the majority-vote labels against the labels
(``adjusted_rand_index_labels``) and the majority-vote superset labels against the
superset labels (``adjusted_rand_index_labels_superset``). The silhouette score fills
the cluster, labels and labels-superset slots; the accuracy is given for the labels and
for the superset labels (``accuracy_superset``).

Unlike scVAE 2.1.4, the silhouette score is computed in the latent space the clusters
were found in (posterior means), not on the raw counts; see docs/differences.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from scvae.clustering import accuracy

#: the silhouette score subsamples above this many examples
SILHOUETTE_LIMIT = 20_000

#: the supervised metrics and the silhouette score, in the order they are shown
METRICS = ("adjusted_rand_index", "adjusted_mutual_information", "silhouette_score")

#: suffix of each slot -> what it compares, as the printed results name it
SLOTS = {
    "": "Clusters",
    "_superset": "Clusters; superset",
    "_labels": "Labels",
    "_labels_superset": "Labels; superset",
}


def silhouette(latent: np.ndarray, assignments: np.ndarray, seed: int = 0) -> float:
    """Silhouette score of ``assignments`` in ``latent``; NaN for < 2 or > N-1 clusters."""
    from sklearn.metrics import silhouette_score

    assignments = np.asarray(assignments)
    n = len(assignments)
    k = len(np.unique(assignments))
    if k < 2 or k > n - 1:
        return float("nan")
    sample = SILHOUETTE_LIMIT if n > SILHOUETTE_LIMIT else None
    return float(silhouette_score(latent, assignments, sample_size=sample, random_state=seed))


def clustering_metrics(
    labels: np.ndarray | None,
    cluster_ids: np.ndarray,
    predicted_labels: np.ndarray | None,
    latent: np.ndarray,
    excluded_classes: Sequence[str] = (),
    *,
    superset_labels: np.ndarray | None = None,
    predicted_superset_labels: np.ndarray | None = None,
    excluded_superset_classes: Sequence[str] | None = None,
) -> dict[str, float | None]:
    """ARI, AMI, silhouette score and accuracy of one prediction, in every slot.

    Examples of excluded classes are left out of every metric (of excluded superset
    classes, out of the superset slots; by default the same names as
    ``excluded_classes``). Without labels only the silhouette score of the clusters is
    given; without superset labels the superset slots are ``None``. NaN becomes ``None``.
    """
    cluster_ids = np.asarray(cluster_ids)
    if excluded_superset_classes is None:
        excluded_superset_classes = excluded_classes
    metrics: dict[str, float | None] = {f"{name}{slot}": None for slot in SLOTS for name in METRICS}
    metrics.update(accuracy=None, accuracy_superset=None)
    keep = _kept(labels, excluded_classes, len(cluster_ids))
    if keep.any():
        metrics["silhouette_score"] = silhouette(latent[keep], cluster_ids[keep])
    if labels is not None:
        truth = np.asarray(labels).astype(str)
        metrics.update(_supervised(truth, cluster_ids, keep, ""))
        if predicted_labels is not None:
            metrics.update(_predicted(truth, predicted_labels, latent, keep, "_labels"))
            metrics["accuracy"] = accuracy(predicted_labels, truth, excluded_classes)
    if superset_labels is not None:
        truth = np.asarray(superset_labels).astype(str)
        keep = _kept(truth, excluded_superset_classes, len(cluster_ids))
        metrics.update(_supervised(truth, cluster_ids, keep, "_superset"))
        if predicted_superset_labels is not None:
            metrics.update(
                _predicted(truth, predicted_superset_labels, latent, keep, "_labels_superset")
            )
            metrics["accuracy_superset"] = accuracy(
                predicted_superset_labels, truth, excluded_superset_classes
            )
    return {
        name: None if value is None or (isinstance(value, float) and math.isnan(value)) else value
        for name, value in metrics.items()
    }


def prediction_metrics(prediction, data_set, latent: np.ndarray) -> dict[str, float | None]:
    """:func:`clustering_metrics` of a :class:`~scvae.evaluation.predict.Prediction` on
    the data set it was made for (its labels, superset labels and excluded classes)."""
    excluded = tuple(data_set.excluded_classes)
    return clustering_metrics(
        data_set.labels,
        prediction.cluster_ids,
        prediction.labels,
        latent,
        excluded,
        superset_labels=data_set.superset_labels,
        predicted_superset_labels=prediction.superset_labels,
        excluded_superset_classes=excluded_superset_classes(data_set),
    )


def excluded_superset_classes(data_set) -> tuple[str, ...]:
    """The superset classes a data set leaves out of metrics (by default "No class",
    as in the data processing)."""
    specifications = getattr(data_set, "specifications", None) or {}
    return tuple(
        str(name) for name in specifications.get("excluded superset classes", ["No class"])
    )


def _kept(labels, excluded: Sequence[str], n: int) -> np.ndarray:
    if labels is None:
        return np.ones(n, dtype=bool)
    return ~np.isin(np.asarray(labels).astype(str), list(excluded))


def _supervised(truth, assignments, keep, slot: str) -> dict[str, float]:
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

    if not keep.any():
        return {}
    truth, assignments = truth[keep], np.asarray(assignments).astype(str)[keep]
    return {
        f"adjusted_rand_index{slot}": float(adjusted_rand_score(truth, assignments)),
        f"adjusted_mutual_information{slot}": float(
            adjusted_mutual_info_score(truth, assignments, average_method="arithmetic")
        ),
    }


def _predicted(truth, predicted, latent, keep, slot: str) -> dict[str, float]:
    predicted = np.asarray(predicted).astype(str)
    found = _supervised(truth, predicted, keep, slot)
    if keep.any():
        found[f"silhouette_score{slot}"] = silhouette(latent[keep], predicted[keep])
    return found
