"""Evaluation in bounded memory: streamed statistics equal the dense computation, the
dense reconstructions are bounded by a number of values, and every cell's latent values
reach ``scvae.h5ad``."""

from __future__ import annotations

import json

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from scvae.analyses import exports
from scvae.analyses.metrics import summary_statistics
from scvae.cli import main
from scvae.config import ModelConfig
from scvae.data import DataSet
from scvae.data.batches import RowSource
from scvae.evaluation.evaluate import (
    SummaryAccumulator,
    evaluate_module,
    latent_means,
    latent_minibatch_size,
)
from scvae.models import build_module
from scvae.workflows import evaluate as evaluate_workflow


def _numpy_statistics(values: np.ndarray) -> dict[str, float]:
    values = np.asarray(values, dtype=np.float64)
    variance = values.var(ddof=1)
    return {
        "mean": values.mean(),
        "standard deviation": np.sqrt(variance),
        "dispersion": variance / values.mean(),
        "minimum": values.min(),
        "maximum": values.max(),
        "sparsity": np.mean(values < 0.5),
    }


def test_summary_accumulator_over_blocks_equals_numpy_over_all_values():
    rng = np.random.default_rng(0)
    blocks = [rng.gamma(0.5, 3.0, size=(rows, 13)).astype(np.float32) for rows in (1, 7, 40, 3)]
    accumulator = SummaryAccumulator()
    for block in blocks:
        accumulator.add(block)
    found = accumulator.result()
    expected = _numpy_statistics(np.concatenate(blocks))
    assert found == pytest.approx(expected, rel=1e-12)
    # the same numbers as the chunked statistics of the analyses (float32 values)
    assert found == pytest.approx(summary_statistics(np.concatenate(blocks)), rel=1e-12)


def _toy_module_and_source(model_type: str, cells: int = 150, genes: int = 60):
    rng = np.random.default_rng(1)
    counts = rng.poisson(rng.gamma(0.6, 2.0, size=(1, genes)), size=(cells, genes))
    data = DataSet(
        "toy", values=sp.csr_matrix(counts.astype(np.float32)), example_names=np.arange(cells)
    )
    config = ModelConfig(model_type=model_type, latent_size=3, hidden_sizes=(8,))
    torch.manual_seed(0)
    module = build_module(config, genes, number_of_classes=3).eval()
    return module, RowSource.from_data_set(data)


@pytest.mark.parametrize("model_type", ["VAE", "GMVAE"])
def test_streamed_reconstruction_statistics_equal_the_dense_ones(model_type):
    module, source = _toy_module_and_source(model_type)
    rows = np.arange(3, 150, 2)
    kept = rows[::5]
    # statistics streamed for `rows`, dense reconstructions kept for all of them ...
    dense = evaluate_module(
        module, source, minibatch_size=32, reconstruction_rows=rows, statistics_rows=rows
    )
    # ... or only for a few: the same draws, so the same statistics and totals
    bounded = evaluate_module(
        module, source, minibatch_size=32, reconstruction_rows=kept, statistics_rows=rows
    )
    assert dense.reconstruction.dtype == np.float32
    expected = _numpy_statistics(dense.reconstruction)
    assert dense.reconstruction_statistics == pytest.approx(expected, rel=1e-9)
    assert bounded.reconstruction_statistics == pytest.approx(expected, rel=1e-9)
    np.testing.assert_allclose(
        bounded.reconstruction_totals, dense.reconstruction.sum(axis=1), rtol=1e-6
    )
    np.testing.assert_array_equal(bounded.statistics_rows, rows)
    assert bounded.reconstruction.shape == (len(kept), 60)
    np.testing.assert_array_equal(bounded.reconstruction, dense.reconstruction[::5])
    # the terms and latent values do not depend on what is kept
    assert bounded.terms == dense.terms
    np.testing.assert_array_equal(bounded.z, dense.z)


