"""The manual's user-facing model classes: construct, train, evaluate, sample."""

from __future__ import annotations

import numpy as np
import pytest

from scvae import GaussianMixtureVariationalAutoencoder, VariationalAutoencoder
from scvae.data import DataSet
from scvae.training.curves import read_curves


@pytest.fixture(scope="module")
def data_sets(small_labelled_h5ad, tmp_path_factory):
    folder = tmp_path_factory.mktemp("interface")
    data = DataSet(str(small_labelled_h5ad), directory=str(folder / "d")).load()
    return data.split("random", 0.9)


def test_gmvae_trains_evaluates_and_samples(data_sets, tmp_path):
    training, validation, test = data_sets
    model = GaussianMixtureVariationalAutoencoder(
        training.number_of_features,
        latent_size=3,
        hidden_sizes=[16],
        reconstruction_distribution="negative_binomial",
        number_of_latent_clusters=5,
        log_directory=tmp_path / "gmvae",
    )
    assert model.number_of_latent_clusters == 5
    assert (
        model.name
        == "GMVAE/gaussian_mixture-c_5-p_learn/negative_binomial-lib-rg-l_3-h_16-mc_1-iw_1-bn-mi_5-cr_5"
    )
    assert model.latent_size == 3 and "GMVAE" in model.description
    assert model.parameters and all(isinstance(s, tuple) for s in model.parameters.values())
    run = model.train(
        training,
        validation,
        number_of_epochs=2,
        minibatch_size=64,
        progress=False,
        log=lambda *_: None,
    )
    rows = read_curves(run / "learning_curves.csv")
    assert sorted({row["epoch"] for row in rows}) == [1, 2]
    reconstructed, latent = model.evaluate(test)
    assert reconstructed.values.shape == test.values.shape
    assert latent["z"].values.shape == (test.number_of_examples, 3)
    np.testing.assert_allclose(latent["y"].values.sum(axis=1), 1.0, atol=1e-5)
    assert list(latent["z"].example_names) == list(test.example_names)
    best, _ = model.evaluate(test, use_best_model=True)
    assert best.values.shape == test.values.shape
    samples, sampled_latent = model.sample(sample_size=7)
    assert samples.values.shape == (7, training.number_of_features)
    assert sampled_latent["y"].values.sum() == pytest.approx(7)


def test_vae_custom_options_and_continued_training(data_sets, tmp_path):
    training, validation, _ = data_sets
    model = VariationalAutoencoder(
        training.number_of_features,
        latent_size=2,
        hidden_sizes=[8],
        reconstruction_distribution="poisson",
        number_of_warm_up_epochs=3,
        log_directory=tmp_path / "vae",
    )
    assert model.name.endswith("-wu_3")
    quiet = {"progress": False, "log": lambda *_: None}
    model.train(training, number_of_epochs=1, **quiet)
    run = model.train(training, number_of_epochs=2, **quiet)
    assert max(row["epoch"] for row in read_curves(run / "learning_curves.csv")) == 2
    with pytest.raises(TypeError):
        VariationalAutoencoder(10, no_such_option=1)


def test_old_spelling_forwards_with_a_future_warning():
    import scvae.models
    from scvae.workflows import estimators

    with pytest.warns(FutureWarning, match="scvae.VariationalAutoencoder"):
        old = scvae.models.VariationalAutoencoder
    assert old is estimators.VariationalAutoencoder is VariationalAutoencoder
    with pytest.warns(FutureWarning):
        from scvae.models import GaussianMixtureVariationalAutoencoder as old_gmvae
    assert old_gmvae is GaussianMixtureVariationalAutoencoder
    with pytest.raises(AttributeError):
        scvae.models.NoSuchModel  # noqa: B018
