"""Log-normal distribution parameterised by the mean and variance of its log."""

from __future__ import annotations

import torch
from torch import Size, Tensor
from torch.distributions import Distribution, constraints
from torch.distributions.utils import broadcast_all

from scvae.distributions._common import sample_shape_of
from scvae.distributions.kernels import normal_log_prob


class LogNormal(Distribution):
    """LogNormal: ``log X ~ Normal(loc, sqrt(variance))``.

    The log-density at zero is ``-inf`` (raw zero counts need preprocessing),
    with finite gradients.

    Parameters
    ----------
    loc
        Mean of ``log X``.
    variance
        Variance of ``log X`` (positive; a softplus head).
    validate_args
        Check arguments and values (torch's default when ``None``).
    """

    arg_constraints = {"loc": constraints.real, "log_variance": constraints.real}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(
        self, loc: Tensor | float, variance: Tensor | float, validate_args: bool | None = None
    ) -> None:
        self.loc, variance = broadcast_all(loc, variance)
        self.log_variance = torch.log(variance)
        super().__init__(self.loc.shape, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return torch.exp(self.loc + 0.5 * torch.exp(self.log_variance))

    @property
    def variance(self) -> Tensor:
        variance = torch.exp(self.log_variance)
        return torch.expm1(variance) * torch.exp(2.0 * self.loc + variance)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        positive = value > 0
        log_value = torch.log(torch.where(positive, value, torch.ones_like(value)))
        density = normal_log_prob(log_value, self.loc, 0.5 * self.log_variance) - log_value
        return torch.where(positive, density, torch.full_like(density, -float("inf")))

    def rsample(self, sample_shape: Size | tuple[int, ...] = ()) -> Tensor:
        shape = sample_shape_of(self.batch_shape, sample_shape)
        noise = torch.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        return torch.exp(self.loc + noise * torch.exp(0.5 * self.log_variance))
