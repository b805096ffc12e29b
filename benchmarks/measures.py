"""Measurements shared by our runs and the scvi-tools peer (NumPy and scikit-learn only).

Memory comes from ``getrusage`` and ``/proc``. For quality, k-means is fitted on the
training set's latent means and predicts the test set's clusters (as scVAE's evaluation
does by default); ARI and NMI compare clusters with the test labels.
"""

from __future__ import annotations

import resource

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def label_scores(clusters: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """``{"ari": ..., "nmi": ...}`` of cluster ids against labels."""
    labels = np.asarray(labels).astype(str)
    return {
        "ari": float(adjusted_rand_score(labels, clusters)),
        "nmi": float(normalized_mutual_info_score(labels, clusters)),
    }


def kmeans_scores(
    training_latent: np.ndarray,
    test_latent: np.ndarray,
    test_labels: np.ndarray,
    number_of_clusters: int,
    seed: int = 0,
) -> dict[str, float]:
    """ARI/NMI of k-means clusters (fitted on the training latent means) on the test set."""
    kmeans = KMeans(n_clusters=number_of_clusters, n_init=10, random_state=seed)
    kmeans.fit(np.asarray(training_latent, dtype=np.float64))
    clusters = kmeans.predict(np.asarray(test_latent, dtype=np.float64))
    return label_scores(clusters, test_labels)


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    """This process's current resident set size in MiB (from ``/proc/self/statm``)."""
    import os

    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
    except OSError:
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def median_after_first(seconds: list[float]) -> float:
    """Median epoch time, leaving out the first epoch when there are at least two."""
    values = list(seconds[1:] if len(seconds) > 1 else seconds)
    return float(np.median(values)) if values else float("nan")
