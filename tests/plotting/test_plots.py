"""Plot functions return figures whose artists hold exactly the data given to them.

Expected values are computed here by hand, with numpy/pandas, or with scikit-learn
(PCA), never with the plotting code itself.
"""

from __future__ import annotations

import matplotlib
import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse, Rectangle, StepPatch
from sklearn.decomposition import PCA

from scvae.plotting import (
    categorical_colours,
    class_colours,
    plot_accuracies,
    plot_centroid_evolution,
    plot_centroids,
    plot_class_counts,
    plot_distance_histogram,
    plot_heat_map,
    plot_histogram,
    plot_kl_heat_map,
    plot_learning_curves,
    plot_mixture_probabilities,
    plot_profile_comparison,
    plot_scatter,
    plot_sorted_values,
    save_figure,
)
from scvae.training.curves import GMVAE_TERMS, VAE_TERMS, write_curves


def _curve_rows(terms, epochs=4):
    rows = []
    for epoch in range(1, epochs + 1):
        for kind, shift in (("training", 0.0), ("validation", -3.0)):
            row = {"epoch": epoch, "set": kind, "seconds": 0.5}
            row.update({term: -100.0 / epoch + shift + index for index, term in enumerate(terms)})
            if kind == "training":
                row["accuracy"] = 0.1 * epoch
            rows.append(row)
    return rows


def _read_curves(tmp_path, terms):
    write_curves(tmp_path / "learning_curves.csv", _curve_rows(terms), terms)
    return pd.read_csv(tmp_path / "learning_curves.csv")


def _lines_by_label(axes):
    return {line.get_label(): line for line in axes.get_lines()}


def _scatter(axes) -> PathCollection:
    collections = [item for item in axes.collections if isinstance(item, PathCollection)]
    return collections[0]


def _legend_texts(axes):
    return [text.get_text() for text in axes.get_legend().get_texts()]


# Learning curves ------------------------------------------------------------------


@pytest.mark.parametrize(("terms", "panels"), [(VAE_TERMS, 2), (GMVAE_TERMS, 3)])
def test_learning_curves_panels_and_values(tmp_path, terms, panels):
    curves = _read_curves(tmp_path, terms)
    figure = plot_learning_curves(curves, title="Model")
    assert isinstance(figure, Figure)
    assert len(figure.axes) == panels
    top = _lines_by_label(figure.axes[0])
    assert set(top) == {
        f"{name}, {kind}"
        for name in (r"$\mathcal{L}$ (ELBO)", r"$\log p(x|z)$")
        for kind in ("training", "validation")
    }
    training = top[r"$\mathcal{L}$ (ELBO), training"]
    validation = top[r"$\mathcal{L}$ (ELBO), validation"]
    assert training.get_linestyle() == "-" and validation.get_linestyle() == "--"
    np.testing.assert_allclose(training.get_xdata(), [1, 2, 3, 4])
    np.testing.assert_allclose(training.get_ydata(), [-100.0, -50.0, -100 / 3, -25.0])
    np.testing.assert_allclose(validation.get_ydata(), [-103.0, -53.0, -100 / 3 - 3, -28.0])
    last_term = terms[-1]
    (kl_training,) = [
        line for line in figure.axes[-1].get_lines() if line.get_label() == "training"
    ]
    np.testing.assert_allclose(
        kl_training.get_ydata(), curves.query("set == 'training'")[last_term]
    )
    assert figure.axes[-1].get_xlabel() == "Epoch"


def test_learning_curves_single_panel_and_missing_column(tmp_path):
    curves = _read_curves(tmp_path, VAE_TERMS)
    figure = plot_learning_curves(curves, [["kl_divergence"]])
    assert len(figure.axes) == 1
    assert len(figure.axes[0].get_lines()) == 2
    both = plot_learning_curves(curves, terms=["lower_bound", "reconstruction_error"])
    assert len(both.axes) == 1 and len(both.axes[0].get_lines()) == 4
    with pytest.raises(ValueError, match="not both"):
        plot_learning_curves(curves, [["kl_divergence"]], terms=["kl_divergence"])
    with pytest.raises(ValueError, match="kl_divergence_y"):
        plot_learning_curves(curves, [["kl_divergence_y"]])


