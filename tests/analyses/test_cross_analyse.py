"""``scvae cross-analyse``: tables, correlations, filters and figures of evaluated models."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from scipy.stats import pearsonr

from scvae.analyses.cross import (
    CrossAnalysisConfig,
    comparison_table,
    correlations,
    describe_model,
    find_evaluations,
    output_name,
    points_table,
    select,
)
from scvae.cli import main

DATA = "development/split-random_0.9/no_preprocessing"
OTHER = "pbmc/no_split/no_preprocessing"
MODELS = {
    "vae_p": "VAE/gaussian/poisson-l_2-h_8-mc_1-iw_1-kl-bn",
    "vae_nb": "VAE/gaussian/negative_binomial-l_2-h_8-mc_1-iw_1-kl-bn",
    "vae_nb3": "VAE/gaussian/negative_binomial-l_3-h_8-mc_1-iw_1-kl-bn",
    "vae_wu": "VAE/gaussian/negative_binomial-l_2-h_8-mc_1-iw_1-kl-bn-wu_200",
    "gm_p": "GMVAE/gaussian_mixture-c_3/poisson-l_2-h_8-mc_1-iw_1-bn",
    "gm_nb": "GMVAE/gaussian_mixture-c_3/negative_binomial-l_2-h_8-mc_1-iw_1-bn",
}


def _write(root, data, model, version, elbo, epochs, ari=None, run=None, kind="test"):
    folder = root / data / model / (run or "") / version
    folder.mkdir(parents=True, exist_ok=True)
    predictions = {}
    if ari is not None:
        predictions["kmeans"] = {
            "specification": "kmeans_3",
            "adjusted_rand_index": ari,
            "adjusted_mutual_information": ari / 2,
            "silhouette_score": 0.1,
        }
        if model.startswith("GMVAE"):
            predictions["model"] = {
                "specification": "model_3",
                "adjusted_rand_index": ari - 0.1,
                "adjusted_mutual_information": ari / 3,
                "silhouette_score": 0.2,
            }
    metrics = {
        "evaluation_set": kind,
        "epochs_trained": epochs,
        "lower_bound": elbo,
        "reconstruction_error": elbo + 1,
        "predictions": predictions,
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "analyses"
    _write(root, DATA, MODELS["vae_p"], "e_10-mc_1-iw_1", -400.0, 10, 0.2)
    _write(root, DATA, MODELS["vae_nb"], "e_10-mc_1-iw_1", -100.0, 10, 0.5)
    _write(root, DATA, MODELS["vae_nb3"], "e_10-mc_1-iw_1", -98.0, 10, 0.6)
    _write(root, DATA, MODELS["vae_wu"], "e_10-mc_1-iw_1", -99.0, 10, 0.55)
    _write(root, DATA, MODELS["gm_p"], "e_10-mc_1-iw_1", -390.0, 10, 0.3)
    _write(root, DATA, MODELS["gm_nb"], "e_10-mc_1-iw_1", -90.0, 10, 0.7)
    _write(root, DATA, MODELS["gm_nb"], "e_10-mc_1-iw_1", -92.0, 10, 0.6, run="run_b")
    _write(root, DATA, MODELS["gm_nb"], "e_8-best_model-mc_1-iw_1", -91.0, 8, 0.65)
    _write(root, DATA, MODELS["gm_nb"], "e_50-mc_1-iw_1", -80.0, 50, 0.8, run="run_long")
    # not test-set evaluations, or not version folders: ignored
    _write(root, DATA, MODELS["gm_nb"], "e_10-mc_1-iw_1/validation", -1.0, 10, 0.9)
    _write(root, DATA, MODELS["gm_nb"], "e_10-mc_1-iw_1", -1.0, 10, 0.9, run="x", kind="training")
    _write(root, DATA, MODELS["gm_nb"], "e_10-mc_1-iw_1/full", -1.0, 10, 0.9, kind="full")
    # a data set that is not split is evaluated on all its examples
    _write(root, OTHER, MODELS["vae_nb"], "e_10-mc_1-iw_1", -700.0, 10, 0.4, kind="full")
    # a k-means baseline beside the models
    baseline = root / DATA / "kmeans" / "metrics.json"
    baseline.parent.mkdir(parents=True)
    baseline.write_text(json.dumps({"predictions": {"kmeans": {"adjusted_rand_index": 0.45}}}))
    return root


def test_finds_test_set_evaluations_with_runs_and_versions(tree):
    found = find_evaluations(tree)
    assert len(found) == 10
    assert {item.data_set for item in found} == {DATA, OTHER}
    runs = {item.run for item in found if item.model == MODELS["gm_nb"]}
    assert runs == {"default", "run_b", "run_long"}
    versions = {
        (item.run, item.version, item.epochs) for item in found if item.model == MODELS["gm_nb"]
    }
    assert ("default", "OP", 8) in versions and ("run_long", "EOT", 50) in versions


def test_model_titles_are_abbreviated():
    assert describe_model(MODELS["gm_nb"]) == {
        "type": "GMVAE(3)",
        "likelihood": "NB",
        "sizes": "8×2",
        "other": "BN",
    }
    described = describe_model(
        "VAE/gaussian/zero_inflated_negative_binomial-k_4-sum-l_10-h_100_50-mc_1-iw_1-kl-bn-wu_200"
    )
    assert described == {
        "type": "VAE(G)",
        "likelihood": "PCZINB(4)",
        "sizes": "100×50×10",
        "other": "CS, BN, WU(200)",
    }
    described = describe_model(
        "GMVAE/gaussian_mixture-c_9-p_learn/negative_binomial-lib-l_10-h_128-mc_1-iw_1-bn"
        "-ws_1.0-mi_5-cr_5"
    )
    assert described["other"] == "P(learn), LIB, BN, WS(1.0), MI(5), CR(5)"


def test_table_gives_mean_and_sd_over_runs_sorted_by_elbo(tree):
    config = CrossAnalysisConfig(include_data_sets=("development",), epoch_cut_off=10)
    points = points_table(select(find_evaluations(tree), config))
    table = comparison_table(points)
    gm = table[(table["type"] == "GMVAE(3)") & (table["likelihood"] == "NB")]
    row = gm[(gm["version"] == "EOT") & (gm["clustering method"] == "kmeans_3")].iloc[0]
    assert row["runs"] == 2
    elbo = np.array([-90.0, -92.0])
    assert row["ELBO"] == f"{elbo.mean():.4g} ± {elbo.std(ddof=1):.2g}"
    ari = np.array([0.7, 0.6])
    assert row["ARI"] == f"{ari.mean():.4g} ± {ari.std(ddof=1):.2g}"
    means = [float(text.split(" ")[0]) for text in table["ELBO"]]
    assert means == sorted(means, reverse=True)
    kept = points.dropna(subset=["ARI"])
    expected = pearsonr(kept["ELBO"], kept["ARI"])[0]
    assert correlations(points)["ARI"] == pytest.approx(expected)


def test_output_names_follow_the_filters():
    assert output_name(CrossAnalysisConfig()) == "all"
    config = CrossAnalysisConfig(
        include_data_sets=("dev",),
        exclude_models=("GMVAE", "poisson"),
        include_prediction_methods=("kmeans",),
        extra_model_specification_for_plots="wu_200",
        epoch_cut_off=20,
    )
    assert output_name(config) == "d_dev-M_GMVAE_poisson-p_kmeans-a_wu_200-e_20"
    name = output_name(CrossAnalysisConfig(include_models=("../../x",)))
    assert "/" not in name and name.startswith("m_")  # stays one folder under cross_analysis


def _ids(text):
    return re.findall(r"^  ([A-Z]+): (.+?)  \((.+)\)$", text, flags=re.MULTILINE)


def test_cli_filters_and_writes_tables_and_figures(tree, capsys):
    assert main(["cross-analyse", str(tree), "-s", "-o", "kmeans"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("Data set: ") == 2
    assert "k-means (baseline): ARI: 0.45" in printed
    assert "Correlation with the ELBO (Pearson r)" in printed
    folder = tree / "cross_analysis" / "all"
    part = DATA.replace("/", "-")
    for name in (
        "all.log",
        f"correlations-{part}.png",
        f"ELBO_heat_map-{part}-VAE_G_-NB.png",
        f"model_metrics-{part}-ELBO.png",
        f"model_metrics-{part}-ENRE.png",
        f"model_metric_sets-{part}-ELBO-ARI.png",
        f"model_metric_sets-{part}-ELBO-AMI.png",
        f"model_metric_sets-{part}-ELBO-SS.png",
    ):
        assert (folder / name).is_file(), name
    assert "Data set: " + DATA in (folder / "all.log").read_text()
    # include/exclude data sets, models, prediction methods and the epoch cut-off
    code = main(
        ["cross-analyse", str(tree), "-d", "development", "-M", "poisson", "wu_", "-P", "kmeans"]
        + ["-e", "20", "-s"]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert printed.count("Data set: ") == 1 and OTHER not in printed
    models = {model for _, _, model in _ids(printed)}
    assert models == {MODELS["vae_nb"], MODELS["vae_nb3"], MODELS["gm_nb"]}
    assert "kmeans_3" not in printed and "model_3" in printed
    assert "-80" not in printed  # the 50-epoch run is cut off
    folder = tree / "cross_analysis" / "d_development-M_poisson_wu_-P_kmeans-e_20"
    assert (folder / f"{folder.name}.log").is_file()
    assert (
        main(["cross-analyse", str(tree), "-m", "GMVAE", "negative_binomial", "-p", "model"]) == 0
    )
    printed = capsys.readouterr().out
    assert {model for _, _, model in _ids(printed)} == {MODELS["gm_nb"]}
    assert "kmeans_3" not in printed


def test_plots_keep_models_with_the_extra_option_only_when_asked(tree):
    from scvae.analyses.cross_figures import plotted

    points = points_table(find_evaluations(tree))
    points = points[points["data_set"] == DATA]
    default = set(plotted(points, CrossAnalysisConfig())["model"])
    assert MODELS["vae_wu"] not in default and MODELS["vae_nb"] in default
    extra = CrossAnalysisConfig(extra_model_specification_for_plots="wu_200")
    assert MODELS["vae_wu"] in set(plotted(points, extra)["model"])
    own = CrossAnalysisConfig(no_prediction_methods_for_gmvae_in_plots=True)
    rows = plotted(points, own)
    assert set(rows[rows["model"].str.startswith("GMVAE")]["method"]) == {"model_3"}


def test_bad_folders_are_one_line_errors(tmp_path, capsys):
    assert main(["cross-analyse", str(tmp_path / "missing")]) == 2
    assert main(["cross-analyse", str(tmp_path)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(line.startswith("scvae: error: ") for line in errors)
    assert "no test-set evaluations" in errors[1]
    assert main(["cross-analyse", str(tmp_path), "-o", "magic"]) == 2


@pytest.mark.slow
def test_four_trained_runs_two_likelihoods_vae_and_gmvae(tmp_path, capsys):
    data = ["development", "-E", "random", "300", "--split-data-set", "-D", str(tmp_path / "d")]
    data += ["-B", "100", "-H", "8", "-l", "2"]
    folders = ["-M", str(tmp_path / "m")]
    for model in ("VAE", "GMVAE"):
        for likelihood in ("poisson", "negative_binomial"):
            options = [*data, "-m", model, "-r", likelihood, *folders, "--quiet"]
            assert main(["train", *options, "-e", "1"]) == 0
            evaluation = ["-A", str(tmp_path / "a"), "-P", "kmeans", "--model-versions", "eot"]
            evaluation += ["--included-analyses", "metrics"]
            assert main(["evaluate", *options, *evaluation]) == 0
    capsys.readouterr()
    assert main(["cross-analyse", str(tmp_path / "a"), "-s"]) == 0
    printed = capsys.readouterr().out
    titles = {title for _, title, _ in _ids(printed)}
    assert len(titles) == 4
    assert {t.split()[0] for t in titles} == {"VAE(G)", "GMVAE(3)"}
    assert {t.split()[1] for t in titles} == {"P", "NB"}
    folder = tmp_path / "a" / "cross_analysis" / "all"
    assert len(list(folder.glob("model_metric_sets-*-ELBO-ARI.png"))) == 1
    assert len(list(folder.glob("model_metrics-*-ELBO.png"))) == 1
    assert main(["cross-analyse", str(tmp_path / "a"), "-m", "GMVAE", "-M", "poisson"]) == 0
    printed = capsys.readouterr().out
    assert [title.split()[:2] for _, title, _ in _ids(printed)] == [["GMVAE(3)", "NB"]]
