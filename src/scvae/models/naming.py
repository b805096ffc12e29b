"""The model name (type, latent distribution, likelihood, sizes, options), also its folder."""

from __future__ import annotations

from scvae.config import ModelConfig
from scvae.distributions import registry

VAE_LATENT_DISTRIBUTIONS = ("gaussian", "unit_variance_gaussian")
GMVAE_LATENT_DISTRIBUTIONS = (
    "gaussian_mixture",
    "full_covariance_gaussian_mixture",
    "legacy_gaussian_mixture",
)


def normalise(name: str) -> str:
    """Lower case with '_' for spaces and '-'."""
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def latent_distribution(config: ModelConfig) -> str:
    """The latent distribution, defaulting to the model type's own."""
    if config.latent_distribution:
        return normalise(config.latent_distribution)
    return "gaussian" if config.model_type == "VAE" else "gaussian_mixture"


def model_name(
    config: ModelConfig, number_of_classes: int = 1, number_of_batches: int | None = None
) -> str:
    """``<type>/<latent part>/<likelihood part>`` for ``config`` with K components.

    ``-bc`` (batch correction) is left out when ``number_of_batches`` is 0: the data have
    no batches, so the model is the one without correction (``None``: as configured).
    """
    latent = latent_distribution(config)
    gmvae = config.model_type == "GMVAE"
    latent_part = [latent]
    if gmvae or "mixture" in latent:
        latent_part.append(f"c_{number_of_classes}")
    if gmvae and config.prior_probabilities_method != "uniform":
        method = {"infer": "custom"}.get(
            config.prior_probabilities_method, config.prior_probabilities_method
        )
        latent_part.append(f"p_{method}")
    if not gmvae:
        if config.parameterise_latent_posterior:
            latent_part.append("parameterised")
        if config.inference_architecture != "MLP":
            latent_part.append(f"ia_{config.inference_architecture}")
        if config.generative_architecture != "MLP":
            latent_part.append(f"ga_{config.generative_architecture}")
    corrected = config.batch_correction and number_of_batches != 0
    return "/".join(
        (config.model_type, "-".join(latent_part), _likelihood_part(config, latent, corrected))
    )


def _likelihood_part(config: ModelConfig, latent: str, corrected: bool) -> str:
    name = normalise(config.reconstruction_distribution)
    # the short aliases name the same model as the full names (one folder for both)
    parts = [registry.canonical_name(name) if name in ("nb", "zinb", "zip") else name]
    if config.number_of_reconstruction_classes > 0:
        parts.append(f"k_{config.number_of_reconstruction_classes}")
    if config.count_sum:
        parts.append("sum")
    if config.library_size in ("observed", "proportions") and registry.scale_head(
        config.reconstruction_distribution
    ):
        parts.append("lib" if config.library_size == "observed" else "libp")
    if registry.per_feature_head(
        config.reconstruction_distribution, getattr(config, "dispersion", "cell")
    ):
        parts.append("rg")
    parts += [
        f"l_{config.latent_size}",
        "h_" + "_".join(str(size) for size in config.hidden_sizes),
        f"mc_{config.number_of_monte_carlo_samples[0]}",
        f"iw_{config.number_of_importance_samples[0]}",
    ]
    if latent in ("gaussian", "legacy_gaussian_mixture"):
        parts.append("kl")
    if config.minibatch_normalisation:
        parts.append("bn")
    if corrected:
        parts.append("bc")
    if config.dropout_keep_probabilities:
        parts.append("dropout_" + "_".join(str(p) for p in config.dropout_keep_probabilities))
    if config.kl_weight != 1:
        parts.append(f"klw_{config.kl_weight}")
    if config.number_of_warm_up_epochs > 0:
        parts.append(f"wu_{config.number_of_warm_up_epochs}")
    if config.model_type == "GMVAE" and config.proportion_of_free_nats_for_y_kl_divergence > 0:
        parts.append(f"fn_{config.proportion_of_free_nats_for_y_kl_divergence}")
    smoothing = getattr(config, "mixture_weight_smoothing", 0.0)
    if config.model_type == "GMVAE" and config.prior_probabilities_method == "learn" and smoothing:
        parts.append(f"ws_{smoothing}")
    if config.model_type == "GMVAE" and config.mixture_initialisation_epoch > 0:
        parts.append(f"mi_{config.mixture_initialisation_epoch}")
    revival = getattr(config, "component_revival_interval", 0)
    if config.model_type == "GMVAE" and revival > 0:
        parts.append(f"cr_{revival}")
    return "-".join(parts)