def test_accuracies_skip_empty_cells_and_are_percent(tmp_path):
    curves = _read_curves(tmp_path, GMVAE_TERMS)
    assert curves.query("set == 'validation'")["accuracy"].isna().all()
    figure = plot_accuracies(curves)
    lines = _lines_by_label(figure.axes[0])
    assert list(lines) == ["training"]
    np.testing.assert_allclose(lines["training"].get_ydata(), [10.0, 20.0, 30.0, 40.0])


# Scatter plots --------------------------------------------------------------------


def test_scatter_by_labels_draws_every_row_once_with_one_legend_entry_per_class():
    rng = np.random.default_rng(3)
    labels = np.array([f"type {index % 12}" for index in range(150)])
    values = pd.DataFrame(rng.normal(size=(150, 2)), columns=["PC1", "PC2"])
    figure = plot_scatter(values, labels=labels, legend_title="Cell type")
    axes = figure.axes[0]
    offsets = _scatter(axes).get_offsets()
    assert offsets.shape == (150, 2)
    np.testing.assert_array_equal(np.sort(offsets, axis=0), np.sort(values.to_numpy(), axis=0))
    expected_order = [f"type {index}" for index in range(12)]
    assert _legend_texts(axes) == expected_order
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("PC1", "PC2")
    colours = {tuple(colour) for colour in _scatter(axes).get_facecolors()}
    assert len(colours) == 12


def test_scatter_uses_the_class_palette_and_marks_missing_labels():
    values = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    labels = ["B cell", "T cell", None, "B cell"]
    figure = plot_scatter(values, labels=labels, palette={"B cell": "#ff0000", "T cell": "blue"})
    collection = _scatter(figure.axes[0])
    by_point = {
        tuple(point): tuple(colour)
        for point, colour in zip(collection.get_offsets(), collection.get_facecolors(), strict=True)
    }
    assert by_point[(0.0, 0.0)] == to_rgba("#ff0000") == by_point[(3.0, 3.0)]
    assert by_point[(1.0, 1.0)] == to_rgba("blue")
    assert _legend_texts(figure.axes[0]) == ["B cell", "T cell", "No label"]


def test_scatter_highlighting_one_class_greys_the_others():
    values = np.arange(20, dtype=float).reshape(10, 2)
    labels = ["a"] * 3 + ["b"] * 7
    figure = plot_scatter(values, labels=labels, highlight="a", palette={"a": "red"})
    collection = _scatter(figure.axes[0])
    red = [tuple(colour) == to_rgba("red") for colour in collection.get_facecolors()]
    assert sum(red) == 3
    assert red[-3:] == [True, True, True]  # drawn last, on top
    assert _legend_texts(figure.axes[0]) == ["a", "Other"]
    with pytest.raises(ValueError, match="'c'"):
        plot_scatter(values, labels=labels, highlight="c")


def test_scatter_by_value_has_a_colour_bar():
    values = np.random.default_rng(0).normal(size=(40, 2))
    count_sum = np.arange(1, 41, dtype=float)
    figure = plot_scatter(values, colour_values=count_sum, colour_label="ACTB", log_colours=True)
    assert len(figure.axes) == 2  # the plot and its colour bar
    assert figure.axes[1].get_ylabel() == "ACTB"
    collection = _scatter(figure.axes[0])
    assert sorted(collection.get_array()) == sorted(count_sum)
    assert collection.norm.vmin == 1.0 and collection.norm.vmax == 40.0
    with pytest.raises(ValueError, match="shape"):
        plot_scatter(values, colour_values=count_sum[:-1])
    with pytest.raises(ValueError, match="not both"):
        plot_scatter(values, labels=["a"] * 40, colour_values=count_sum)


def test_scatter_centroids_with_one_sigma_ellipses():
    values = np.zeros((5, 2))
    centroids = np.array([[1.0, 2.0], [-1.0, 0.0]])
    covariances = np.array([np.diag([4.0, 1.0]), np.diag([1.0, 9.0])])
    figure = plot_scatter(values, centroids=centroids, centroid_covariances=covariances)
    ellipses = [patch for patch in figure.axes[0].patches if isinstance(patch, Ellipse)]
    assert len(ellipses) == 2
    first, second = ellipses
    assert first.center == (1.0, 2.0)
    assert {round(first.width, 9), round(first.height, 9)} == {4.0, 2.0}  # 2 sigma each way
    assert {round(second.width, 9), round(second.height, 9)} == {2.0, 6.0}
    assert {"Component means", "1-σ of each component"} <= set(_legend_texts(figure.axes[0]))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plot_scatter(np.zeros((5, 3)))


