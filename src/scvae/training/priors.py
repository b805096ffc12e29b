"""Priors set from the training data: the library-size prior and the GMVAE's components.

The library-size prior P(N) of a model whose likelihood is scaled by each cell's total
count is fitted once, before the first epoch, to the training cells' totals (it is not
trained; it makes the reported bound one on log p(x) rather than log p(x | N)).

Placing a GMVAE's mixture components on the latent space it has learned so far: early in
training the components of p(z|y) sit near their random start, overlapping, and q(y|x)
tends to settle on the few that win first (the others stay empty). After a short warm
start the encoder already separates cell types in z, so k-means on the training cells'
latent means gives well-spread centres. The components are put there (means, per-cluster
variances, and with the ``kmeans`` prior method the clusters' shares as p(y)), and q(y|x)
is fitted to the k-means clusters for two passes so that every component starts with its
cells. The objective is unchanged: this sets parameters once, at the end of one epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional

from scvae.training.parallel import SINGLE, evaluation_batches

VARIANCE_FLOOR = 1e-2
"""Smallest variance given to a component (a cluster of near-identical latent means)."""

ALIGNMENT_EPOCHS = 2
ALIGNMENT_BATCH_SIZE = 100
ALIGNMENT_LEARNING_RATE = 1e-3
"""Passes, minibatch size and Adam step of fitting q(y|x) to the placed components."""


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


@dataclass(frozen=True)
class MixtureFit:
    """A k-means fit of latent means: per cluster ``means`` and ``variances`` ``(K, L)``,
    ``shares`` ``(K,)`` of the values, and each value's cluster ``labels``."""

    means: np.ndarray
    variances: np.ndarray
    shares: np.ndarray
    labels: np.ndarray


def kmeans_components(values: np.ndarray, k: int, seed: int) -> MixtureFit:
    """A k-means fit of ``values`` (K clusters, seeded).

    A component with fewer than two members gets the overall variance; variances are
    floored at :data:`VARIANCE_FLOOR`.
    """
    from sklearn.cluster import KMeans  # only when placing components (about 100 MB)

    kmeans = KMeans(n_clusters=k, n_init=10, random_state=seed % 2**32).fit(values)
    overall = values.var(axis=0)
    variances = np.empty_like(kmeans.cluster_centers_)
    for index in range(k):
        members = values[kmeans.labels_ == index]
        variances[index] = members.var(axis=0) if len(members) > 1 else overall
    shares = np.bincount(kmeans.labels_, minlength=k) / len(values)
    return MixtureFit(
        kmeans.cluster_centers_,
        np.maximum(variances, VARIANCE_FLOOR),
        shares,
        kmeans.labels_.astype(np.int64),
    )


def align_assignments(
    module: Any, source: Any, labels: np.ndarray, batch_size: int, device
) -> None:
    """Train q(y|x) alone, for :data:`ALIGNMENT_EPOCHS` passes, to give each cell its cluster.

    Without this, q(y|x) still holds what it learned before the components moved, the
    bound drops for several epochs, and components that lose their cells in that time
    stay empty. Every process reads all cells in file order (no randomness), so all
    processes make the same updates.
    """
    optimiser = torch.optim.Adam(module.y_encoder.parameters(), lr=ALIGNMENT_LEARNING_RATE)
    module.train()
    with torch.enable_grad():
        for _ in range(ALIGNMENT_EPOCHS):
            for inputs, rows in evaluation_batches(source, batch_size, device, SINGLE):
                target = torch.as_tensor(labels[rows], device=device)
                logits = module.posterior_y_logits(inputs.x)
                loss = functional.cross_entropy(logits, target)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()


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
    fit = kmeans_components(values, k, seed)
    module.place_components(*(torch.from_numpy(a) for a in (fit.means, fit.variances, fit.shares)))
    align_assignments(module, source, fit.labels, ALIGNMENT_BATCH_SIZE, device)
    return True
