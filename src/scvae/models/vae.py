"""The VAE: a Gaussian posterior q(z|x) and a standard Normal prior (reference §3.2, §3.7)."""

from __future__ import annotations

from torch import Tensor, nn

from scvae.config import ModelConfig
from scvae.distributions._common import summed_log_prob
from scvae.distributions.gaussian import Gaussian
from scvae.distributions.latent import (
    diagonal_gaussian,
    kl_standard_normal,
    standard_normal,
    unit_variance_gaussian,
)
from scvae.models.base import (
    Decoder,
    Encoder,
    LossOutput,
    ModelConfigError,
    ModelInputs,
    keep_probabilities,
    parameter_like,
    plus_terms,
    sample_bounds,
    weighted_moments,
)
from scvae.models.naming import VAE_LATENT_DISTRIBUTIONS, latent_distribution

__all__ = ["VAEModule"]


class VAEModule(nn.Module):
    """Variational auto-encoder with an importance-weighted bound.

    Parameters
    ----------
    config
        Model options; ``latent_distribution`` is ``gaussian`` (learned variance,
        analytical KL) or ``unit_variance_gaussian``.
    feature_size
        Number of features ``F``.
    number_of_batches
        Number of batches for batch correction (0: none).
    """

    def __init__(self, config: ModelConfig, feature_size: int, number_of_batches: int = 0) -> None:
        super().__init__()
        latent = latent_distribution(config)
        if latent not in VAE_LATENT_DISTRIBUTIONS:
            raise ModelConfigError(
                f"The VAE cannot use the latent distribution {latent!r}; "
                f"choose one of: {', '.join(VAE_LATENT_DISTRIBUTIONS)}."
            )
        self.latent_size = config.latent_size
        self.feature_size = feature_size
        self.analytical_kl = latent == "gaussian"
        keep_hidden, keep_x, _, _ = keep_probabilities(config)
        heads = {"loc": config.latent_size}
        if self.analytical_kl:
            heads["log_scale"] = config.latent_size
        linear_inference = config.inference_architecture.upper() == "LFM"
        self.encoder = Encoder(
            feature_size,
            () if linear_inference else config.hidden_sizes,
            heads,
            batch_norm=config.minibatch_normalisation,
            input_keep=keep_x,
            hidden_keep=keep_hidden,
        )
        self.decoder = Decoder(
            config,
            config.latent_size,
            feature_size,
            number_of_batches,
            linear=config.generative_architecture.upper() == "LFM",
        )

    def posterior(self, x: Tensor) -> Gaussian:
        """q(z|x), a diagonal Normal with batch shape ``(B, L)``."""
        parameters = self.encoder(x)
        if self.analytical_kl:
            return diagonal_gaussian(parameters["loc"], parameters["log_scale"])
        return unit_variance_gaussian(parameters["loc"])

    def forward(
        self, inputs: ModelInputs, *, kl_scale: float = 1.0, samples: tuple[int, int] = (1, 1)
    ) -> LossOutput:
        """Loss and per-cell bound terms with ``samples = (R, M)`` samples of z per cell.

        With R = 1 and the ``gaussian`` latent distribution the bound is the ELBO
        with the analytical KL; otherwise it is the importance-weighted bound
        ``mean_M log-mean-exp_R (log p(x|z) + log p(z) - log q(z|x))``. The
        training objective multiplies the KL (or ``log q - log p``) by ``kl_scale``.
        """
        q = self.posterior(inputs.x)
        importance, monte_carlo = samples
        z = q.rsample((importance, monte_carlo))
        log_likelihood = summed_log_prob(
            self.decoder(z, inputs), inputs.target, inputs.target_entries
        )
        if self.analytical_kl:
            kl_per_dimension = kl_standard_normal(q)
            sample_kl = kl_per_dimension.sum(-1)
            if importance > 1:
                sample_kl = _log_ratios(q, z).sum(-1)
        else:
            log_ratios = _log_ratios(q, z)
            kl_per_dimension = log_ratios.mean((0, 1))
            sample_kl = log_ratios.sum(-1)
        kl = kl_per_dimension.sum(-1)
        bound, weighted = sample_bounds(log_likelihood, sample_kl, kl_scale)
        library = self.decoder.library_terms(inputs)
        return LossOutput(
            loss=-weighted.mean(),
            lower_bound=plus_terms(bound, library),
            reconstruction_error=log_likelihood.mean((0, 1)),
            kl={"kl_divergence": kl, **library},
            kl_neurons=kl_per_dimension.mean(0),
            latent_mean=q.loc,
        )

    def latent_mean(self, inputs: ModelInputs) -> Tensor:
        """Posterior means E[z|x], shape ``(B, L)``."""
        return self.posterior(inputs.x).loc

    def reconstruction_mean(self, inputs: ModelInputs, samples: tuple[int, int] = (1, 1)) -> Tensor:
        """E[x] averaged over ``R * M`` posterior samples, shape ``(B, F)``."""
        return self.reconstruction_moments(inputs, samples)[0]

    def reconstruction_moments(
        self, inputs: ModelInputs, samples: tuple[int, int] = (1, 1)
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(mean, total variance, explained variance)`` of x over posterior samples.

        The total variance is ``E_z Var[x|z] + Var_z E[x|z]``; the explained
        variance is ``Var_z E[x|z]``. Each has shape ``(B, F)``.
        """
        z = self.posterior(inputs.x).rsample(tuple(samples))
        likelihood = self.decoder(z, inputs)
        weight = 1.0 / (samples[0] * samples[1])
        return weighted_moments(likelihood.mean, likelihood.variance, z.new_tensor(weight))

    def sample_prior(self, n: int) -> tuple[Tensor, Tensor]:
        """``n`` draws z ~ N(0, I) and their E[x|z]: ``(x_mean (n, F), z (n, L))``.

        Raises
        ------
        NotImplementedError
            With count sums, batch correction or ``constrained_poisson``, whose
            decoders need per-example inputs.
        """
        if self.decoder.needs_inputs:
            raise NotImplementedError(
                "Sampling is not supported with count sums, batch correction "
                "or the constrained Poisson likelihood."
            )
        z = parameter_like(self).new_empty(n, self.latent_size).normal_()
        return self.decoder(z).mean, z


def _log_ratios(q: Gaussian, z: Tensor) -> Tensor:
    """``log q(z|x) - log p(z)`` per latent dimension at the samples ``z``."""
    return q.log_prob(z) - standard_normal(z).log_prob(z)