def test_palettes_scale_past_twenty_classes():
    for number in (3, 10, 15, 25, 60):
        colours = categorical_colours(number)
        assert len(colours) == number
        assert len(set(colours)) == number
    colours = class_colours(["x", "y"], {"y": "#00ff00"})
    assert colours["y"] == to_rgba("#00ff00") and colours["x"] != colours["y"]


# Histograms -----------------------------------------------------------------------


def _stairs(figure) -> StepPatch:
    (patch,) = [item for item in figure.axes[0].patches if isinstance(item, StepPatch)]
    return patch


def test_count_histogram_adds_the_implicit_zeros():
    # A sparse matrix with stored values [1, 1, 1, 3] and 6 zeros: 10 values in all.
    figure = plot_histogram([1, 1, 1, 3], extra_zeros=6, x_label="Counts")
    data = _stairs(figure).get_data()
    np.testing.assert_allclose(data.edges, [-0.5, 0.5, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(data.values, [0.6, 0.3, 0.0, 0.1])
    assert figure.axes[0].get_yscale() == "log"
    numbers = plot_histogram([1, 1, 1, 3], extra_zeros=6, normed=False, log_y=False)
    np.testing.assert_allclose(_stairs(numbers).get_data().values, [6, 3, 0, 1])
    assert numbers.axes[0].get_ylabel() == "Number"


def test_log_histogram_shifts_counts_by_one():
    figure = plot_histogram([0, 0, 1, 9, 99], log_x=True, normed=False, x_label="Counts")
    data = _stairs(figure).get_data()
    assert figure.axes[0].get_xscale() == "log"
    assert figure.axes[0].get_xlabel() == "Counts + 1"
    assert data.values.sum() == 5
    # Each count c lands in the bin holding c + 1.
    for count, number in ((0, 2), (1, 1), (9, 1), (99, 1)):
        index = np.searchsorted(data.edges, count + 1, side="right") - 1
        assert data.values[index] == number


def test_histogram_cutoff_and_continuous_bins():
    figure = plot_histogram([0.5, 1.5, 2.5, 100.0], cutoff=10.0, bins=4, normed=False)
    data = _stairs(figure).get_data()
    assert data.values.sum() == 3
    np.testing.assert_allclose(data.edges, np.linspace(0.5, 2.5, 5))


def test_class_counts_bars_are_the_class_frequencies():
    labels = ["b", "a", "b", "c", "b", "a"]
    figure = plot_class_counts(labels)
    bars = [patch for patch in figure.axes[0].patches if isinstance(patch, Rectangle)]
    heights = [bar.get_height() for bar in bars]
    expected = pd.Series(labels).value_counts(normalize=True).sort_index()
    np.testing.assert_allclose(heights, expected.to_numpy())
    ticks = [label.get_text() for label in figure.axes[0].get_xticklabels()]
    assert ticks == ["a", "b", "c"]


def test_distance_histogram_splits_within_and_between_classes():
    from scipy.spatial.distance import pdist, squareform

    points = np.array([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0], [5.0, 6.0]])
    condensed = pdist(points)
    plain = plot_distance_histogram(condensed, bins=10)
    assert _legend_texts(plain.axes[0]) == ["All pairs"]
    split = plot_distance_histogram(squareform(condensed), labels=["a", "a", "b", "b"], bins=10)
    assert _legend_texts(split.axes[0]) == ["Within classes", "Between classes"]
    within, between = split.axes[0].containers  # drawn in the legend's order
    heights = np.array([bar.get_height() for bar in within])
    widths = np.array([bar.get_width() for bar in within])
    # Both within-class pairs are at distance 1, the smallest: all their mass is in bin 0.
    assert heights[0] * widths[0] == pytest.approx(1.0)
    assert (heights[1:] == 0).all()
    between_heights = np.array([bar.get_height() for bar in between])
    assert between_heights[0] == 0 and np.sum(between_heights * widths) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="square"):
        plot_distance_histogram(np.zeros((2, 3)))


