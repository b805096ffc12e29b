"""Model names against the examples given in the specification (§1.9, §3.13)."""

from __future__ import annotations

from scvae.config import ModelConfig
from scvae.models.naming import model_name

ORIGINAL = ModelConfig.with_defaults  # the specification's examples use scVAE 2.1.4's defaults


def test_default_vae_name():
    assert model_name(ORIGINAL("2.1.4")) == "VAE/gaussian/poisson-l_2-h_100-mc_1-iw_1-kl-bn"


def test_current_defaults_name_the_library_size_the_placement_and_the_moves():
    assert (
        model_name(ModelConfig())
        == "VAE/gaussian/negative_binomial-lib-rg-l_10-h_128-mc_1-iw_1-kl-bn"
    )
    gmvae = model_name(ModelConfig(model_type="GMVAE"), 8)
    assert (
        gmvae == "GMVAE/gaussian_mixture-c_8-p_learn/"
        "negative_binomial-lib-rg-l_10-h_128-mc_1-iw_1-bn-mi_5-cr_5"
    )
    assert model_name(ModelConfig(reconstruction_distribution="nb")) == model_name(ModelConfig())


def test_paper_pbmc_gmvae_name():
    config = ORIGINAL(
        "2.1.4",
        model_type="GMVAE",
        reconstruction_distribution="negative_binomial",
        latent_size=100,
        hidden_sizes=(100, 100),
        number_of_warm_up_epochs=200,
    )
    expected = "GMVAE/gaussian_mixture-c_9/negative_binomial-l_100-h_100_100-mc_1-iw_1-bn-wu_200"
    assert model_name(config, 9) == expected


def test_options_appear_in_order():
    config = ORIGINAL(
        "2.1.4",
        model_type="GMVAE",
        prior_probabilities_method="infer",
        number_of_reconstruction_classes=4,
        count_sum=True,
        kl_weight=0.5,
        proportion_of_free_nats_for_y_kl_divergence=0.1,
        minibatch_normalisation=False,
        dropout_keep_probabilities=(0.9, 0.8),
    )
    name = model_name(config, 3)
    assert name == (
        "GMVAE/gaussian_mixture-c_3-p_custom/poisson-k_4-sum-l_2-h_100-mc_1-iw_1"
        "-dropout_0.9_0.8-klw_0.5-fn_0.1"
    )


def test_vae_unit_variance_lfm():
    config = ORIGINAL(
        "2.1.4", latent_distribution="unit_variance_gaussian", generative_architecture="LFM"
    )
    assert model_name(config) == "VAE/unit_variance_gaussian-ga_LFM/poisson-l_2-h_100-mc_1-iw_1-bn"
