"""Figures: every ``plot_*`` function takes plain arrays and returns a Figure.

Nothing here reads files or knows about models; :func:`save_figure` is the one way
a figure reaches the disk. Figures use an Agg canvas and never touch ``pyplot``.
"""

from __future__ import annotations

from scvae.plotting.curves import plot_accuracies, plot_learning_curves
from scvae.plotting.distributions import (
    plot_class_counts,
    plot_distance_histogram,
    plot_histogram,
    plot_sorted_values,
)
from scvae.plotting.matrices import plot_heat_map, plot_kl_heat_map
from scvae.plotting.mixtures import (
    plot_centroid_evolution,
    plot_centroids,
    plot_mixture_probabilities,
)
from scvae.plotting.profiles import plot_profile_comparison, plot_profile_grid
from scvae.plotting.save import save_figure
from scvae.plotting.scatter import plot_scatter
from scvae.plotting.style import categorical_colours, class_colours

__all__ = [
    "categorical_colours",
    "class_colours",
    "plot_accuracies",
    "plot_centroid_evolution",
    "plot_centroids",
    "plot_class_counts",
    "plot_distance_histogram",
    "plot_heat_map",
    "plot_histogram",
    "plot_kl_heat_map",
    "plot_learning_curves",
    "plot_mixture_probabilities",
    "plot_profile_comparison",
    "plot_profile_grid",
    "plot_scatter",
    "plot_sorted_values",
    "save_figure",
]
