"""Clustering metrics of a prediction against the labels (ARI, AMI, accuracy, silhouette).

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
) -> dict[str, float | None]:
    """ARI, AMI, silhouette score and accuracy of one prediction.

    Examples of excluded classes are left out of every metric. The supervised metrics
    compare the true labels with the cluster ids (ARI and AMI do not need matched
    names); the accuracy compares them with the majority-vote labels. Without labels
    only the silhouette score is given.
    """
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

    cluster_ids = np.asarray(cluster_ids)
    keep = np.ones(len(cluster_ids), dtype=bool)
    if labels is not None:
        labels = np.asarray(labels).astype(str)
        keep = ~np.isin(labels, list(excluded_classes))
    metrics: dict[str, float | None] = {
        "adjusted_rand_index": None,
        "adjusted_mutual_information": None,
        "silhouette_score": silhouette(latent[keep], cluster_ids[keep]) if keep.any() else None,
        "accuracy": None,
    }
    if labels is not None and keep.any():
        truth, clusters = labels[keep], cluster_ids[keep]
        metrics["adjusted_rand_index"] = float(adjusted_rand_score(truth, clusters))
        metrics["adjusted_mutual_information"] = float(
            adjusted_mutual_info_score(truth, clusters, average_method="arithmetic")
        )
        if predicted_labels is not None:
            metrics["accuracy"] = accuracy(predicted_labels, labels, excluded_classes)
    return {
        name: None if value is None or (isinstance(value, float) and math.isnan(value)) else value
        for name, value in metrics.items()
    }
