"""Figures a person can read: robust axis limits, light ellipses, a few profiles in one grid.

Expected limits and counts are computed here with numpy, never with the plotting code.
"""

from __future__ import annotations

import numpy as np
from matplotlib.collections import PathCollection
from matplotlib.patches import Ellipse, StepPatch

from scvae.plotting import plot_histogram, plot_profile_grid, plot_scatter
from scvae.plotting.scatter import CLIP_MARGIN, CLIP_QUANTILES


def _texts(figure) -> list[str]:
    return [text.get_text() for axes in figure.axes for text in axes.texts]


def test_one_far_point_does_not_stretch_the_scatter():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(2000, 2))
    points[7] = (400.0, -300.0)
    figure = plot_scatter(points, labels=rng.choice(["a", "b"], 2000), legend_title="Cell type")
    axes = figure.axes[0]
    low, high = np.quantile(points[:, 0], CLIP_QUANTILES)
    margin = CLIP_MARGIN * (high - low)
    np.testing.assert_allclose(axes.get_xlim(), (low - margin, high + margin))
    assert axes.get_ylim()[0] > -10  # the far point is outside
    note = " ".join(_texts(figure))
    outside = int(
        (
            (points[:, 0] < axes.get_xlim()[0])
            | (points[:, 0] > axes.get_xlim()[1])
            | (points[:, 1] < axes.get_ylim()[0])
            | (points[:, 1] > axes.get_ylim()[1])
        ).sum()
    )
    assert outside == 1 and "1 far point outside the axes" in note
    assert axes.get_legend().get_title().get_text() == "Cell type"
    # every point is still drawn (only the view is limited)
    (drawn,) = [c for c in axes.collections if isinstance(c, PathCollection)]
    assert len(drawn.get_offsets()) == 2000


def test_a_few_hundred_points_with_one_far_away():
    rng = np.random.default_rng(5)
    points = rng.normal(size=(350, 2))
    points[0] = (60.0, 0.0)  # as one cell far out in a PCA of a small test set
    axes = plot_scatter(points).axes[0]
    assert axes.get_xlim()[1] < 10 and "1 far point" in " ".join(_texts(axes.figure))


def test_compact_points_keep_their_full_range():
    points = np.random.default_rng(1).uniform(-1, 1, size=(500, 2))
    figure = plot_scatter(points)
    axes = figure.axes[0]
    assert axes.get_xlim()[0] <= points[:, 0].min() and axes.get_xlim()[1] >= points[:, 0].max()
    assert _texts(figure) == []


def test_component_ellipses_are_thin_and_light():
    means = np.array([[0.0, 0.0], [3.0, 1.0]])
    covariances = np.array([np.eye(2), np.diag([2.0, 0.5])])
    figure = plot_scatter(
        np.random.default_rng(2).normal(size=(100, 2)),
        centroids=means,
        centroid_covariances=covariances,
    )
    ellipses = [patch for patch in figure.axes[0].patches if isinstance(patch, Ellipse)]
    assert len(ellipses) == 2
    for ellipse in ellipses:
        assert ellipse.get_linewidth() < 0.8 and ellipse.get_edgecolor()[3] < 0.5
    # the 1-sigma contour of diag(2, 0.5): axes of 2*sqrt(2) and 2*sqrt(0.5)
    assert sorted([ellipses[1].width, ellipses[1].height]) == sorted(
        [2 * np.sqrt(0.5), 2 * np.sqrt(2.0)]
    )


def test_histogram_leaves_out_a_far_outlier_and_says_so():
    rng = np.random.default_rng(3)
    values = rng.gamma(2.0, 2.0, size=5000)
    values[0] = 1e5
    figure = plot_histogram(values, log_y=False)
    (stairs,) = [p for p in figure.axes[0].patches if isinstance(p, StepPatch)]
    edges = stairs.get_data().edges
    cut = np.quantile(values, 0.999)
    assert edges[-1] <= cut * 1.01  # the bins end at the quantile, not at 1e5
    above = int((values > cut).sum())
    assert f"{above} values above {cut:.4g} (the 99.9 % quantile)" in " ".join(_texts(figure))
    # nothing is left out when no value lies far out, or when asked not to
    assert _texts(plot_histogram(values[1:])) == []
    unclipped = plot_histogram(values, clip_outliers=False)
    (stairs,) = [p for p in unclipped.axes[0].patches if isinstance(p, StepPatch)]
    assert stairs.get_data().edges[-1] >= 1e5


def test_profile_grid_shows_each_cell_with_its_title():
    rng = np.random.default_rng(4)
    profiles = [
        (f"Cell c{i} (type {i})", rng.poisson(3.0, 50), rng.uniform(0, 6, 50)) for i in range(3)
    ]
    figure = plot_profile_grid(profiles)
    shown = [axes for axes in figure.axes if axes.get_visible()]
    assert [axes.get_title() for axes in shown] == [title for title, _, _ in profiles]
    for axes, (_, original, reconstructed) in zip(shown, profiles, strict=True):
        order = np.argsort(-reconstructed, kind="stable")
        (points,) = [c for c in axes.collections if isinstance(c, PathCollection)]
        np.testing.assert_array_equal(points.get_offsets()[:, 1], original[order])
        np.testing.assert_allclose(axes.lines[0].get_ydata(), reconstructed[order])
