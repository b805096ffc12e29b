"""Likelihoods and latent distributions, each a ``torch.distributions.Distribution``.

One family per module; :mod:`scvae.distributions.registry` maps likelihood
names to parameter heads and constructors; :mod:`scvae.distributions.kernels`
holds the numerically delicate log-density functions.
"""

from __future__ import annotations

from scvae.distributions import kernels
from scvae.distributions._common import MAX, TINY
from scvae.distributions.bernoulli import Bernoulli
from scvae.distributions.constrained_poisson import ConstrainedPoisson
from scvae.distributions.exponentially_modified_gaussian import ExponentiallyModifiedGaussian
from scvae.distributions.gamma import Gamma
from scvae.distributions.gaussian import Gaussian
from scvae.distributions.latent import (
    GaussianMixture,
    categorical,
    diagonal_gaussian,
    diagonal_gaussian_mixture,
    full_covariance_gaussian,
    full_covariance_gaussian_mixture,
    kl_categorical,
    kl_standard_normal,
    monte_carlo_kl,
    scale_tril_from_raw,
    softplus_gaussian,
    standard_normal,
    unit_variance_gaussian,
)
from scvae.distributions.log_normal import LogNormal
from scvae.distributions.lomax import Lomax
from scvae.distributions.negative_binomial import NegativeBinomial
from scvae.distributions.piecewise_categorical import PiecewiseCategorical
from scvae.distributions.poisson import Poisson
from scvae.distributions.registry import (
    COUNT_LIKELIHOODS,
    LIKELIHOODS,
    PIECEWISE_HEAD,
    HeadSpec,
    LikelihoodError,
    activate,
    build,
    canonical_name,
    check_combination,
    construct,
    head_specs,
)
from scvae.distributions.softplus_gaussian import SoftplusGaussian
from scvae.distributions.zero_inflated import ZeroInflated

__all__ = [
    "COUNT_LIKELIHOODS",
    "LIKELIHOODS",
    "MAX",
    "PIECEWISE_HEAD",
    "TINY",
    "Bernoulli",
    "ConstrainedPoisson",
    "ExponentiallyModifiedGaussian",
    "Gamma",
    "Gaussian",
    "GaussianMixture",
    "HeadSpec",
    "LikelihoodError",
    "LogNormal",
    "Lomax",
    "NegativeBinomial",
    "PiecewiseCategorical",
    "Poisson",
    "SoftplusGaussian",
    "ZeroInflated",
    "activate",
    "build",
    "canonical_name",
    "categorical",
    "check_combination",
    "construct",
    "diagonal_gaussian",
    "diagonal_gaussian_mixture",
    "full_covariance_gaussian",
    "full_covariance_gaussian_mixture",
    "head_specs",
    "kernels",
    "kl_categorical",
    "kl_standard_normal",
    "monte_carlo_kl",
    "scale_tril_from_raw",
    "softplus_gaussian",
    "standard_normal",
    "unit_variance_gaussian",
]
