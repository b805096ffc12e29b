"""Evaluating a trained model: one pass equals direct computation; files read back."""

from __future__ import annotations

import json

import anndata
import numpy as np
import pandas as pd
import pytest
import torch

from scvae import api
from scvae.cli import main
from scvae.config import DataConfig, ModelConfig, TrainingConfig
from scvae.data import DataSet
from scvae.data.batches import RowSource, minibatches
from scvae.errors import ConfigError
from scvae.evaluation.evaluate import evaluate_module
from scvae.evaluation.restore import resolve_versions
from scvae.models import build_module

GMVAE_OPTIONS = ["-m", "GMVAE", "-r", "negative_binomial", "-l", "4", "-H", "16"]


def _module_and_source(path, model_type="GMVAE"):
    data = DataSet(str(path), directory=str(path.parent / "d_eval")).load()
    config = ModelConfig(model_type=model_type, latent_size=3, hidden_sizes=(8,))
    torch.manual_seed(0)
    module = build_module(config, data.number_of_features, number_of_classes=4).eval()
    return module, RowSource.from_data_set(data)


@pytest.mark.parametrize("model_type", ["VAE", "GMVAE"])
def test_one_pass_equals_direct_computation(small_labelled_h5ad, model_type):
    module, source = _module_and_source(small_labelled_h5ad, model_type)
    rows = np.array([3, 70, 299])
    result = evaluate_module(
        module, source, minibatch_size=64, reconstruction_rows=rows, profile_rows=rows[:2]
    )
    batches = list(minibatches(source, source.number_of_examples))
    ((inputs, _),) = batches
    with torch.no_grad():
        torch.manual_seed(1)
        output = module(inputs)
        latent = module.latent_mean(inputs)
    z = latent[0] if isinstance(latent, tuple) else latent
    np.testing.assert_allclose(result.z, z.numpy(), rtol=1e-4, atol=1e-5)
    if model_type == "GMVAE":
        np.testing.assert_allclose(result.y, latent[1].numpy(), rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(result.cluster_ids, latent[1].numpy().argmax(1))
    # the bound is stochastic (one z sample); its mean over 300 cells agrees closely
    assert result.terms["lower_bound"] == pytest.approx(float(output.lower_bound.mean()), rel=0.05)
    assert result.reconstruction.shape == (3, source.targets.shape[1])
    assert result.total_sd.shape == (2, source.targets.shape[1])
    assert (result.total_sd >= result.explained_sd - 1e-9).all()


def test_versions_and_aliases():
    assert resolve_versions(["all"]) == ["end_of_training", "best_model", "early_stopping"]
    assert resolve_versions(["op", "eot"]) == ["end_of_training", "best_model"]
    with pytest.raises(ConfigError):
        resolve_versions(["latest"])


@pytest.fixture(scope="module")
def trained(small_labelled_h5ad, tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluate")
    options = [
        str(small_labelled_h5ad),
        *GMVAE_OPTIONS,
        "--split-data-set",
        "-D",
        str(folder / "d"),
    ]
    code = main(["train", *options, "-e", "2", "-M", str(folder / "m"), "--seed", "5"])
    assert code == 0
    return folder, options


def test_train_then_evaluate_writes_the_standard_files(trained, capsys):
    folder, options = trained
    analyses = folder / "a"
    code = main(
        ["evaluate", *options, "-M", str(folder / "m"), "-A", str(analyses), "-P", "kmeans"]
        + ["--model-versions", "end_of_training", "--analysis-level", "limited"]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "Adjusted Rand index" in printed and "Results" in printed
    version = next(analyses.rglob("e_2-mc_1-iw_1"))
    data = DataSet(str(trained[1][0]), directory=str(folder / "d")).load()
    test_set = data.split("random", 0.9)[2]
    z = pd.read_csv(version / "latent_values-z.tsv.gz", sep="\t", index_col=0)
    y = pd.read_csv(version / "latent_values-y.tsv.gz", sep="\t", index_col=0)
    assert z.shape == (test_set.number_of_examples, 4)
    assert list(z.columns) == [f"z variable {i}" for i in range(1, 5)]
    assert list(z.index.astype(str)) == [str(name) for name in test_set.example_names]
    assert y.shape[0] == test_set.number_of_examples
    np.testing.assert_allclose(y.to_numpy().sum(axis=1), 1.0, atol=1e-5)
    for spec in ("kmeans", "model"):
        ids = pd.read_csv(
            next(version.glob(f"predictions/predictions-{spec}_*-predicted_cluster_ids.tsv.gz")),
            sep="\t",
            index_col=0,
        )
        assert list(ids.columns) == ["Cluster ID"] and len(ids) == test_set.number_of_examples
    metrics = json.loads((version / "metrics.json").read_text())
    assert set(metrics["predictions"]) == {"kmeans", "model"}
    for entry in metrics["predictions"].values():
        assert -1 <= entry["adjusted_rand_index"] <= 1
        assert 0 <= entry["accuracy"] <= 1
    assert np.isfinite(metrics["lower_bound"])
    adata = anndata.read_h5ad(version / "scvae.h5ad")
    assert adata.obsm["X_scvae"].shape == (data.number_of_examples, 4)  # every cell
    test_rows = adata.obs_names.get_indexer(z.index.astype(str))
    np.testing.assert_allclose(adata.obsm["X_scvae"][test_rows], z.to_numpy(), rtol=1e-5, atol=1e-5)
    assert "label" in adata.obs and any(c.startswith("scvae_kmeans") for c in adata.obs)
    assert (version / "test-metrics.log").read_text().count("ELBO") == 1
    # the standard analyses: figures of every kind, decomposition tables, the report
    for pattern in (
        "learning_curves.png",
        "profile_comparisons/profile_comparisons.png",
        "histograms/histogram-normed-counts.png",
        "reconstructions/reconstructions-pca-labels.png",
        "latent_space-z/latent_space-z-pca-predicted_cluster_ids-model_*.png",
        "latent_space-z/probabilities-posterior-prior.png",
        "latent_space-y/latent_space-y-pca.tsv.gz",
    ):
        assert list(version.glob(pattern)), pattern
    pca = pd.read_csv(version / "latent_space-z/latent_space-z-pca.tsv.gz", sep="\t", index_col=0)
    assert list(pca.columns) == ["PC1", "PC2"] and len(pca) == test_set.number_of_examples
    # the limited level draws one profile grid, of one cell
    grids = [path.name for path in version.glob("profile_comparisons/*.png")]
    assert grids == ["profile_comparisons.png"]
    report = (version / "index.html").read_text()
    assert "Adjusted Rand index" in report and "latent_space-z/" in report
    assert list((analyses).rglob("e_2/learning_curves-kl_divergence_y.png"))


def test_model_directory_alone_gives_the_same_results(trained):
    folder, options = trained
    run = next((folder / "m").rglob("config.json")).parent
    first, second = folder / "a1", folder / "a2"
    common = ["--included-analyses", "metrics", "--model-versions", "end_of_training"]
    assert main(["evaluate", *options, "-M", str(folder / "m"), "-A", str(first), *common]) == 0
    assert main(["evaluate", "--model-directory", str(run), "-A", str(second), *common]) == 0
    one = json.loads(next(first.rglob("metrics.json")).read_text())
    two = json.loads(next(second.rglob("metrics.json")).read_text())
    assert one["predictions"]["model"] == two["predictions"]["model"]
    assert one["reconstruction_error"] == pytest.approx(two["reconstruction_error"], rel=0.02)


def test_missing_model_is_a_one_line_error(small_labelled_h5ad, tmp_path, capsys):
    code = main(
        ["evaluate", str(small_labelled_h5ad), "-D", str(tmp_path / "d"), "-M", str(tmp_path)]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert "Model not found" in error and error.count("\n") == 1


def test_api_evaluate_returns_version_folders(trained):
    folder, options = trained
    from scvae.config import AnalysisConfig, EvaluationConfig

    run = next((folder / "m").rglob("config.json")).parent
    folders = api.evaluate(
        None,
        DataConfig(),
        ModelConfig(),
        TrainingConfig(),
        EvaluationConfig(model_directory=str(run), model_versions=("best_model",)),
        AnalysisConfig(analyses_directory=str(folder / "a3"), included_analyses=("metrics",)),
        progress=False,
        log=lambda *_: None,
    )
    assert (
        len(folders) == 1 and folders[0].name.startswith("e_") and "best_model" in folders[0].name
    )


def test_profile_examples_are_three_per_class_or_25_random():
    from scvae.workflows.evaluate import profile_rows

    labels = ["a"] * 5 + ["b"] * 2 + ["c"] * 4
    data = DataSet("x", values=np.ones((11, 3)), labels=labels)
    rows = profile_rows(data)
    assert [labels[row] for row in rows].count("a") == 3
    assert [labels[row] for row in rows].count("b") == 2
    assert [labels[row] for row in rows].count("c") == 3
    assert list(rows) == sorted(rows)
    unlabelled = DataSet("y", values=np.ones((40, 3)))
    assert len(profile_rows(unlabelled)) == 25 and len(set(profile_rows(unlabelled))) == 25


def test_all_group_extras_are_drawn(trained):
    folder, options = trained
    analyses = folder / "a_all"
    extras = ["heat_maps", "distances", "accuracies", "kl_heat_maps", "latent_distributions"]
    code = main(
        ["evaluate", *options, "-M", str(folder / "m"), "-A", str(analyses)]
        + ["--model-versions", "eot", "--included-analyses", *extras]
    )
    assert code == 0
    version = next(analyses.rglob("e_2-mc_1-iw_1"))
    for name in (
        "accuracies.png",
        "heat_maps/heat_maps-original-labels.png",
        "heat_maps/heat_maps-latent-z-labels.png",
        "distances/distances-latent-z-euclidean.png",
        "distances/distances-latent-z-cosine.png",
    ):
        assert (version / name).is_file(), name
    assert list(version.glob("heat_maps/confusion-labels-model_*.png"))
    for name in ("probabilities", "means"):
        assert (version / f"centroids_evolution/centroids_evolution-prior-{name}.png").is_file()
    from scvae.training.records import read_records

    records = read_records(next((folder / "m").rglob("config.json")).parent)
    assert list(records["epoch"]) == [1, 2]
    np.testing.assert_allclose(records["prior_weights"].sum(axis=1), 1.0, rtol=1e-6)
    assert not list(version.glob("latent_space-z/*.png"))  # not asked for


def test_extensive_level_adds_per_class_and_difference_figures(trained):
    folder, options = trained
    analyses = folder / "a_extensive"
    code = main(
        ["evaluate", *options, "-M", str(folder / "m"), "-A", str(analyses), "--model-versions"]
        + ["eot", "--included-analyses", "decompositions", "--analysis-level", "extensive"]
    )
    assert code == 0
    version = next(analyses.rglob("e_2-mc_1-iw_1"))
    assert (version / "heat_maps/heat_map-difference.png").is_file()
    assert (version / "heat_maps/heat_map-log_ratio.png").is_file()
    # more than ten classes: no per-class figures (the original's limit)
    assert not list(version.glob("reconstructions/*-class-*.png"))


@pytest.mark.parametrize("model_type", ["VAE", "GMVAE"])
def test_the_bounds_pass_gives_the_latent_means_in_evaluation_mode(small_labelled_h5ad, model_type):
    module, source = _module_and_source(small_labelled_h5ad, model_type)
    ((inputs, _),) = list(minibatches(source, source.number_of_examples))
    with torch.no_grad():
        output = module(inputs)
        latent = module.latent_mean(inputs)
    z = latent[0] if isinstance(latent, tuple) else latent
    assert output.latent_mean is not None
    torch.testing.assert_close(output.latent_mean, z, rtol=1e-5, atol=1e-6)
