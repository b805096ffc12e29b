"""What the analyses choose to show: log-normalised PCA, names instead of codes, a few
profiles, the report's order, and the set a no-split evaluation really used."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import PCA

from scvae.analyses.common import colourings, log_normalised
from scvae.analyses.decompositions import decompose
from scvae.analyses.evaluation import evaluated_kind
from scvae.analyses.figures import every_profile, representative_rows
from scvae.analyses.titles import decomposition_title, report_sections
from scvae.config import AnalysisConfig
from scvae.data import DataSet
from scvae.plotting import plot_histogram, save_figure


def test_log_normalisation_scales_each_cell_to_the_median_total():
    counts = np.array([[1, 0, 3], [10, 10, 0], [0, 0, 0], [2, 2, 4]], dtype=float)
    totals = counts.sum(axis=1)
    median = np.median(totals[totals > 0])
    expected = np.zeros_like(counts)
    for i, total in enumerate(totals):
        if total:
            expected[i] = np.log(1 + counts[i] * median / total)
    np.testing.assert_allclose(log_normalised(sp.csr_matrix(counts)).toarray(), expected)
    np.testing.assert_allclose(log_normalised(counts), expected, rtol=1e-6)  # dense alike


def test_pca_of_sparse_values_is_the_centred_pca():
    rng = np.random.default_rng(0)
    dense = rng.poisson(1.0, size=(200, 30)).astype(float)
    ours = decompose(sp.csr_matrix(dense), "pca").values
    truth = PCA(2).fit_transform(dense)
    for column in range(2):  # equal up to the sign of each component
        sign = np.sign(ours[:, column] @ truth[:, column])
        np.testing.assert_allclose(sign * ours[:, column], truth[:, column], atol=1e-6)


def test_titles_are_human():
    assert decomposition_title("latent_space-z", "pca") == "Latent space (PCA)"
    assert (
        decomposition_title("original_space-full", "t_sne", "log-normalised counts")
        == "Original counts, all cells (t-SNE of log-normalised counts)"
    )


def test_batches_are_named_and_legends_titled():
    data = DataSet(
        "toy",
        values=sp.csr_matrix(np.ones((4, 2))),
        labels=np.array(["B", "T", "T", "B"]),
        batch_indices=np.array([0, 1, 1, 0]),
        batch_names=["lane A", "lane B"],
    )
    found = colourings(data, np.arange(4), [], AnalysisConfig())
    assert list(found["-batches"]["labels"]) == ["lane A", "lane B", "lane B", "lane A"]
    assert found["-batches"]["legend_title"] == "Batch"
    assert found["-labels"]["legend_title"] in ("Class", "Cell type")


def test_representative_profiles_come_from_the_largest_classes():
    labels = np.array(["a"] * 5 + ["b"] * 20 + ["c"] * 10 + ["d"] * 2)
    profile_rows = [0, 1, 5, 6, 25, 26, 35]
    assert representative_rows(profile_rows, labels, 2) == [5, 25]
    assert representative_rows(profile_rows, labels, 4) == [5, 25, 0, 35]
    assert representative_rows(profile_rows, None, 3) == [0, 1, 5]
    assert not every_profile(AnalysisConfig())
    assert every_profile(AnalysisConfig(included_analyses=("all",)))
    assert every_profile(AnalysisConfig(analysis_level="extensive"))


def test_an_unsplit_evaluation_is_not_called_a_test_set():
    assert evaluated_kind("test", SimpleNamespace(kind="full")) == "full"
    assert evaluated_kind("test", SimpleNamespace(kind="test")) == "test"
    assert evaluated_kind("validation", SimpleNamespace(kind="validation")) == "validation"


def test_report_shows_the_latent_space_first_and_labels_before_the_rest(tmp_path: Path):
    names = [
        "learning_curves.png",
        "histograms/histogram-normed-counts.png",
        "latent_space-z/latent_space-z-pca.png",
        "latent_space-z/latent_space-z-pca-count_sum.png",
        "latent_space-z/latent_space-z-pca-labels.png",
        "zzz_other/x.png",
    ]
    for name in names:
        save_figure(plot_histogram([1.0, 2.0]), tmp_path / name)
    sections = report_sections(tmp_path)
    assert all(not path.is_absolute() for paths in sections.values() for path in paths)
    assert list(sections) == ["Latent space", "Learning curves", "Histograms", "Zzz other"]
    assert [path.name for path in sections["Latent space"]] == [
        "latent_space-z-pca-labels.png",
        "latent_space-z-pca-count_sum.png",
        "latent_space-z-pca.png",
    ]


def _profile_case(included: tuple[str, ...]):
    from scvae.analyses.figures import _profiles

    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, size=(6, 40)).astype(float)
    counts[3, 0] = 50.0  # above the cut-off limit: three more figures for this cell
    data = DataSet(
        "toy",
        values=sp.csr_matrix(counts),
        labels=np.array(["B", "B", "T", "T", "T", "NK"]),
        example_names=[f"c{i}" for i in range(6)],
    )
    evaluation = SimpleNamespace(
        profile_rows=np.array([0, 3]),
        reconstruction_rows=np.arange(6),
        reconstruction=counts + 0.5,
        total_sd=np.ones((2, 40)),
        explained_sd=np.ones((2, 40)),
    )
    titles: dict[str, list[str]] = {}

    def save(figure, path):
        titles[path.name] = [axes.get_title() for axes in figure.axes if axes.get_title()]
        figure.clear()
        return path

    context = SimpleNamespace(analysis=AnalysisConfig(included_analyses=included))
    written = _profiles(Path("unused"), context, data, evaluation, save)
    return written, titles


def test_standard_draws_one_profile_grid_and_all_draws_every_profile():
    written, titles = _profile_case(("standard",))
    assert [path.name for path in written] == ["profile_comparisons.png"]
    # the largest classes first (T: 3 cells, B: 2, NK: 1), one profile row each where drawn
    assert titles["profile_comparisons.png"] == ["c3: cell type T", "c0: cell type B"]
    written, titles = _profile_case(("all",))
    assert len(written) == 1 + 2 + 5  # the grid, two figures of c0, five of c3
    assert titles["profile_comparison-c3-T-cutoff-log.png"][0].startswith("c3: ")
