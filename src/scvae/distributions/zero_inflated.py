"""Zero-inflation wrapper around any discrete distribution."""

from __future__ import annotations

import torch
from torch import Size, Tensor
from torch.distributions import Distribution, constraints

from scvae.distributions._common import as_float_tensor, expand_to_base
from scvae.distributions.kernels import zero_inflated_log_prob


class ZeroInflated(Distribution):
    """Mixture of a point mass at zero (probability ``pi``) and a discrete base.

    ``log p(0) = log(pi + (1 - pi) f(0))`` and ``log p(x) = log(1 - pi) + log f(x)``
    for ``x > 0``, computed in log space. The mean is ``(1 - pi) mu_f`` and the
    variance ``(1 - pi)(sigma_f^2 + mu_f^2) - mean^2``.

    Parameters
    ----------
    base
        A distribution with discrete support and scalar events.
    pi_logits
        Logits of the zero-inflation probability ``pi``, broadcastable to the
        base's batch shape (which is the wrapper's batch shape).
    validate_args
        Check arguments and values (torch's default when ``None``).

    Raises
    ------
    ValueError
        If the base is not discrete or has non-scalar events, or if ``pi_logits``
        does not broadcast to the base's batch shape.
    """

    arg_constraints = {"pi_logits": constraints.real}

    def __init__(
        self, base: Distribution, pi_logits: Tensor | float, validate_args: bool | None = None
    ) -> None:
        if not base.support.is_discrete or base.event_shape != Size():
            raise ValueError(
                "ZeroInflated needs a base distribution with discrete, scalar values; "
                f"got {type(base).__name__}."
            )
        self.base = base
        self.pi_logits = expand_to_base(as_float_tensor(pi_logits), base.batch_shape)
        super().__init__(base.batch_shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self) -> constraints.Constraint:
        return self.base.support

    @property
    def pi(self) -> Tensor:
        """The zero-inflation probability ``sigmoid(pi_logits)``."""
        return torch.sigmoid(self.pi_logits)

    @property
    def mean(self) -> Tensor:
        return torch.sigmoid(-self.pi_logits) * self.base.mean

    @property
    def variance(self) -> Tensor:
        # (1 - pi)(var_f + mu_f^2) - mean^2, rearranged to avoid cancellation.
        keep = torch.sigmoid(-self.pi_logits)
        base_mean = self.base.mean
        return keep * (self.base.variance + self.pi * base_mean**2)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        zero = torch.zeros((), dtype=value.dtype, device=value.device)
        return zero_inflated_log_prob(
            value, self.pi_logits, self.base.log_prob(value), self.base.log_prob(zero)
        )

    def sample(self, sample_shape: Size | tuple[int, ...] = ()) -> Tensor:
        with torch.no_grad():
            values = self.base.sample(sample_shape)
            shape = values.shape
            inflated = torch.bernoulli(self.pi.expand(shape)).bool()
            return torch.where(inflated, torch.zeros_like(values), values)
