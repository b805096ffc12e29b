"""Piecewise-categorical (k_max) wrapper around a base distribution."""

from __future__ import annotations

import torch
from torch import Size, Tensor
from torch.distributions import Bernoulli as _TorchBernoulli
from torch.distributions import Categorical, Distribution, constraints

from scvae.distributions._common import expand_to_base
from scvae.distributions.constrained_poisson import ConstrainedPoisson
from scvae.distributions.zero_inflated import ZeroInflated

_REFUSED_BASES = (_TorchBernoulli, ZeroInflated, ConstrainedPoisson)


def check_piecewise_base(base: Distribution) -> None:
    """Raise ``ValueError`` if ``base`` cannot be wrapped by :class:`PiecewiseCategorical`."""
    if isinstance(base, _REFUSED_BASES):
        raise ValueError(
            "The piecewise-categorical likelihood (k_max) cannot wrap "
            f"{type(base).__name__}: it is refused for bernoulli, zero-inflated and "
            "constrained_poisson likelihoods."
        )
    if base.event_shape != Size():
        raise ValueError("The piecewise-categorical likelihood needs scalar base events.")


class PiecewiseCategorical(Distribution):
    """Counts ``0 .. K-1`` as categories, and ``K + f`` for counts ``>= K``.

    With ``pi = softmax(logits)`` over ``K + 1`` classes: ``log p(x) = log pi_x``
    for ``x < K`` and ``log pi_K + log f(x - K)`` for ``x >= K``. The base ``f``
    is shifted by ``K`` but neither truncated nor renormalised (as in scVAE).
    Non-integer values below ``K`` fall in the class of their integer part.

    Parameters
    ----------
    base
        Base distribution ``f`` with scalar events (not Bernoulli, zero-inflated
        or constrained Poisson).
    logits
        Class logits, shape ``(..., K + 1)`` with ``K >= 1``; ``...`` must
        broadcast to the base's batch shape (the wrapper's batch shape).
    validate_args
        Check arguments and values (torch's default when ``None``).

    Raises
    ------
    ValueError
        For a refused base, fewer than two classes or logits that do not
        broadcast to the base's batch shape.
    """

    arg_constraints = {"logits": constraints.real_vector}

    def __init__(
        self, base: Distribution, logits: Tensor, validate_args: bool | None = None
    ) -> None:
        check_piecewise_base(base)
        if logits.dim() == 0 or logits.shape[-1] < 2:
            raise ValueError("The piecewise-categorical likelihood needs k_max >= 1.")
        self.base = base
        self.k_max = logits.shape[-1] - 1
        self.logits = expand_to_base(logits, base.batch_shape, event_dims=1)
        super().__init__(base.batch_shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> constraints.Constraint:
        if self.base.support.is_discrete:
            return constraints.nonnegative_integer
        return constraints.nonnegative

    @property
    def probs(self) -> Tensor:
        """Class probabilities ``softmax(logits)``."""
        return torch.softmax(self.logits, dim=-1)

    def _moments(self) -> tuple[Tensor, Tensor]:
        probs = self.probs
        counts = torch.arange(self.k_max, dtype=probs.dtype, device=probs.device)
        head, tail = probs[..., :-1], probs[..., -1]
        base_mean, k = self.base.mean, float(self.k_max)
        mean = (head * counts).sum(-1) + tail * (base_mean + k)
        second = (head * counts**2).sum(-1) + tail * (
            2.0 * k * base_mean + self.base.variance + base_mean**2 + k**2
        )
        return mean, second

    @property
    def mean(self) -> Tensor:
        return self._moments()[0]

    @property
    def variance(self) -> Tensor:
        mean, second = self._moments()
        return second - mean**2

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        log_probs = torch.log_softmax(self.logits, dim=-1)
        shape = torch.broadcast_shapes(value.shape, self.batch_shape)
        index = value.clamp(0, self.k_max).floor().long().expand(shape)
        log_class = log_probs.expand(shape + log_probs.shape[-1:])
        log_class = log_class.gather(-1, index.unsqueeze(-1)).squeeze(-1)
        in_tail = value >= self.k_max
        tail = self.base.log_prob(torch.where(in_tail, value - self.k_max, 0.0))
        return torch.where(in_tail, log_class + tail, log_class)

    def sample(self, sample_shape: Size | tuple[int, ...] = ()) -> Tensor:
        with torch.no_grad():
            classes = Categorical(logits=self.logits).sample(sample_shape)
            tail = self.base.sample(sample_shape) + self.k_max
            return torch.where(classes < self.k_max, classes.to(tail.dtype), tail)
