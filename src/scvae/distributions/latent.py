"""Latent distributions of the VAE and GMVAE, and their KL divergences.

Diagonal Gaussians (:class:`Gaussian`, :class:`SoftplusGaussian`) have one
batch element per latent dimension, so KL terms come out per dimension; sum
over the last dimension for per-example values. Full-covariance Gaussians and
the mixtures have events of size ``L``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import (
    Categorical,
    Distribution,
    Independent,
    MixtureSameFamily,
    MultivariateNormal,
)
from torch.nn import functional

from scvae.distributions._common import MAX, TINY
from scvae.distributions.gaussian import Gaussian
from scvae.distributions.kernels import mixture_log_prob
from scvae.distributions.softplus_gaussian import SoftplusGaussian

__all__ = [
    "LOG_SCALE_RANGE",
    "GaussianMixture",
    "categorical",
    "diagonal_gaussian",
    "diagonal_gaussian_mixture",
    "full_covariance_gaussian",
    "full_covariance_gaussian_mixture",
    "kl_categorical",
    "kl_standard_normal",
    "monte_carlo_kl",
    "scale_tril_from_raw",
    "softplus_gaussian",
    "standard_normal",
    "unit_variance_gaussian",
]

LOG_SCALE_RANGE = (-3.0, 3.0)
"""Clip range of the log standard deviation of the VAE posterior."""


def diagonal_gaussian(loc: Tensor, log_scale: Tensor) -> Gaussian:
    """VAE posterior q(z|x): Normal(loc, exp(log_scale)), log-scale clipped to [-3, 3]."""
    return Gaussian(loc, functional.hardtanh(log_scale, *LOG_SCALE_RANGE))


def unit_variance_gaussian(loc: Tensor) -> Gaussian:
    """VAE posterior with unit variance: Normal(loc, 1)."""
    return Gaussian(loc, torch.zeros_like(loc))


def standard_normal(like: Tensor) -> Gaussian:
    """Prior N(0, I) with the shape, dtype and device of ``like``."""
    zeros = torch.zeros_like(like)
    return Gaussian(zeros, zeros)


def softplus_gaussian(loc: Tensor, raw_variance: Tensor) -> SoftplusGaussian:
    """Diagonal Normal with variance ``softplus(raw)`` clipped to [tiny, max] (GMVAE)."""
    return SoftplusGaussian(loc, functional.softplus(raw_variance).clamp(TINY, MAX))


def scale_tril_from_raw(raw: Tensor) -> Tensor:
    """Lower-triangular scale from ``L (L + 1) / 2`` unconstrained values.

    Values fill the lower triangle row by row (``torch.tril_indices`` order).
    The diagonal goes through softplus (clipped to [tiny, max]) so that it is
    positive; the off-diagonal entries stay free, so any covariance can be
    reached. (scVAE 2.1.4 put every entry through softplus, which allowed only
    positive correlations between latent dimensions.)
    """
    count = raw.shape[-1]
    size = int(round((math.sqrt(8 * count + 1) - 1) / 2))
    if size * (size + 1) // 2 != count:
        raise ValueError(f"{count} values do not fill a lower triangle.")
    rows, columns = torch.tril_indices(size, size, device=raw.device)
    filled = raw.new_zeros(raw.shape[:-1] + (size, size))
    filled[..., rows, columns] = raw
    diagonal = functional.softplus(filled.diagonal(dim1=-2, dim2=-1)).clamp(TINY, MAX)
    return torch.tril(filled, diagonal=-1) + torch.diag_embed(diagonal)


def full_covariance_gaussian(loc: Tensor, raw_scale_tril: Tensor) -> MultivariateNormal:
    """Multivariate Normal with mean ``loc`` (..., L) and scale from :func:`scale_tril_from_raw`."""
    return MultivariateNormal(loc, scale_tril=scale_tril_from_raw(raw_scale_tril))


class GaussianMixture(MixtureSameFamily):
    """Mixture of Gaussians with vector events; log-density by a stable log-sum-exp.

    Parameters
    ----------
    logits
        Mixture logits, shape ``(..., K)``.
    components
        Components with batch shape ``(..., K)`` and event shape ``(L,)``.
    validate_args
        Check arguments and values (torch's default when ``None``).
    """

    def __init__(
        self, logits: Tensor, components: Distribution, validate_args: bool | None = None
    ) -> None:
        super().__init__(Categorical(logits=logits), components, validate_args=validate_args)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        component_log_probs = self.component_distribution.log_prob(self._pad(value))
        return mixture_log_prob(self.mixture_distribution.logits, component_log_probs)


def diagonal_gaussian_mixture(logits: Tensor, loc: Tensor, raw_variance: Tensor) -> GaussianMixture:
    """GMVAE prior with diagonal softplus-Gaussian components; ``loc`` is (..., K, L)."""
    return GaussianMixture(logits, Independent(softplus_gaussian(loc, raw_variance), 1))


def full_covariance_gaussian_mixture(
    logits: Tensor, loc: Tensor, raw_scale_tril: Tensor
) -> GaussianMixture:
    """GMVAE prior with full-covariance components; ``raw_scale_tril`` is (..., K, L(L+1)/2)."""
    return GaussianMixture(logits, full_covariance_gaussian(loc, raw_scale_tril))


def categorical(logits: Tensor) -> Categorical:
    """Categorical over the last dimension of ``logits`` (q(y|x) or p(y))."""
    return Categorical(logits=logits)


def kl_standard_normal(posterior: Gaussian) -> Tensor:
    """Analytical KL(q || N(0, 1)) per latent dimension:
    ``(sigma^2 + mu^2 - 1) / 2 - log sigma``."""
    log_scale = posterior.log_scale
    return 0.5 * (torch.exp(2.0 * log_scale) + posterior.loc**2 - 1.0) - log_scale


def kl_categorical(q_logits: Tensor, p_logits: Tensor | None = None) -> Tensor:
    """Analytical KL between categoricals over the last dimension.

    With ``p_logits=None`` the prior is uniform and the result is
    ``log K - H[q]``.
    """
    log_q = torch.log_softmax(q_logits, dim=-1)
    if p_logits is None:
        log_p = torch.full_like(log_q, -math.log(q_logits.shape[-1]))
    else:
        log_p = torch.log_softmax(p_logits, dim=-1)
    terms = torch.exp(log_q) * (log_q - log_p)
    return torch.where(log_q == -math.inf, torch.zeros_like(terms), terms).sum(-1)


def monte_carlo_kl(q: Distribution, p: Distribution, z: Tensor) -> Tensor:
    """Single-sample KL estimate ``log q(z) - log p(z)`` at samples ``z`` from ``q``."""
    return q.log_prob(z) - p.log_prob(z)
