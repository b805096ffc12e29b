"""A data set with a label superset: superset figures in every place that reports metrics."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from scvae.cli import main

DATA = ["development", "-E", "random", "300", "--split-data-set", "-B", "100", "-H", "8"]
MODEL = ["-l", "2", "-r", "poisson", "-m", "GMVAE"]


@pytest.mark.slow
def test_superset_accuracy_and_the_four_clustering_slots_are_reported(tmp_path, capsys):
    folders = ["-D", str(tmp_path / "d"), "-M", str(tmp_path / "m")]
    assert main(["train", *DATA, *MODEL, *folders, "-e", "2", "-A", str(tmp_path / "i")]) == 0
    for name in ("labels", "superset_labels"):  # the intermediate plots of the first epoch
        assert list((tmp_path / "i").rglob(f"latent_space-epoch-1-*-{name}.png")), name
    epochs = capsys.readouterr().out
    lines = [line for line in epochs.splitlines() if line.startswith("Epoch ")]
    assert len(lines) == 2 and all("superset" in line.lower() for line in lines)
    curves = pd.read_csv(next((tmp_path / "m").rglob("learning_curves.csv")))
    assert curves["superset_accuracy"].between(0, 1).all()
    assert (curves["superset_accuracy"] >= curves["accuracy"] - 1e-9).all()  # coarser classes
    options = ["-A", str(tmp_path / "a"), "-P", "kmeans", "--model-versions", "eot"]
    options += ["--included-analyses", "metrics", "predictions", "accuracies", "latent_space"]
    assert main(["evaluate", *DATA, *MODEL, *folders, *options]) == 0
    printed = capsys.readouterr().out
    for line in ("        Clusters; superset: ", "        Labels; superset: ", "Acc (superset): "):
        assert line in printed
    version = next((tmp_path / "a").rglob("e_2-mc_1-iw_1"))
    assert (version / "accuracies-superset.png").is_file()
    for suffix in ("superset_labels", "predicted_superset_labels-kmeans_3"):
        assert list(version.rglob(f"latent_space-z-*-{suffix}.png")), suffix
    log = (version / "test-prediction-kmeans_3.log").read_text()
    assert "Clusters; superset" in log and "Superset" in log
    metrics = json.loads((version / "metrics.json").read_text())["predictions"]["kmeans"]
    # the superset ARI of the written predictions, recomputed with scikit-learn
    ids = pd.read_csv(
        version / "predictions/predictions-kmeans_3-predicted_cluster_ids.tsv.gz",
        sep="\t",
        index_col=0,
    )
    from scvae.data import DataSet

    data = DataSet("development", directory=str(tmp_path / "d"), example_filter=["random", "300"])
    data = data.load()
    test = data.split("random", 0.9)[2]
    superset = pd.Series(test.superset_labels, index=[str(n) for n in test.example_names])
    superset = superset.loc[ids.index.astype(str)]
    kept = (superset != "No class").to_numpy()
    expected = adjusted_rand_score(superset[kept], ids["Cluster ID"].to_numpy()[kept])
    assert metrics["adjusted_rand_index_superset"] == pytest.approx(expected)
    assert 0 <= metrics["accuracy_superset"] <= 1
