"""Exponentially modified Gaussian: a Normal plus an independent Exponential."""

from __future__ import annotations

import torch
from torch import Size, Tensor
from torch.distributions import Distribution, constraints
from torch.distributions.utils import broadcast_all

from scvae.distributions._common import sample_shape_of
from scvae.distributions.kernels import emg_log_prob


class ExponentiallyModifiedGaussian(Distribution):
    """Law of ``Normal(loc, scale) + Exponential(rate)``.

    Mean ``loc + 1 / rate``; variance ``scale^2 + 1 / rate^2``.

    Parameters
    ----------
    loc
        Mean of the Normal part.
    scale
        Standard deviation of the Normal part (positive; a softplus head).
    rate
        Rate of the Exponential part (positive; a softplus head).
    validate_args
        Check arguments and values (torch's default when ``None``).
    """

    arg_constraints = {
        "loc": constraints.real,
        "scale": constraints.positive,
        "rate": constraints.positive,
    }
    support = constraints.real
    has_rsample = True

    def __init__(
        self,
        loc: Tensor | float,
        scale: Tensor | float,
        rate: Tensor | float,
        validate_args: bool | None = None,
    ) -> None:
        self.loc, self.scale, self.rate = broadcast_all(loc, scale, rate)
        super().__init__(self.loc.shape, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.loc + 1.0 / self.rate

    @property
    def variance(self) -> Tensor:
        return self.scale**2 + self.rate ** (-2)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return emg_log_prob(value, self.loc, self.scale, self.rate)

    def rsample(self, sample_shape: Size | tuple[int, ...] = ()) -> Tensor:
        shape = sample_shape_of(self.batch_shape, sample_shape)
        normal = torch.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        exponential = torch.empty_like(normal).exponential_()
        return self.loc + normal * self.scale + exponential / self.rate
