"""GMVAE mixture plots: mixture weights, centroids, and their evolution over epochs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from scvae.plotting.scatter import draw_centroids
from scvae.plotting.style import as_1d, categorical_colours, new_figure, place_legend, styled


@styled
def plot_mixture_probabilities(
    posterior: Sequence[float] | np.ndarray,
    prior: Sequence[float] | np.ndarray | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """Bars of the mixture weights per component: posterior (mean q(y|x)) beside the prior.

    Components are numbered from 0, as the GMVAE's cluster IDs are.
    """
    posterior_name, prior_name = "Mean q(y|x) over the cells", "Prior p(y)"
    weights = {posterior_name: as_1d(posterior, "posterior")}
    if prior is not None:
        weights[prior_name] = as_1d(prior, "prior")
        if weights[prior_name].shape != weights[posterior_name].shape:
            raise ValueError("posterior and prior must have the same number of components")
    components = weights[posterior_name].size
    figure = new_figure(max(4.0, 0.35 * components + 2.0), 3.6)
    axes = figure.subplots()
    width = 0.8 / len(weights)
    positions = np.arange(components)
    for index, (name, values) in enumerate(weights.items()):
        offset = (index - (len(weights) - 1) / 2) * width
        colour = ("tab:blue", "tab:gray")[index]
        axes.bar(positions + offset, values, width=width, color=colour, label=name)
    # numbered from 0, as the cluster IDs in the predictions and scatter legends
    axes.set_xticks(positions, [str(component) for component in positions])
    axes.set_xlabel("Mixture component (cluster ID)")
    axes.set_ylabel("Probability")
    axes.legend(loc="best")
    if title:
        axes.set_title(title)
    return figure


@styled
def plot_centroids(
    means: np.ndarray,
    weights: Sequence[float] | np.ndarray | None = None,
    *,
    covariances: np.ndarray | None = None,
    title: str | None = None,
) -> Figure:
    """Component means in 2-D (PCA-projected when ``L > 2``) and mixture weights as bars.

    Parameters
    ----------
    means
        ``(K, L)`` component means.
    weights
        ``(K,)`` mixture weights, drawn as bars in a second panel.
    covariances
        ``(K, L, L)`` covariances (or ``(K, L)`` diagonals), drawn as 1-sigma ellipses
        after the same projection.
    """
    centres = np.asarray(means, dtype=float)
    if centres.ndim != 2 or centres.shape[1] < 1:
        raise ValueError(f"means must have shape (K, L), got {centres.shape}")
    projected, projection, names = _project(centres)
    covariances_2d = None
    if covariances is not None:
        matrices = np.asarray(covariances, dtype=float)
        if matrices.ndim == 2:
            matrices = np.stack([np.diag(row) for row in matrices])
        covariances_2d = projection.T @ matrices @ projection
    figure = new_figure(9.6 if weights is not None else 6.4, 4.0)
    panels = figure.subplots(1, 2 if weights is not None else 1, squeeze=False)[0]
    axes = panels[0]
    draw_centroids(axes, projected, covariances_2d)
    for index, point in enumerate(projected):
        axes.annotate(str(index + 1), point, textcoords="offset points", xytext=(4, 4), fontsize=6)
    axes.set_xlabel(names[0])
    axes.set_ylabel(names[1])
    axes.set_aspect("equal", adjustable="datalim")
    if weights is not None:
        _draw_weights(panels[1], as_1d(weights, "weights"), len(centres))
    if title:
        figure.suptitle(title)
    return figure


@styled
def plot_centroid_evolution(
    values: np.ndarray,
    *,
    epochs: Sequence[int] | None = None,
    quantity: str = "Probability",
    title: str | None = None,
) -> Figure:
    """How the components change over training.

    Parameters
    ----------
    values
        ``(E, K)``: a number per component and epoch (mixture weights), drawn as one
        line per component; or ``(E, K, 2)``: 2-D means, drawn as one path per
        component from a circle (first epoch) to a cross (last epoch).
    epochs
        Epoch numbers (default ``1..E``), for ``(E, K)`` input.
    quantity
        The y-axis label for ``(E, K)`` input.
    """
    array = np.asarray(values, dtype=float)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 2):
        raise ValueError(f"values must have shape (E, K) or (E, K, 2), got {array.shape}")
    components = array.shape[1]
    colours = categorical_colours(components)
    figure = new_figure(6.4, 4.0)
    axes = figure.subplots()
    handles = []
    for component in range(components):
        label = f"Component {component + 1}"
        if array.ndim == 2:
            steps = np.arange(1, len(array) + 1) if epochs is None else np.asarray(epochs)
            (line,) = axes.plot(steps, array[:, component], color=colours[component], label=label)
        else:
            path = array[:, component]
            (line,) = axes.plot(*path.T, color=colours[component], label=label, linewidth=1.0)
            axes.plot(*path[0], marker="o", color=colours[component], markersize=3)
            axes.plot(*path[-1], marker="x", color=colours[component], markersize=5)
        handles.append(line)
    axes.set_xlabel("Epoch" if array.ndim == 2 else "Component 1")
    axes.set_ylabel(quantity if array.ndim == 2 else "Component 2")
    place_legend(axes, handles, [handle.get_label() for handle in handles])
    if title:
        axes.set_title(title)
    return figure


def _project(centres: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Centres in 2-D; PCA by SVD of the centred means when there are more dimensions."""
    dimensions = centres.shape[1]
    if dimensions <= 2:
        padded = np.zeros((len(centres), 2))
        padded[:, :dimensions] = centres
        projection = np.eye(dimensions, 2)
        return padded, projection, ["z1", "z2" if dimensions == 2 else ""]
    _, _, right = np.linalg.svd(centres - centres.mean(axis=0), full_matrices=False)
    projection = right[:2].T
    if projection.shape[1] < 2:
        projection = np.column_stack([projection, np.zeros(dimensions)])
    return (centres - centres.mean(axis=0)) @ projection, projection, ["PC1", "PC2"]


def _draw_weights(axes, weights: np.ndarray, components: int) -> None:
    if weights.size != components:
        raise ValueError(f"{weights.size} weights for {components} components")
    positions = np.arange(components)
    axes.bar(positions, weights, color=categorical_colours(components))
    # numbered from 0, as the cluster IDs in the predictions and scatter legends
    axes.set_xticks(positions, [str(component) for component in positions])
    axes.set_xlabel("Mixture component (cluster ID)")
    axes.set_ylabel("Mixture weight")
