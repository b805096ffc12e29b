"""Cluster-to-label mapping by majority vote, and the accuracy of the mapped labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def majority_labels(
    cluster_ids: np.ndarray, labels: np.ndarray, excluded: Sequence[str] = ()
) -> np.ndarray:
    """Each example's predicted label: the most frequent true label of its cluster.

    Excluded classes do not vote; a cluster with no voters predicts ``"No class"``.
    """
    cluster_ids = np.asarray(cluster_ids)
    labels = np.asarray(labels).astype(str)
    voting = ~np.isin(labels, list(excluded))
    predicted = np.full(len(labels), "No class", dtype=object)
    for cluster in np.unique(cluster_ids):
        members = cluster_ids == cluster
        values, counts = np.unique(labels[members & voting], return_counts=True)
        if len(values):
            predicted[members] = values[np.argmax(counts)]
    return predicted


def accuracy(predicted: np.ndarray, labels: np.ndarray, excluded: Sequence[str] = ()) -> float:
    """Share of non-excluded examples whose predicted label equals the true label."""
    labels = np.asarray(labels).astype(str)
    keep = ~np.isin(labels, list(excluded))
    if not keep.any():
        return float("nan")
    return float(np.mean(np.asarray(predicted).astype(str)[keep] == labels[keep]))
