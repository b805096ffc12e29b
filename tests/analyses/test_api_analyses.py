"""``scvae.analyses``: the manual's three functions, their signatures and the files written."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

from scvae import analyses

#: parameter names and defaults as the manual documents them
MANUAL = {
    "analyse_data": [
        ("data_sets", inspect.Parameter.empty),
        ("decomposition_methods", None),
        ("highlight_feature_indices", None),
        ("analyses_directory", None),
        ("kwargs", inspect.Parameter.empty),
    ],
    "analyse_model": [
        ("model", inspect.Parameter.empty),
        ("run_id", None),
        ("analyses_directory", None),
        ("kwargs", inspect.Parameter.empty),
    ],
    "analyse_intermediate_results": [
        ("epoch", inspect.Parameter.empty),
        ("learning_curves", None),
        ("epoch_start", None),
        ("model_type", None),
        ("latent_values", None),
        ("data_set", None),
        ("centroids", None),
        ("model_name", None),
        ("run_id", None),
        ("analyses_directory", None),
    ],
}


@pytest.mark.parametrize("name", sorted(MANUAL))
def test_signatures_match_the_manual(name):
    parameters = inspect.signature(getattr(analyses, name)).parameters.values()
    assert [(p.name, p.default) for p in parameters] == MANUAL[name]
    assert name in analyses.__all__


def _data_set():
    from scvae.data import DataSet

    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b", "c"], 20)
    values = rng.poisson(np.repeat([[1, 5, 9, 2], [8, 1, 2, 7], [3, 3, 9, 1]], 20, axis=0))
    return DataSet("api", values=values.astype(np.float32), labels=labels)


def test_analyse_data_writes_under_the_data_folder(tmp_path):
    data_set = _data_set()
    written = analyses.analyse_data(
        [data_set],
        decomposition_methods="PCA",
        highlight_feature_indices=2,
        analyses_directory=tmp_path,
        included_analyses="standard",
    )
    assert written and all(tmp_path / "data" in path.parents for path in written)
    assert (tmp_path / "data" / "data_set_metrics.log").is_file()
    table = pd.read_csv(
        tmp_path / "data/original_space-full/original_space-full-pca.tsv.gz", sep="\t", index_col=0
    )
    assert table.shape == (60, 2)
    assert list((tmp_path / "data").rglob("*-feature-*.png"))  # the highlighted feature
    with pytest.raises(TypeError):
        analyses.analyse_data(data_set, analyses_directory=tmp_path, colour="red")


def test_analyse_intermediate_results_takes_scvaes_curves_and_centroids(tmp_path):
    data_set = _data_set()
    curves = {
        "training": {"lower_bound": [-30.0, -20.0, -15.0], "kl_divergence": [1.0, 2.0, 2.5]},
        "validation": {"lower_bound": [-31.0, -22.0, -16.0], "kl_divergence": [1.0, 2.1, 2.4]},
    }
    latent = np.random.default_rng(1).normal(size=(60, 3))
    centroids = {
        "prior": {
            "probabilities": np.array([0.2, 0.3, 0.5]),
            "means": np.eye(3),
            "covariance_matrices": np.stack([np.eye(3)] * 3),
        }
    }
    written = analyses.analyse_intermediate_results(
        3,
        learning_curves=curves,
        epoch_start=2,
        model_type="GMVAE",
        latent_values=latent,
        data_set=data_set,
        centroids=centroids,
        model_name="GMVAE/x",
        run_id="a1",
        analyses_directory=tmp_path,
    )
    folder = tmp_path / "GMVAE/x/run_a1/intermediate"
    assert {path.name for path in written} == {
        "learning_curves.png",
        "latent_space-epoch-3-pca.png",
        "latent_space-epoch-3-pca-labels.png",
        "probabilities-epoch_3-prior.png",
    }
    assert all(path.parent == folder and path.is_file() for path in written)


def test_analyse_model_plots_a_trained_models_curves(tmp_path):
    from scvae import VariationalAutoencoder

    data_set = _data_set()
    model = VariationalAutoencoder(
        4, latent_size=2, hidden_sizes=[4], log_directory=tmp_path / "model"
    )
    model.train(
        data_set, number_of_epochs=2, minibatch_size=20, progress=False, log=lambda *_: None
    )
    written = analyses.analyse_model(model, analyses_directory=tmp_path / "a")
    names = {path.name for path in written}
    assert "learning_curves.png" in names and "learning_curves-kl_divergence.png" in names
    assert all((tmp_path / "a" / model.name / "e_2") == path.parent for path in written)


def test_image_data_get_an_image_grid_and_count_data_one_line(tmp_path, capsys):
    from matplotlib.image import imread

    from scvae.data import DataSet

    rng = np.random.default_rng(5)
    images = DataSet(
        "images",
        values=rng.integers(0, 2, (30, 12)).astype(np.float32),
        specifications={"example type": "images", "feature dimensions": [3, 4]},
    )
    written = analyses.analyse_data(images, analyses_directory=tmp_path, included_analyses="images")
    assert [path.name for path in written] == ["image_examples-full.png"]
    assert imread(written[0]).ndim == 3  # a real PNG
    assert "images: not drawn" not in capsys.readouterr().out
    written = analyses.analyse_data(
        _data_set(), analyses_directory=tmp_path / "counts", included_analyses="images"
    )
    assert written == []
    assert capsys.readouterr().out.count("images: not drawn; the data are not images") == 1


def test_the_default_groups_say_nothing_about_images_of_count_data(tmp_path, capsys):
    analyses.analyse_data(_data_set(), analyses_directory=tmp_path, included_analyses="simple")
    assert "images" not in capsys.readouterr().out
    analyses.analyse_data(_data_set(), analyses_directory=tmp_path, included_analyses="all")
    assert "images: not drawn" in capsys.readouterr().out
