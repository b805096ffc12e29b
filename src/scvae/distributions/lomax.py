"""Lomax (Pareto type II) distribution parameterised by logs."""

from __future__ import annotations

import torch
from torch import Size, Tensor
from torch.distributions import Distribution, constraints
from torch.distributions.utils import broadcast_all

from scvae.distributions._common import sample_shape_of


class Lomax(Distribution):
    """Lomax with ``log p(x) = log a - log s - (a + 1) log(1 + x / s)``.

    The mean ``s / (a - 1)`` is infinite for ``a <= 1``; the variance
    ``s^2 a / ((a - 1)^2 (a - 2))`` is infinite for ``a <= 2``.

    Parameters
    ----------
    log_concentration
        Log of the shape ``a``.
    log_scale
        Log of the scale ``s``.
    validate_args
        Check arguments and values (torch's default when ``None``).
    """

    arg_constraints = {"log_concentration": constraints.real, "log_scale": constraints.real}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(
        self,
        log_concentration: Tensor | float,
        log_scale: Tensor | float,
        validate_args: bool | None = None,
    ) -> None:
        self.log_concentration, self.log_scale = broadcast_all(log_concentration, log_scale)
        super().__init__(self.log_concentration.shape, validate_args=validate_args)

    @property
    def concentration(self) -> Tensor:
        return torch.exp(self.log_concentration)

    @property
    def scale(self) -> Tensor:
        return torch.exp(self.log_scale)

    @property
    def mean(self) -> Tensor:
        a = self.concentration
        mean = self.scale / (a - 1.0)
        return torch.where(a > 1.0, mean, torch.full_like(mean, float("inf")))

    @property
    def variance(self) -> Tensor:
        a = self.concentration
        variance = self.scale**2 * a / ((a - 1.0) ** 2 * (a - 2.0))
        return torch.where(a > 2.0, variance, torch.full_like(variance, float("inf")))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        tail = torch.log1p(value * torch.exp(-self.log_scale))
        return self.log_concentration - self.log_scale - (self.concentration + 1.0) * tail

    def rsample(self, sample_shape: Size | tuple[int, ...] = ()) -> Tensor:
        # Inverse CDF: x = s (exp(E / a) - 1) with E ~ Exponential(1).
        shape = sample_shape_of(self.batch_shape, sample_shape)
        exponential = torch.empty(shape, dtype=self.log_scale.dtype, device=self.log_scale.device)
        exponential.exponential_()
        return self.scale * torch.expm1(exponential / self.concentration)
