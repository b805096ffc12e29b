"""The ``all`` analyses and the extensive level: every accepted name writes files (or says
why it cannot), and the numbers behind them equal NumPy/SciPy's."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.cluster.hierarchy import leaves_list, linkage

from scvae.analyses.extensive import (
    difference_statistics,
    feature_standard_deviations,
    primary_dimensions,
    subset,
)
from scvae.analyses.selection import ALL
from scvae.cli import main
from scvae.plotting.extensive import hierarchical_order

#: a file (glob under the version folder) that each accepted analysis name writes
EVALUATE_FILES = {
    "metrics": ["test-metrics.log"],
    "learning_curves": ["learning_curves.png"],
    "latent_values": ["latent_values-z.tsv.gz", "latent_values-y.tsv.gz"],
    "predictions": ["predictions/predictions-kmeans_*-predicted_superset_labels.tsv.gz"],
    "profile_comparisons": ["profile_comparisons/*-linear-sorted.png"],
    "distributions": ["histograms/histogram-normed-counts.png", "histograms-classes/*.png"],
    "decompositions": [
        "reconstructions/reconstructions-pca-labels.png",
        "reconstructed-originals/reconstructed-originals-pca.tsv.gz",
        "reconstructed-originals/reconstructed-originals-pca-labels.png",
    ],
    "latent_space": ["latent_space-z/*.png"],
    "heat_maps": [
        "heat_maps/heat_maps-original-euclidean-hierarchical_clustering.png",
        "heat_maps/heat_maps-reconstructed-labels.png",
        "heat_maps/heat_maps-reconstructed-cosine-hierarchical_clustering.png",
        "heat_maps/heat_maps-latent-z-euclidean-hierarchical_clustering.png",
        "heat_maps/heat_map-difference.png",
    ],
    "distances": [
        "distances/distances-original-euclidean-labels.png",
        "distances/distances-reconstructed-cosine-hierarchical_clustering.png",
        "distances/distances-latent-z-euclidean-hierarchical_clustering.png",
    ],
    "feature_value_standard_deviations": [
        "feature_value_standard_deviations/feature_value_standard_deviations-original-sorted.png",
        "feature_value_standard_deviations/feature_value_standard_deviations-reconstructed-histogram.png",
    ],
    "latent_distributions": [
        "centroids_evolution/centroids_evolution-prior-means.png",
        "centroids_evolution/centroids_evolution-posterior-probabilities.png",
        "centroids_evolution/centroids_evolution-posterior-means.png",
        "centroids_evolution/centroids_evolution-posterior-covariance_matrices.png",
        "centroids_evolution/centroids_evolution-prior-covariance_matrices.png",
    ],
    "latent_correlations": [
        "latent_correlations/latent_correlation_matrix-z.png",
        "latent_correlations/latent_correlations-z-most_correlated.png",
        "latent_correlations/latent_pairs-z.png",
        "latent_correlations/latent_label_correlations-z.png",
    ],
    "latent_features": [
        "latent_features/latent_features-pair-none-labels.png",
        "latent_features/latent_factor-labels.png",
    ],
    "accuracies": ["accuracies.png", "accuracies-superset.png"],
}
#: names that do not apply to a GMVAE on a count matrix: the one line each prints
EVALUATE_LINES = {
    "images": "images: not drawn; the data are not images",
    "kl_heat_maps": "kl_heat_maps: not drawn; no KL per latent dimension",
}
DATA = ["development", "-E", "random", "300", "--split-data-set"]
MODEL = ["-B", "100", "-H", "8", "-l", "3", "-r", "poisson"]


def test_every_accepted_name_is_listed():
    assert set(EVALUATE_FILES) | set(EVALUATE_LINES) == set(ALL)


def test_feature_standard_deviations_equal_numpy_for_sparse_and_dense():
    values = sp.random(50, 7, density=0.4, random_state=1, format="csr") * 10
    expected = values.toarray().std(axis=0, ddof=1)
    np.testing.assert_allclose(feature_standard_deviations(values), expected, rtol=1e-6)
    np.testing.assert_allclose(feature_standard_deviations(values.toarray()), expected)


def test_difference_statistics_equal_numpy():
    rng = np.random.default_rng(0)
    original = sp.csr_matrix(rng.poisson(3, (20, 5)).astype(float))
    reconstruction = rng.gamma(3, 1, (20, 5))
    found = difference_statistics(original, reconstruction)
    difference = np.abs(reconstruction - original.toarray())
    ratio = np.abs(np.log1p(reconstruction) - np.log1p(original.toarray()))
    assert found["|difference|"]["mean"] == pytest.approx(difference.mean())
    assert found["|difference|"]["standard deviation"] == pytest.approx(difference.std(ddof=1))
    assert found["|log-ratio|"]["maximum"] == pytest.approx(ratio.max())


def test_primary_dimensions_are_the_highest_kl_then_the_highest_variance():
    z = np.random.default_rng(2).normal(size=(100, 4)) * np.array([1.0, 3.0, 0.5, 2.0])
    assert list(primary_dimensions(z, np.array([0.1, 0.2, 5.0, 1.0]))[:2]) == [2, 3]
    assert list(primary_dimensions(z, None)[:2]) == [1, 3]


def test_hierarchical_order_is_scipys_average_linkage():
    values = np.random.default_rng(3).normal(size=(30, 4))
    order, tree = hierarchical_order(values, "cosine")
    reference = linkage(values, method="average", metric="cosine")
    np.testing.assert_allclose(tree, reference)
    assert list(order) == list(leaves_list(reference))
    assert list(subset(10, 20)) == list(range(10))
    picked = subset(5000, 1000)
    assert len(set(picked)) == 1000 and list(picked) == sorted(picked)


@pytest.mark.slow
def test_analyse_all_extensive_writes_heat_maps_distances_and_per_class_histograms(
    tmp_path, capsys
):
    options = ["development", "-E", "random", "200", "-D", str(tmp_path / "d")]
    options += ["-A", str(tmp_path / "a")]
    options += ["--included-analyses", "all", "--analysis-level", "extensive"]
    assert main(["analyse", *options]) == 0
    assert "images: not drawn; the data are not images" in capsys.readouterr().out
    folder = next((tmp_path / "a").rglob("data_set_metrics.log")).parent
    for kind in ("full",):
        for name in (
            f"heat_maps/heat_maps-{kind}-original-labels.png",
            f"heat_maps/heat_maps-{kind}-original-euclidean-hierarchical_clustering.png",
            f"heat_maps/heat_maps-{kind}-original-cosine-hierarchical_clustering.png",
            f"distances/distances-{kind}-original-euclidean-labels.png",
            f"distances/distances-{kind}-original-cosine-hierarchical_clustering.png",
            f"feature_value_standard_deviations/feature_value_standard_deviations-{kind}-sorted.png",
            f"feature_value_standard_deviations/feature_value_standard_deviations-{kind}-histogram.png",
            f"histograms-classes/histogram-normed-counts-{kind}-1.png",
            f"histograms-counts/histogram-normed-counts-{kind}-cutoff-1.png",
        ):
            assert (folder / name).is_file(), name


@pytest.mark.slow
def test_evaluate_all_extensive_writes_a_file_for_every_accepted_name(tmp_path, capsys):
    folders = ["-D", str(tmp_path / "d"), "-M", str(tmp_path / "m")]
    gmvae = [*DATA, *MODEL, "-m", "GMVAE", *folders]
    assert main(["train", *gmvae, "-e", "2", "--quiet"]) == 0
    analyses = tmp_path / "a"
    options = ["-A", str(analyses), "-P", "kmeans", "--model-versions", "eot"]
    options += ["--included-analyses", "all", "--analysis-level", "extensive"]
    capsys.readouterr()
    assert main(["evaluate", *gmvae, *options]) == 0
    printed = capsys.readouterr().out
    version = next(analyses.rglob("e_2-mc_1-iw_1"))
    for name, patterns in EVALUATE_FILES.items():
        for pattern in patterns:
            assert list(version.glob(pattern)), f"{name}: {pattern}"
    for name, line in EVALUATE_LINES.items():
        assert line in printed, name
    metrics = (version / "test-metrics.log").read_text()
    assert "|difference|" in metrics and "|log-ratio|" in metrics
    assert "Acc (superset)" in metrics
    # a VAE has a KL per dimension but no clusters or mixture: the lines say so
    vae = [*DATA, *MODEL, "-m", "VAE", *folders]
    assert main(["train", *vae, "-e", "2", "--quiet"]) == 0
    options = ["-A", str(analyses), "--model-versions", "eot", "--included-analyses"]
    options += ["kl_heat_maps", "accuracies", "latent_distributions", "predictions"]
    assert main(["evaluate", *vae, *options]) == 0
    printed = capsys.readouterr().out
    version = next((analyses / "development").rglob("VAE/**/e_2-mc_1-iw_1"))
    assert (version / "kl_divergence_evolution.png").is_file()
    for line in (
        "accuracies: not drawn;",
        "latent_distributions: not drawn;",
        "predictions: none to write;",
    ):
        assert line in printed, line
