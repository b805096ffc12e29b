"""Cluster predictions: k-means on latent means, or the GMVAE's own clusters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scvae.clustering import majority_labels
from scvae.errors import ConfigError

#: k-means above this many training examples uses mini-batch k-means
FULL_KMEANS_LIMIT = 10_000

METHOD_ALIASES = {"kmeans": ("kmeans", "k-means", "k_means"), "model": ("model",)}


def canonical_method(name: str) -> str:
    """``kmeans`` or ``model`` for a prediction-method name or alias."""
    key = name.lower()
    for method, aliases in METHOD_ALIASES.items():
        if key in aliases:
            return method
    raise ConfigError(f"unknown prediction method {name!r}; choose kmeans or model")


@dataclass
class Prediction:
    """Cluster ids and majority-vote labels for the evaluation set."""

    method: str
    number_of_clusters: int
    training_set_kind: str
    cluster_ids: np.ndarray
    labels: np.ndarray | None = None
    superset_labels: np.ndarray | None = None

    @property
    def specification(self) -> str:
        """``<method>_<K>[_<training kind> if not training]``, e.g. ``kmeans_9``."""
        name = f"{self.method}_{self.number_of_clusters}"
        if self.method == "kmeans" and self.training_set_kind != "training":
            name += f"_{self.training_set_kind}"
        return name


def kmeans_clusters(
    training_z: np.ndarray, evaluation_z: np.ndarray, k: int, seed: int | None = None
) -> np.ndarray:
    """Fit k-means on ``training_z`` and assign ``evaluation_z`` to its clusters."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if k < 1:
        raise ConfigError("k-means needs a number of clusters: give -K")
    if len(training_z) < k:
        raise ConfigError(
            f"k-means with {k} clusters needs at least {k} training examples; got {len(training_z)}"
        )
    if len(training_z) <= FULL_KMEANS_LIMIT:
        model = KMeans(n_clusters=k, random_state=seed, n_init=10)
    else:
        model = MiniBatchKMeans(n_clusters=k, batch_size=100, random_state=seed, n_init=3)
    model.fit(training_z)
    return model.predict(evaluation_z).astype(np.int64)


def predict(
    method: str,
    cluster_ids: np.ndarray,
    *,
    number_of_clusters: int,
    training_set_kind: str = "training",
    labels: np.ndarray | None = None,
    superset_labels: np.ndarray | None = None,
    excluded_classes: Sequence[str] = (),
    excluded_superset_classes: Sequence[str] | None = None,
) -> Prediction:
    """Attach majority-vote labels (and superset labels) to cluster ids.

    Examples of excluded classes do not vote; the superset labels' vote leaves out
    ``excluded_superset_classes`` (by default the same names as ``excluded_classes``).
    """
    predicted = predicted_superset = None
    if labels is not None:
        predicted = majority_labels(cluster_ids, labels, excluded_classes)
    if superset_labels is not None:
        if excluded_superset_classes is None:
            excluded_superset_classes = excluded_classes
        predicted_superset = majority_labels(
            cluster_ids, superset_labels, excluded_superset_classes
        )
    return Prediction(
        method,
        number_of_clusters,
        training_set_kind,
        np.asarray(cluster_ids, dtype=np.int64),
        predicted,
        predicted_superset,
    )