def test_profile_standard_deviations_sit_at_their_rows():
    module, source = _toy_module_and_source("VAE")
    rows = np.arange(0, 150, 3)
    profile = np.array([6, 90, 147])
    # the same reconstructed rows, so the same draws: only what is kept differs
    three = evaluate_module(
        module, source, minibatch_size=32, reconstruction_rows=rows, profile_rows=profile
    )
    two = evaluate_module(
        module, source, minibatch_size=32, reconstruction_rows=rows, profile_rows=profile[1:]
    )
    assert three.total_sd.shape == (3, 60) and three.total_sd.dtype == np.float64
    assert (three.total_sd >= three.explained_sd - 1e-9).all()
    np.testing.assert_array_equal(three.total_sd[1:], two.total_sd)
    np.testing.assert_array_equal(three.explained_sd[1:], two.explained_sd)
    assert not np.array_equal(three.total_sd[0], three.total_sd[1])


@pytest.mark.parametrize("model_type", ["VAE", "GMVAE"])
def test_latent_means_equal_the_evaluation_pass_whatever_the_minibatch(model_type):
    module, source = _toy_module_and_source(model_type)
    evaluation = evaluate_module(module, source, minibatch_size=32)
    for size in (7, 150, 1000):
        z, y = latent_means(module, source, minibatch_size=size)
        assert z.dtype == np.float32
        np.testing.assert_allclose(z, evaluation.z, rtol=1e-5, atol=1e-6)
        if model_type == "GMVAE":
            np.testing.assert_allclose(y, evaluation.y, rtol=1e-5, atol=1e-6)
        else:
            assert y is None


def test_latent_minibatch_size_follows_the_width():
    assert latent_minibatch_size(27_998, 100) == 285
    assert latent_minibatch_size(2_000, 100) == 4000
    assert latent_minibatch_size(200, 100) == 4096  # capped
    assert latent_minibatch_size(10**8, 100) == 100  # never below the training minibatch


def test_dense_rows_hold_at_most_the_value_budget(monkeypatch):
    rows = evaluate_workflow.reconstruction_rows(130_000)
    assert len(rows) == 10_000
    kept = evaluate_workflow.dense_rows(rows, 27_998)
    assert len(kept) * 27_998 <= evaluate_workflow.RECONSTRUCTION_VALUES
    assert len(kept) == evaluate_workflow.RECONSTRUCTION_VALUES // 27_998
    assert np.isin(kept, rows).all() and (np.diff(kept) > 0).all()
    # narrow data keep every summarised row, as before
    np.testing.assert_array_equal(evaluate_workflow.dense_rows(rows, 2_000), rows)


def _wide_h5ad(path, cells=240, genes=400):
    rng = np.random.default_rng(3)
    means = rng.gamma(0.4, 2.0, size=genes)
    counts = rng.poisson(means, size=(cells, genes)).astype(np.float32)
    counts[:, 0] += 1  # no empty cell
    labels = np.where(np.arange(cells) % 3 == 0, "A", np.where(np.arange(cells) % 3 == 1, "B", "C"))
    adata = anndata.AnnData(
        X=sp.csr_matrix(counts),
        obs=pd.DataFrame({"cell_type": labels}, index=[f"cell{i}" for i in range(cells)]),
        var=pd.DataFrame(index=[f"gene{j}" for j in range(genes)]),
    )
    adata.write_h5ad(path)
    return path


