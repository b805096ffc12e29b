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
    return _encoded(module, source, batch_size, device, processes)[0]


@torch.no_grad()
def _encoded(module: Any, source: Any, batch_size: int, device, processes):
    """Latent means ``(N, L)`` and, for a GMVAE, argmax q(y|x) ``(N,)``, in row order."""
    module.eval()
    means, clusters, positions = [], [], []
    for inputs, rows in evaluation_batches(source, batch_size, device, processes):
        value = module.latent_mean(inputs)
        mean = value[0] if isinstance(value, tuple) else value
        means.append(mean.double().cpu().numpy())
        if isinstance(value, tuple):
            clusters.append(value[1].argmax(-1).cpu().numpy())
        positions.append(rows)
    size = module.latent_size
    gathered = processes.gather(np.concatenate(means) if means else np.zeros((0, size)))
    assigned = processes.gather(np.concatenate(clusters) if clusters else np.zeros(0, np.int64))
    rows = processes.gather(np.concatenate(positions) if positions else np.zeros(0, np.int64))
    order = np.argsort(rows, kind="stable")
    return gathered[order], (assigned[order] if len(assigned) == len(order) else None)


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
    shares = np.bincount(kmeans.labels_, minlength=k) / len(values)
    return MixtureFit(
        kmeans.cluster_centers_,
        _cluster_variances(values, kmeans.labels_, np.arange(k)),
        shares,
        kmeans.labels_.astype(np.int64),
    )


def _cluster_variances(values: np.ndarray, labels: np.ndarray, clusters) -> np.ndarray:
    """Per-dimension variances of the ``values`` of each of ``clusters`` ``(C, L)``: the
    overall variance for a cluster of fewer than two, floored at :data:`VARIANCE_FLOOR`."""
    overall = values.var(axis=0)
    variances = np.empty((len(clusters), values.shape[1]))
    for row, cluster in enumerate(clusters):
        members = values[labels == cluster]
        variances[row] = members.var(axis=0) if len(members) > 1 else overall
    return np.maximum(variances, VARIANCE_FLOOR)


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


EMPTY_SHARE = 1e-3
"""A component holding fewer than this share of the training cells counts as empty."""


@dataclass(frozen=True)
class Revival:
    """Moves of empty components: ``components[i]`` took part of the cluster of
    ``sources[i]`` (in this order), the fraction ``shares[i]`` of its cells. ``placed``
    are the components whose clusters changed, with their new ``means`` and
    ``variances`` ``(P, L)``; ``labels`` are every cell's cluster after the moves."""

    components: np.ndarray
    sources: np.ndarray
    shares: np.ndarray
    placed: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    labels: np.ndarray


def split_widest(values: np.ndarray, labels: np.ndarray, k: int, seed: int) -> Revival:
    """Give each empty cluster of ``labels`` one half of the widest cluster, in turn.

    Clusters are the cells' argmax q(y|x); a cluster is empty below
    :data:`EMPTY_SHARE` of the cells. The widest cluster is the one with the largest
    sum of squared distances of its cells' latent means to their centre (k-means'
    cost); 2-means splits it, its own component keeping the larger half. The halves
    then compete with the other clusters for the next empty one. Both halves get their
    cells' mean and per-dimension variance (floored at :data:`VARIANCE_FLOOR`).
    """
    from sklearn.cluster import KMeans  # only when moving components (about 100 MB)

    labels = labels.copy()
    counts = np.bincount(labels, minlength=k)
    empty = [int(c) for c in np.flatnonzero(counts < EMPTY_SHARE * len(values))]
    moved, sources, shares = [], [], []

    def cost(cluster: int) -> float:
        members = values[labels == cluster]
        return float(((members - members.mean(0)) ** 2).sum()) if len(members) > 1 else 0.0

    costs = {c: cost(c) for c in range(k) if c not in empty}
    for component in empty:
        source = max(costs, key=costs.__getitem__, default=None)
        if source is None or costs[source] <= 0:
            break
        members = np.flatnonzero(labels == source)
        halves = KMeans(n_clusters=2, n_init=4, random_state=(seed + component) % 2**32)
        split = halves.fit(values[members]).labels_
        sizes = np.bincount(split, minlength=2)
        taken = members[split == (1 if sizes[1] <= sizes[0] else 0)]  # the smaller half
        labels[taken] = component
        moved.append(component)
        sources.append(source)
        shares.append(len(taken) / len(members))
        costs[source], costs[component] = cost(source), cost(component)
    placed = np.unique(np.asarray(moved + sources, np.int64))
    means = np.array([values[labels == cluster].mean(0) for cluster in placed])
    return Revival(
        np.asarray(moved, np.int64),
        np.asarray(sources, np.int64),
        np.asarray(shares, np.float64),
        placed,
        means.reshape(len(placed), values.shape[1]),
        _cluster_variances(values, labels, placed),
        labels,
    )


def revive_components(
    module: Any, source: Any, seed: int, batch_size: int, device, processes
) -> np.ndarray:
    """Move ``module``'s empty components onto halves of its widest clusters.

    Components that lost their cells after the placement do nothing for the rest of
    training. Each one is moved onto one half of the widest cluster (see
    :func:`split_widest`): it takes over the encoders' weights of that cluster's
    component and part of its p(y) weight, both halves' components of p(z|y) are
    placed on their cells, and q(y|x) is fitted to the new clusters as after the
    placement. Like the placement, this sets parameters between epochs; the objective
    is unchanged. Returns the moved components (none: nothing changed).
    """
    if not hasattr(module, "split_component"):
        return np.zeros(0, np.int64)
    values, labels = _encoded(module, source, batch_size, device, processes)
    if labels is None or len(values) < 2:
        return np.zeros(0, np.int64)
    revival = split_widest(values, labels, module.number_of_latent_clusters, seed)
    if len(revival.components) == 0:
        return revival.components
    for component, origin, share in zip(
        revival.components, revival.sources, revival.shares, strict=True
    ):
        module.split_component(int(origin), int(component), float(share))
    module.place_components(
        torch.from_numpy(revival.means),
        torch.from_numpy(revival.variances),
        components=torch.from_numpy(revival.placed),
    )
    align_assignments(module, source, revival.labels, ALIGNMENT_BATCH_SIZE, device)
    return revival.components
