"""Model names against the examples given in the specification (§1.9, §3.13)."""

from __future__ import annotations

from scvae.config import ModelConfig
from scvae.models.naming import model_name


def test_default_vae_name():
    assert model_name(ModelConfig()) == "VAE/gaussian/poisson-l_2-h_100-mc_1-iw_1-kl-bn"


def test_paper_pbmc_gmvae_name():
    config = ModelConfig(
        model_type="GMVAE",
        reconstruction_distribution="negative_binomial",
        latent_size=100,
        hidden_sizes=(100, 100),
        number_of_warm_up_epochs=200,
    )
    expected = "GMVAE/gaussian_mixture-c_9/negative_binomial-l_100-h_100_100-mc_1-iw_1-bn-wu_200"
    assert model_name(config, 9) == expected


def test_options_appear_in_order():
    config = ModelConfig(
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
    config = ModelConfig(
        latent_distribution="unit_variance_gaussian", generative_architecture="LFM"
    )
    assert model_name(config) == "VAE/unit_variance_gaussian-ga_LFM/poisson-l_2-h_100-mc_1-iw_1-bn"
