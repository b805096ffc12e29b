"""Normal distribution parameterised by its mean and the log of its scale."""

from __future__ import annotations

import math

import torch
from torch import Size, Tensor
from torch.distributions import Distribution, constraints
from torch.distributions.kl import register_kl
from torch.distributions.utils import broadcast_all

from scvae.distributions._common import sample_shape_of
from scvae.distributions.kernels import normal_log_prob

_HALF_LOG_2PI_E = 0.5 * math.log(2.0 * math.pi * math.e)


class Gaussian(Distribution):
    """Normal(loc, exp(log_scale)) with independent elements.

    Used for the ``gaussian`` likelihood and for the diagonal latent
    distributions. The log-density standardises before squaring.

    Parameters
    ----------
    loc
        Mean.
    log_scale
        Log of the standard deviation.
    validate_args
        Check arguments and values (torch's default when ``None``).
    """

    arg_constraints = {"loc": constraints.real, "log_scale": constraints.real}
    support = constraints.real
    has_rsample = True

    def __init__(
        self, loc: Tensor | float, log_scale: Tensor | float, validate_args: bool | None = None
    ) -> None:
        self.loc, self.log_scale = broadcast_all(loc, log_scale)
        super().__init__(self.loc.shape, validate_args=validate_args)

    @property
    def scale(self) -> Tensor:
        """Standard deviation ``exp(log_scale)``."""
        return torch.exp(self.log_scale)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return torch.exp(2.0 * self.log_scale)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return normal_log_prob(value, self.loc, self.log_scale)

    def entropy(self) -> Tensor:
        return self.log_scale + _HALF_LOG_2PI_E

    def rsample(self, sample_shape: Size | tuple[int, ...] = ()) -> Tensor:
        shape = sample_shape_of(self.batch_shape, sample_shape)
        noise = torch.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + noise * self.scale


@register_kl(Gaussian, Gaussian)
def _kl_gaussian_gaussian(q: Gaussian, p: Gaussian) -> Tensor:
    """Analytical KL(q || p) between diagonal Gaussians, per element."""
    ratio = torch.exp(2.0 * (q.log_scale - p.log_scale))
    squared = ((q.loc - p.loc) * torch.exp(-p.log_scale)) ** 2
    return 0.5 * (ratio + squared - 1.0) - (q.log_scale - p.log_scale)
