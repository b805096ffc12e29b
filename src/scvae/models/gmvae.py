"""The GMVAE: a categorical y and a Gaussian-mixture prior on z (reference §3.3, §3.7).

Generative model p(y) p(z|y) p(x|z); inference model q(y|x) q(z|x,y). The
class y is marginalised exactly: every component k gets its own z samples and
the component bounds are weighted by q(y=k|x). All K components and all R x M
samples go through the networks in one batched pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Distribution
from torch.nn import functional

from scvae.config import ModelConfig
from scvae.distributions._common import TINY, summed_log_prob
from scvae.distributions.latent import full_covariance_gaussian, kl_categorical, softplus_gaussian
from scvae.models.base import (
    Decoder,
    Encoder,
    LossOutput,
    ModelConfigError,
    ModelInputs,
    ParameterHeads,
    keep_probabilities,
    log_density,
    parameter_like,
    plus_terms,
    sample_bounds,
    weighted_moments,
)
from scvae.models.naming import GMVAE_LATENT_DISTRIBUTIONS, latent_distribution

__all__ = ["CategoricalPrior", "GMVAEModule"]

PRIOR_METHODS = ("uniform", "learn", "infer", "custom", "kmeans")


class CategoricalPrior(nn.Module):
    """p(y): uniform, learned logits (initially 0), or fixed class frequencies.

    Parameters
    ----------
    number_of_classes
        Number of components ``K``.
    method
        ``uniform``, ``learn``, or ``infer``/``custom`` (needs ``probabilities``).
    probabilities
        Class frequencies for ``infer``/``custom``; ``K`` non-negative values
        (normalised here; zeros are floored at float32 ``tiny``).
    """

    def __init__(
        self,
        number_of_classes: int,
        method: str = "uniform",
        probabilities: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        method = method.strip().lower()
        if method not in PRIOR_METHODS:
            raise ModelConfigError(
                f"Unknown prior probabilities method {method!r}; "
                "choose one of: uniform, infer, learn."
            )
        self.method = "custom" if method == "infer" else method
        self.number_of_classes = number_of_classes
        self.learned_logits = (
            nn.Parameter(torch.zeros(number_of_classes)) if self.method == "learn" else None
        )
        fixed = None
        if self.method == "custom":
            fixed = torch.log(_frequencies(probabilities, number_of_classes))
        elif self.method == "kmeans":  # uniform until the components are placed
            fixed = torch.zeros(number_of_classes)
        self.register_buffer("fixed_logits", fixed)

    def logits(self) -> Tensor | None:
        """Logits of p(y), or ``None`` for the uniform prior."""
        return self.learned_logits if self.learned_logits is not None else self.fixed_logits

    def entropy(self) -> Tensor:
        """H[p(y)] as a constant (no gradient)."""
        logits = self.logits()
        if logits is None:
            return torch.tensor(math.log(self.number_of_classes))
        log_p = torch.log_softmax(logits.detach(), dim=-1)
        return -(log_p.exp() * log_p).sum()

    def sample(self, n: int, like: Tensor) -> Tensor:
        """``n`` class indices drawn from p(y), on the device of ``like``."""
        logits = self.logits()
        if logits is None:
            logits = like.new_zeros(self.number_of_classes)
        return torch.multinomial(torch.softmax(logits.detach(), -1), n, replacement=True)


def _frequencies(probabilities: Sequence[float] | None, number_of_classes: int) -> Tensor:
    if probabilities is None:
        raise ModelConfigError(
            "The 'infer' prior probabilities method needs the class frequencies of the data."
        )
    values = torch.as_tensor(list(probabilities), dtype=torch.float32)
    if values.numel() != number_of_classes:
        raise ModelConfigError(
            f"{values.numel()} prior probabilities were given for {number_of_classes} classes; "
            "the counts must be equal."
        )
    if not bool(torch.isfinite(values).all()) or bool((values < 0).any()) or values.sum() <= 0:
        raise ModelConfigError("Prior probabilities must be non-negative with a positive sum.")
    return (values / values.sum()).clamp_min(TINY)


class GMVAEModule(nn.Module):
    """Gaussian-mixture VAE with y marginalised exactly.

    Parameters
    ----------
    config
        Model options; ``latent_distribution`` is ``gaussian_mixture`` (diagonal,
        softplus variances), ``legacy_gaussian_mixture`` (the same) or
        ``full_covariance_gaussian_mixture``. The LFM architectures are ignored.
    feature_size
        Number of features ``F``.
    number_of_classes
        Number of mixture components ``K``.
    number_of_batches
        Number of batches for batch correction (0: none).
    prior_probabilities
        Class frequencies for the ``infer`` prior probabilities method.
    """

    def __init__(
        self,
        config: ModelConfig,
        feature_size: int,
        number_of_classes: int,
        number_of_batches: int = 0,
        prior_probabilities: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        latent = latent_distribution(config)
        if latent not in GMVAE_LATENT_DISTRIBUTIONS:
            raise ModelConfigError(
                f"The GMVAE cannot use the latent distribution {latent!r}; "
                f"choose one of: {', '.join(GMVAE_LATENT_DISTRIBUTIONS)}."
            )
        if number_of_classes < 1:
            raise ModelConfigError(f"The GMVAE needs at least one class; got {number_of_classes}.")
        size = config.latent_size
        self.latent_size = size
        self.feature_size = feature_size
        self.full_covariance = latent == "full_covariance_gaussian_mixture"
        self.free_nats_proportion = float(config.proportion_of_free_nats_for_y_kl_divergence)
        self.weight_smoothing = float(getattr(config, "mixture_weight_smoothing", 0.0))
        if self.weight_smoothing < 0:
            raise ModelConfigError(
                f"--mixture-weight-smoothing must be 0 or more; got {self.weight_smoothing:g}."
            )
        self.mixture_initialisation_epoch = int(getattr(config, "mixture_initialisation_epoch", 0))
        if config.prior_probabilities_method == "kmeans" and self.mixture_initialisation_epoch < 1:
            raise ModelConfigError(
                "The kmeans prior probabilities come from placing the components: "
                "give --mixture-initialisation-epoch 1 or more."
            )
        self.component_revival_interval = int(getattr(config, "component_revival_interval", 0))
        if self.component_revival_interval < 0:
            raise ModelConfigError(
                "--component-revival-interval must be 0 or more; "
                f"got {self.component_revival_interval}."
            )
        heads = {"loc": size, "scale": size * (size + 1) // 2 if self.full_covariance else size}
        keep_hidden, keep_x, _, keep_y = keep_probabilities(config)
        shared = {
            "batch_norm": config.minibatch_normalisation,
            "input_keep": keep_x,
            "hidden_keep": keep_hidden,
        }
        self.y_encoder = Encoder(
            feature_size, config.hidden_sizes, {"logits": number_of_classes}, **shared
        )
        self.z_encoder = Encoder(
            feature_size, config.hidden_sizes, heads, condition_size=number_of_classes, **shared
        )
        self.z_prior = ParameterHeads(number_of_classes, heads, keep_y)
        self.y_prior = CategoricalPrior(
            number_of_classes, config.prior_probabilities_method, prior_probabilities
        )
        self.decoder = Decoder(config, size, feature_size, number_of_batches)
        self.register_buffer("one_hot", torch.eye(number_of_classes), persistent=False)

    @property
    def number_of_latent_clusters(self) -> int:
        """Number of mixture components ``K``."""
        return self.y_prior.number_of_classes

    def _latent(self, parameters: dict[str, Tensor]) -> Distribution:
        if self.full_covariance:
            return full_covariance_gaussian(parameters["loc"], parameters["scale"])
        return softplus_gaussian(parameters["loc"], parameters["scale"])

    def posterior_y_logits(self, x: Tensor) -> Tensor:
        """Logits of q(y|x), shape ``(B, K)``."""
        return self.y_encoder(x)["logits"]

    def posterior_z(self, x: Tensor) -> Distribution:
        """q(z|x, y=k) for every k: batch shape ``(K, B)`` (plus ``L`` if diagonal)."""
        return self._latent(self.z_encoder(x, self.one_hot))

    def prior_z(self) -> Distribution:
        """p(z|y=k): batch shape ``(K, 1)`` (plus ``L`` if diagonal), broadcasting over cells."""
        parameters = self.z_prior(self.one_hot)
        return self._latent({name: value.unsqueeze(1) for name, value in parameters.items()})

    def forward(
        self, inputs: ModelInputs, *, kl_scale: float = 1.0, samples: tuple[int, int] = (1, 1)
    ) -> LossOutput:
        """Loss and per-cell bound terms with ``samples = (R, M)`` z samples per component.

        The bound is ``sum_k q(y=k|x) bound_k - KL_y`` with ``bound_k`` the
        importance-weighted bound of component k (the ELBO for R = 1). The
        training objective scales KL_z and the free-nats-floored batch-mean
        KL_y by ``kl_scale``.
        """
        y_logits = self.posterior_y_logits(inputs.x)
        weights = torch.softmax(y_logits, dim=-1).transpose(0, 1)
        z_parameters = self.z_encoder(inputs.x, self.one_hot)
        q_z = self._latent(z_parameters)
        z = q_z.rsample(tuple(samples))
        log_likelihood = summed_log_prob(
            self.decoder(z, inputs), inputs.target, inputs.target_entries
        )
        kl_z = log_density(q_z, z) - log_density(self.prior_z(), z)
        bounds, weighted = sample_bounds(log_likelihood, kl_z, kl_scale)
        kl_y = kl_categorical(y_logits, self.y_prior.logits())
        objective = (weights * weighted).sum(0).mean() - kl_scale * self._y_penalty(kl_y)
        objective = objective + self._weight_prior()
        library = self.decoder.library_terms(inputs)
        bound = (weights * bounds).sum(0) - kl_y
        return LossOutput(
            loss=-objective,
            lower_bound=plus_terms(bound, library),
            reconstruction_error=(weights * log_likelihood.mean((0, 1))).sum(0),
            kl={
                "kl_divergence_z": (weights * kl_z.mean((0, 1))).sum(0),
                "kl_divergence_y": kl_y,
                **library,
            },
            y_probabilities=weights.transpose(0, 1),
            # only evaluation reads it; a training step skips the product
            latent_mean=None
            if self.training
            else _mixed_means(weights.transpose(0, 1), z_parameters["loc"]),
        )

    def _weight_prior(self) -> Tensor | float:
        """``lambda / K * sum_k log p(y=k)`` for learned weights, else 0.

        Per cell, this is the log density of a symmetric Dirichlet prior on the weights
        with ``lambda N / K`` pseudo-cells a component, divided by the N training cells (up
        to a constant). With the bound's pull towards the mean q(y|x), the weights settle
        at ``(share_k + lambda / K) / (1 + lambda)``. It is a prior on a parameter, not a
        term of log p(x), so the reported bound does not include it.
        """
        logits = self.y_prior.learned_logits
        if logits is None or self.weight_smoothing <= 0:
            return 0.0
        return self.weight_smoothing * torch.log_softmax(logits, dim=-1).mean()

    def _y_penalty(self, kl_y: Tensor) -> Tensor:
        """Batch-mean KL_y, floored at the free-nats threshold when one is set."""
        mean = kl_y.mean()
        if self.free_nats_proportion <= 0:
            return mean
        threshold = self.free_nats_proportion * self.y_prior.entropy().to(mean)
        return torch.maximum(mean, threshold)

    def latent_mean(self, inputs: ModelInputs) -> tuple[Tensor, Tensor]:
        """``(z, y)``: ``sum_k q(y=k|x) E[z|x,k]`` ``(B, L)`` and q(y|x) ``(B, K)``."""
        probabilities = torch.softmax(self.posterior_y_logits(inputs.x), dim=-1)
        means = self.z_encoder(inputs.x, self.one_hot)["loc"]
        return _mixed_means(probabilities, means), probabilities

    def reconstruction_mean(self, inputs: ModelInputs, samples: tuple[int, int] = (1, 1)) -> Tensor:
        """E[x] weighted by q(y|x) over components and averaged over samples, ``(B, F)``."""
        return self.reconstruction_moments(inputs, samples)[0]

    def reconstruction_moments(
        self, inputs: ModelInputs, samples: tuple[int, int] = (1, 1)
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(mean, total variance, explained variance)`` of x, each ``(B, F)``."""
        probabilities = torch.softmax(self.posterior_y_logits(inputs.x), dim=-1)
        z = self.posterior_z(inputs.x).rsample(tuple(samples))
        likelihood = self.decoder(z, inputs)
        weights = probabilities.transpose(0, 1).unsqueeze(-1) / (samples[0] * samples[1])
        return weighted_moments(likelihood.mean, likelihood.variance, weights)

    @torch.no_grad()
    def place_components(
        self,
        means: Tensor,
        variances: Tensor,
        weights: Tensor | None = None,
        components: Tensor | None = None,
    ) -> None:
        """Set p(z|y=k) to mean ``means[k]`` and diagonal ``variances[k]`` (``(K, L)`` each).

        The prior's parameters are a linear map of the one-hot class, so each component's
        column of the weight is set to its value and the bias to zero. A full-covariance
        mixture gets a diagonal covariance. With the ``kmeans`` prior probabilities
        method, p(y) is set to ``weights`` (the clusters' shares) and kept from then on;
        with ``learn``, the learned p(y) starts again from the shares (what it learned
        before reflects the components' old places, where few of them held cells, and
        would charge the cells given to the others log(1 / p(y)) nats of KL_y each).

        With ``components`` (indices), only those components are set, to the rows of
        ``means`` and ``variances`` in that order; the bias and p(y) are kept.
        """
        block = self.z_prior.block
        columns = torch.cat([means.to(block.linear.weight), self._scale_values(variances)], dim=1).T
        if components is not None:
            if block.linear.bias is not None:
                columns = columns - block.linear.bias.unsqueeze(1)
            block.linear.weight[:, components] = columns
            return
        logits = self.y_prior.logits()
        if weights is not None and self.y_prior.method in ("kmeans", "learn"):
            shares = weights.to(logits).clamp_min(TINY)
            logits.copy_(torch.log(shares / shares.sum()))
        block.linear.weight.copy_(columns)
        if block.linear.bias is not None:
            block.linear.bias.zero_()

    @torch.no_grad()
    def split_component(self, source: int, component: int, share: float) -> None:
        """Make ``component`` a copy of ``source`` in the encoders and give it ``share`` of
        ``source``'s weight in p(y).

        q(z|x, y = component) becomes q(z|x, y = source) (the encoder's y-specific
        weights) and q(y|x) gives both the same probability, so that fitting q(y|x) to a
        split of ``source``'s cells separates them from an even start. With learned or
        k-means weights the source keeps ``1 - share`` of its weight; the component's
        former weight (small: it held no cells) is shared out by renormalising. The
        components' places in p(z|y) are set by :meth:`place_components`.
        """
        first = _first_block(self.z_encoder)
        condition = first.linear.weight[:, self.z_encoder.in_size :]
        condition[:, component] = condition[:, source]
        head = self.y_encoder.heads.block.linear
        head.weight[component] = head.weight[source]
        if head.bias is not None:
            head.bias[component] = head.bias[source]
        logits = self.y_prior.logits()
        if self.y_prior.method in ("kmeans", "learn") and logits is not None:
            log_p = torch.log_softmax(logits, -1)
            share = min(max(float(share), 1e-6), 1 - 1e-6)
            log_p[component] = log_p[source] + math.log(share)
            log_p[source] = log_p[source] + math.log1p(-share)
            logits.copy_(torch.log_softmax(log_p, -1))

    def _scale_values(self, variances: Tensor) -> Tensor:
        """The prior head's scale outputs that give diagonal ``variances`` ``(K, L)``."""
        variances = variances.to(self.z_prior.block.linear.weight).clamp_min(TINY)
        if not self.full_covariance:
            return _inverse_softplus(variances)
        size = self.latent_size
        scale = variances.new_zeros(variances.shape[0], size * (size + 1) // 2)
        rows, columns = torch.tril_indices(size, size, device=variances.device)
        diagonal = (rows == columns).nonzero().squeeze(1)
        scale[:, diagonal] = _inverse_softplus(variances.sqrt())
        return scale

    @torch.no_grad()
    def prior_centroids(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(weights (K,), means (K, L), covariances (K, L, L))`` of p(y) and p(z|y)."""
        prior = self.prior_z()
        means = prior.mean.squeeze(1)
        if self.full_covariance:
            covariances = prior.covariance_matrix.squeeze(1)
        else:
            covariances = torch.diag_embed(prior.variance.squeeze(1))
        logits = self.y_prior.logits()
        if logits is None:
            logits = means.new_zeros(self.number_of_latent_clusters)
        return torch.softmax(logits.detach(), -1), means, covariances

    def sample_prior(self, n: int) -> tuple[Tensor, Tensor, Tensor]:
        """``n`` draws y ~ p(y), z ~ p(z|y) and E[x|z]: ``(x_mean, z, y one-hot)``.

        Raises
        ------
        NotImplementedError
            With count sums, batch correction or ``constrained_poisson``.
        """
        if self.decoder.needs_inputs:
            raise NotImplementedError(
                "Sampling is not supported with count sums, batch correction "
                "or the constrained Poisson likelihood."
            )
        classes = self.y_prior.sample(n, parameter_like(self))
        parameters = self.z_prior(self.one_hot)
        z = self._latent({name: value[classes] for name, value in parameters.items()}).rsample()
        one_hot = functional.one_hot(classes, self.number_of_latent_clusters).to(z.dtype)
        return self.decoder(z).mean, z, one_hot


def _first_block(encoder: nn.Module) -> nn.Module:
    """The dense block that reads an encoder's input (and its conditions)."""
    blocks = list(encoder.mlp.blocks)
    return blocks[0] if blocks else encoder.heads.block


def _inverse_softplus(values: Tensor) -> Tensor:
    """``x`` with ``softplus(x) = values`` (values > 0)."""
    return values + torch.log(-torch.expm1(-values))


def _mixed_means(probabilities: Tensor, means: Tensor) -> Tensor:
    """``sum_k q(y=k|x) E[z|x,k]``: ``(B, L)`` from ``(B, K)`` and ``(K, B, L)``."""
    return torch.einsum("bk,kbl->bl", probabilities, means)
