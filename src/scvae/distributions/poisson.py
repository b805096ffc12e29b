"""Poisson distribution parameterised by the log of its rate."""

from __future__ import annotations

import torch
from torch import Size, Tensor
from torch.distributions import Distribution, constraints

from scvae.distributions._common import as_float_tensor, sample_shape_of
from scvae.distributions.kernels import poisson_log_prob


class Poisson(Distribution):
    """Poisson(rate = exp(log_rate)).

    Parameters
    ----------
    log_rate
        Log of the rate; any real value.
    validate_args
        Check arguments and values (torch's default when ``None``).
    """

    arg_constraints = {"log_rate": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, log_rate: Tensor | float, validate_args: bool | None = None) -> None:
        self.log_rate = as_float_tensor(log_rate)
        super().__init__(self.log_rate.shape, validate_args=validate_args)

    @property
    def rate(self) -> Tensor:
        """The rate ``exp(log_rate)``."""
        return torch.exp(self.log_rate)

    @property
    def mean(self) -> Tensor:
        return self.rate

    @property
    def variance(self) -> Tensor:
        return self.rate

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return poisson_log_prob(value, self.log_rate)

    def sample(self, sample_shape: Size | tuple[int, ...] = ()) -> Tensor:
        shape = sample_shape_of(self.batch_shape, sample_shape)
        with torch.no_grad():
            return torch.poisson(self.rate.expand(shape))