def test_sorted_values_descend():
    figure = plot_sorted_values([3.0, 1.0, 2.0])
    (line,) = figure.axes[0].get_lines()
    np.testing.assert_allclose(line.get_ydata(), [3.0, 2.0, 1.0])
    assert figure.axes[0].get_yscale() == "log"


# Profile comparison ---------------------------------------------------------------


def test_profile_comparison_sorts_by_expected_value():
    original = np.array([0.0, 7.0, 2.0, 1.0])
    reconstructed = np.array([0.5, 6.0, 3.0, 1.0])
    figure = plot_profile_comparison(
        original,
        reconstructed,
        total_standard_deviations=np.ones(4),
        explained_standard_deviations=0.5 * np.ones(4),
        y_cutoff=10.5,
    )
    axes = figure.axes[0]
    np.testing.assert_allclose(_scatter(axes).get_offsets()[:, 1], [7.0, 2.0, 1.0, 0.0])
    (line,) = axes.get_lines()
    np.testing.assert_allclose(line.get_xdata(), [1, 2, 3, 4])
    np.testing.assert_allclose(line.get_ydata(), [6.0, 3.0, 1.0, 0.5])
    assert axes.get_xscale() == "log"
    assert axes.get_ylim()[1] == 10.5
    assert _legend_texts(axes) == [
        "Total standard deviation",
        "Explained standard deviation",
        "Original",
        "Reconstruction",
    ]
    unsorted = plot_profile_comparison(original, reconstructed, sort=False, log_x=False)
    np.testing.assert_allclose(unsorted.axes[0].get_lines()[0].get_ydata(), reconstructed)
    with pytest.raises(ValueError, match="differ"):
        plot_profile_comparison(original, reconstructed[:3])


# Heat maps ------------------------------------------------------------------------


def test_confusion_heat_map_shows_the_crosstab():
    labels = pd.Series(["T", "T", "B", "NK", "B", "T"], name="Cell type")
    clusters = pd.Series([0, 0, 1, 2, 1, 1], name="Cluster")
    table = pd.crosstab(labels, clusters)
    figure = plot_heat_map(table, colour_label="Cells")
    axes = figure.axes[0]
    np.testing.assert_array_equal(axes.get_images()[0].get_array(), table.to_numpy())
    assert [t.get_text() for t in axes.get_yticklabels()] == ["B", "NK", "T"]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["0", "1", "2"]
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("Cluster", "Cell type")
    annotations = sorted(text.get_text() for text in axes.texts)
    assert annotations == sorted(str(value) for value in table.to_numpy().ravel())
    assert figure.axes[1].get_ylabel() == "Cells"


def test_heat_map_with_class_strip_and_many_rows():
    values = np.random.default_rng(1).normal(size=(90, 5))
    classes = ["a"] * 30 + ["b"] * 60
    figure = plot_heat_map(values, row_classes=classes, centre=0.0, row_labels=list(range(90)))
    assert len(figure.axes) == 3  # class strip, map, colour bar
    strip = figure.axes[0].get_images()[0].get_array()
    assert strip.shape == (90, 1, 4)
    np.testing.assert_allclose(strip[0, 0], categorical_colours(2)[0])
    np.testing.assert_allclose(strip[-1, 0], categorical_colours(2)[1])
    assert not figure.axes[1].texts  # 450 cells: too many to annotate
    assert not [t.get_text() for t in figure.axes[1].get_yticklabels() if t.get_text()]
    norm = figure.axes[1].get_images()[0].norm
    assert norm.vcenter == 0.0 and norm.vmin == -norm.vmax
    with pytest.raises(ValueError, match="row labels"):
        plot_heat_map(values, row_labels=["x"])


def test_kl_heat_map_sorts_dimensions_by_final_kl():
    kl = np.array([[1.0, 2.0, 0.5], [1.0, 3.0, 0.5], [1.0, 5.0, 0.0]])
    figure = plot_kl_heat_map(kl)
    axes = figure.axes[0]
    shown = axes.get_images()[0].get_array()
    # Dimensions 2, 1, 3 (final KL 5, 1, 0); the zero is floored at the smallest positive KL.
    np.testing.assert_allclose(shown, [[2.0, 3.0, 5.0], [1.0, 1.0, 1.0], [0.5, 0.5, 0.5]])
    assert [t.get_text() for t in axes.get_yticklabels()] == ["2", "1", "3"]
    assert axes.get_images()[0].norm.__class__.__name__ == "LogNorm"