def test_bounded_dense_reconstructions_keep_the_metrics_and_every_cells_latent_values(
    tmp_path, monkeypatch
):
    data = _wide_h5ad(tmp_path / "wide.h5ad")
    # scvae.h5ad is the input copied block by block (as for files over 1 GiB), results added
    monkeypatch.setattr(exports, "COPY_PROGRESS_BYTES", 0)
    monkeypatch.setattr(exports, "COPY_BLOCK_BYTES", 4096)
    options = [str(data), "-l", "3", "-H", "8", "--split-data-set", "--label-key", "cell_type"]
    options += ["-D", str(tmp_path / "d"), "-M", str(tmp_path / "m"), "--seed", "2"]
    assert main(["train", *options, "-e", "1", "--quiet"]) == 0
    results = {}
    for name, budget in (("all", evaluate_workflow.RECONSTRUCTION_VALUES), ("bounded", 400 * 5)):
        monkeypatch.setattr(evaluate_workflow, "RECONSTRUCTION_VALUES", budget)
        analyses = tmp_path / name
        analysed = ["metrics", "latent_values", "distributions", "decompositions"]
        command = ["evaluate", *options, "-A", str(analyses), "--included-analyses", *analysed]
        assert main([*command, "--quiet"]) == 0
        (metrics,) = analyses.rglob("metrics.json")
        results[name] = metrics.parent
    everything, bounded = results["all"], results["bounded"]
    read = {
        name: json.loads((folder / "metrics.json").read_text()) for name, folder in results.items()
    }
    # statistics over every test cell in both (the test set has 24 cells, 5 kept dense)
    assert read["bounded"]["statistics"].keys() == {"original", "reconstructed"}
    for name, expected in read["all"]["statistics"].items():
        assert read["bounded"]["statistics"][name] == pytest.approx(expected, rel=1e-9)
    assert read["bounded"]["lower_bound"] == read["all"]["lower_bound"]
    for folder in (everything, bounded):
        assert (folder / "histograms" / "histogram-normed-counts.png").is_file()
        assert (folder / "reconstructions" / "reconstructions-pca.tsv.gz").is_file()
    table = pd.read_csv(
        bounded / "reconstructions" / "reconstructions-pca.tsv.gz", sep="\t", index_col=0
    )
    full_table = pd.read_csv(
        everything / "reconstructions" / "reconstructions-pca.tsv.gz", sep="\t", index_col=0
    )
    assert len(full_table) == 24
    assert 5 <= len(table) < 24  # the bounded part (5 cells) plus the profile cells
    # every cell's latent values in scvae.h5ad, equal to a direct pass of the encoder
    written = anndata.read_h5ad(bounded / "scvae.h5ad")
    assert written.n_obs == 240 and written.obsm["X_scvae"].shape == (240, 3)
    assert np.isfinite(written.obsm["X_scvae"]).all()
    test_cells = pd.read_csv(bounded / "latent_values-z.tsv.gz", sep="\t", index_col=0)
    np.testing.assert_allclose(
        written[test_cells.index.astype(str)].obsm["X_scvae"],
        test_cells.to_numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_array_equal(
        written.obsm["X_scvae"], anndata.read_h5ad(everything / "scvae.h5ad").obsm["X_scvae"]
    )


def test_large_files_are_copied_block_by_block_byte_for_byte(tmp_path, monkeypatch):
    source = tmp_path / "source.bin"
    content = np.random.default_rng(5).bytes(10_000 * 3 + 17)
    source.write_bytes(content)
    monkeypatch.setattr(exports, "COPY_PROGRESS_BYTES", 100)
    monkeypatch.setattr(exports, "COPY_BLOCK_BYTES", 10_000)
    exports.copy_with_progress(source, tmp_path / "copy.bin")
    assert (tmp_path / "copy.bin").read_bytes() == content


def test_difference_statistics_in_row_blocks_equal_numpy(monkeypatch):
    from types import SimpleNamespace

    from scvae.analyses import extensive
    from scvae.config import AnalysisConfig

    monkeypatch.setattr(extensive, "DIFFERENCE_ROWS", 3)  # 20 rows: 7 blocks
    rng = np.random.default_rng(4)
    counts = rng.poisson(2.0, (30, 6)).astype(np.float32)
    rows = np.sort(rng.choice(30, 20, replace=False))
    reconstruction = rng.gamma(2.0, 1.0, (20, 6)).astype(np.float32)
    data = DataSet("toy", values=sp.csr_matrix(counts), example_names=np.arange(30))
    evaluation = SimpleNamespace(reconstruction=reconstruction, reconstruction_rows=rows)
    analysis = AnalysisConfig(analysis_level="extensive")
    found = extensive.extensive_statistics(analysis, {"metrics"}, data, evaluation)
    original = counts[rows].astype(np.float64)
    recon = reconstruction.astype(np.float64)
    difference = np.abs(recon - original)
    ratio = np.abs(np.log1p(recon) - np.log1p(original))
    assert found["|difference|"] == pytest.approx(_numpy_statistics(difference), rel=1e-9)
    assert found["|log-ratio|"] == pytest.approx(_numpy_statistics(ratio), rel=1e-9)
