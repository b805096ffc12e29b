"""``scvae analyse``: metrics, histograms, decompositions of the original values, report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from scvae.cli import main
from scvae.data import DataSet


def test_analyse_writes_histograms_decompositions_and_a_report(small_labelled_h5ad, tmp_path):
    analyses = tmp_path / "a"
    code = main(
        ["analyse", str(small_labelled_h5ad), "-D", str(tmp_path / "d"), "-A", str(analyses)]
    )
    assert code == 0
    folder = next(analyses.rglob("data_set_metrics.json")).parent
    for name in (
        "histograms/histogram-normed-counts-full.png",
        "histograms/histogram-normed-count_sum-full.png",
        "histograms/histogram-normed-classes-full.png",
        "original_space-full/original_space-full-pca-labels.png",
        "original_space-full/original_space-full-pca-count_sum.png",
        "index.html",
    ):
        assert (folder / name).is_file(), name
    data = DataSet(str(small_labelled_h5ad), directory=str(tmp_path / "d")).load()
    table = pd.read_csv(
        folder / "original_space-full/original_space-full-pca.tsv.gz", sep="\t", index_col=0
    )
    assert list(table.columns) == ["PC1", "PC2"]
    assert list(table.index.astype(str)) == [str(name) for name in data.example_names]
    # the PCA of log-normalised counts: each cell scaled to the median total, log(1 + x)
    counts = data.values.toarray().astype(float)
    totals = counts.sum(axis=1, keepdims=True)
    normalised = np.log1p(counts * np.median(totals[totals > 0]) / np.maximum(totals, 1e-300))
    reference = PCA(2).fit_transform(normalised)
    for column, name in enumerate(("PC1", "PC2")):
        correlation = np.corrcoef(table[name], reference[:, column])[0, 1]
        assert abs(correlation) > 0.999
    metrics = json.loads((folder / "data_set_metrics.json").read_text())
    assert metrics["full"]["number_of_examples"] == data.number_of_examples


def test_simple_group_skips_figures(small_labelled_h5ad, tmp_path):
    analyses = tmp_path / "a"
    code = main(
        ["analyse", str(small_labelled_h5ad), "-D", str(tmp_path / "d"), "-A", str(analyses)]
        + ["--included-analyses", "simple"]
    )
    assert code == 0
    assert not list(analyses.rglob("*.png"))
    assert list(analyses.rglob("data_set_metrics.log"))


def test_extensive_level_adds_cutoff_histograms(small_labelled_h5ad, tmp_path):
    analyses = tmp_path / "a"
    code = main(
        ["analyse", str(small_labelled_h5ad), "-D", str(tmp_path / "d"), "-A", str(analyses)]
        + ["--analysis-level", "extensive", "--included-analyses", "metrics", "distributions"]
    )
    assert code == 0
    folder = next(analyses.rglob("data_set_metrics.json")).parent
    cutoffs = sorted(folder.glob("histograms-counts/histogram-normed-counts-full-cutoff-*.png"))
    assert len(cutoffs) == 9


def test_count_histograms_in_chunks_match_the_whole_matrix(monkeypatch):
    import scipy.sparse as sp
    from histogram_checks import check_count_histograms
    from matplotlib.patches import StepPatch

    from scvae.data.storage import chunks
    from scvae.plotting.distributions import plot_binned_histogram

    monkeypatch.setattr(chunks, "CHUNK_VALUES", 37)  # many chunks
    rng = np.random.default_rng(3)
    for values in (
        sp.random(120, 40, density=0.2, random_state=4, data_rvs=lambda k: rng.poisson(3, k) + 1),
        sp.random(120, 40, density=0.2, random_state=5, data_rvs=lambda k: rng.gamma(2.0, 3, k)),
    ):
        matrix = sp.csr_matrix(values, dtype=np.float32)
        dense = matrix.toarray().astype(np.float64).ravel()
        whole = bool(np.all(dense == np.round(dense)))
        counted = check_count_histograms(matrix, dense, matrix.data, cutoff=4.5, discrete=whole)
        figure = plot_binned_histogram(*counted[1], log_x=True, x_label="Counts")
        (stairs,) = [p for p in figure.axes[0].patches if isinstance(p, StepPatch)]
        np.testing.assert_allclose(stairs.get_data().values, counted[1][0] / dense.size)
        assert figure.axes[0].get_xlabel() == "Counts + 1"