# Mixtures -------------------------------------------------------------------------


def test_mixture_probabilities_bars():
    posterior = np.array([0.5, 0.3, 0.2])
    prior = np.full(3, 1 / 3)
    figure = plot_mixture_probabilities(posterior, prior)
    axes = figure.axes[0]
    bars = [patch for patch in axes.patches if isinstance(patch, Rectangle)]
    assert len(bars) == 6
    np.testing.assert_allclose([bar.get_height() for bar in bars], [*posterior, *prior])
    assert _legend_texts(axes) == ["Mean q(y|x) over the cells", "Prior p(y)"]
    # numbered as the cluster IDs are, from 0
    assert [tick.get_text() for tick in axes.get_xticklabels()] == ["0", "1", "2"]


def test_centroids_are_pca_projected_and_weights_drawn():
    means = np.random.default_rng(2).normal(size=(5, 6))
    weights = np.array([0.1, 0.2, 0.3, 0.25, 0.15])
    figure = plot_centroids(means, weights, covariances=np.ones((5, 6)))
    centre_axes, weight_axes = figure.axes
    offsets = _scatter(centre_axes).get_offsets()
    expected = PCA(n_components=2).fit_transform(means)
    np.testing.assert_allclose(np.abs(offsets), np.abs(expected), atol=1e-9)
    ellipses = [patch for patch in centre_axes.patches if isinstance(patch, Ellipse)]
    # Identity covariance projected onto orthonormal axes stays the identity: circles of radius 1.
    assert all(abs(e.width - 2) < 1e-9 and abs(e.height - 2) < 1e-9 for e in ellipses)
    bars = [patch for patch in weight_axes.patches if isinstance(patch, Rectangle)]
    np.testing.assert_allclose([bar.get_height() for bar in bars], weights)


def test_centroid_evolution_lines_and_paths():
    probabilities = np.array([[0.5, 0.5], [0.6, 0.4], [0.7, 0.3]])
    figure = plot_centroid_evolution(probabilities, epochs=[10, 20, 30])
    lines = _lines_by_label(figure.axes[0])
    np.testing.assert_allclose(lines["Component 2"].get_ydata(), [0.5, 0.4, 0.3])
    np.testing.assert_allclose(lines["Component 1"].get_xdata(), [10, 20, 30])
    paths = np.arange(12, dtype=float).reshape(3, 2, 2)
    moved = _lines_by_label(plot_centroid_evolution(paths).axes[0])
    np.testing.assert_allclose(moved["Component 1"].get_xydata(), paths[:, 0])
    with pytest.raises(ValueError, match="shape"):
        plot_centroid_evolution(np.zeros((3, 2, 3)))


# Saving and global state -----------------------------------------------------------


def test_save_figure_writes_readable_png_and_pdf(tmp_path):
    figure = plot_sorted_values([3.0, 2.0, 1.0])
    path = save_figure(figure, tmp_path / "nested" / "sorted", publication=True)
    assert path == tmp_path / "nested" / "sorted.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 400
    assert (tmp_path / "nested" / "sorted.pdf").read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in (tmp_path / "nested").iterdir() if p.suffix != ".tiff") == [
        "sorted.pdf",
        "sorted.png",
    ]
    dotted = save_figure(plot_sorted_values([1.0]), tmp_path / "feature-ENSG0001.5")
    assert dotted.name == "feature-ENSG0001.5.png" and dotted.is_file()


def test_save_figure_failure_leaves_nothing_behind(tmp_path, monkeypatch):
    figure = plot_sorted_values([1.0, 2.0])

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(figure, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        save_figure(figure, tmp_path / "figure.png")
    assert list(tmp_path.iterdir()) == []


def test_plots_leave_pyplot_and_rc_untouched(tmp_path):
    import matplotlib.pyplot as pyplot

    before = dict(matplotlib.rcParams)
    open_before = pyplot.get_fignums()
    plot_scatter(np.zeros((3, 2)), labels=["a", "b", "c"])
    assert pyplot.get_fignums() == open_before
    assert dict(matplotlib.rcParams) == before
    managed = pyplot.figure()
    save_figure(managed, tmp_path / "managed.png")
    assert not pyplot.fignum_exists(managed.number)
