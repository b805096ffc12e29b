"""Priors set from the training data: the library-size prior and the GMVAE's components.

The library-size prior P(N) of a model whose likelihood is scaled by each cell's total
count is fitted once, before the first epoch, to the training cells' totals (it is not
trained; it makes the reported bound one on log p(x) rather than log p(x | N)).

Placing a GMVAE's mixture components on the latent space it has learned so far: early in training the components of p(z|y) sit near their random start, overlapping, and
q(y|x) tends to settle on the few that win first (the others stay empty). After a short
warm start the encoder already separates cell types in z, so k-means on the training
cells' latent means gives well-spread centres; putting the components there (means and
per-cluster variances) lets every component take a part of the data. The objective is
unchanged: this only sets the prior's parameters once, at the end of a given epoch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.cluster import KMeans

from scvae.training.parallel import evaluation_batches

VARIANCE_FLOOR = 1e-2
"""Smallest variance given to a component (a cluster of near-identical latent means)."""


@torch.no_grad()
def latent_means(module: Any, source: Any, batch_size: int, device, processes) -> np.ndarray:
    """The latent means of every example of ``source``, in its row order."""
    module.eval()
    means, positions = [], []
    for inputs, rows in evaluation_batches(source, batch_size, device, processes):
        value = module.latent_mean(inputs)
        means.append((value[0] if isinstance(value, tuple) else value).double().cpu().numpy())
        positions.append(rows)
    size = module.latent_size
    gathered = processes.gather(np.concatenate(means) if means else np.zeros((0, size)))
    rows = processes.gather(np.concatenate(positions) if positions else np.zeros(0, np.int64))
    return gathered[np.argsort(rows, kind="stable")]


def kmeans_components(
    values: np.ndarray, k: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(means (K, L), variances (K, L), shares (K,))`` of a k-means fit of ``values``.

    A component with fewer than two members gets the overall variance; ``shares`` are
    the clusters' fractions of the values.
    """
    kmeans = KMeans(n_clusters=k, n_init=10, random_state=seed % 2**32).fit(values)
    overall = values.var(axis=0)
    variances = np.empty_like(kmeans.cluster_centers_)
    for index in range(k):
        members = values[kmeans.labels_ == index]
        variances[index] = members.var(axis=0) if len(members) > 1 else overall
    shares = np.bincount(kmeans.labels_, minlength=k) / len(values)
    return kmeans.cluster_centers_, np.maximum(variances, VARIANCE_FLOOR), shares


@torch.no_grad()
def fit_library_prior(module: Any, source: Any, batch_size: int, device, processes) -> bool:
    """Fit the module's library-size prior to ``source``'s totals; whether it has one."""
    decoder = getattr(module, "decoder", None)
    library = getattr(decoder, "library", None)
    if library is None:
        return False
    totals = [
        inputs.library_size.double().cpu().numpy().reshape(-1)
        for inputs, _ in evaluation_batches(source, batch_size, device, processes)
    ]
    values = processes.gather(np.concatenate(totals) if totals else np.zeros(0))
    library.fit(torch.from_numpy(values))
    return True


def place_mixture(module: Any, source: Any, seed: int, batch_size: int, device, processes) -> bool:
    """Place ``module``'s components at a k-means fit of ``source``'s latent means.

    Returns whether the module has components to place (only the GMVAE has).
    """
    if not hasattr(module, "place_components"):
        return False
    values = latent_means(module, source, batch_size, device, processes)
    k = module.number_of_latent_clusters
    if len(values) < k:
        return False
    means, variances, shares = kmeans_components(values, k, seed)
    module.place_components(*(torch.from_numpy(a) for a in (means, variances, shares)))
    return True
