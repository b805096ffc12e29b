"""Negative binomial distribution in the original's (r, p) parameterisation."""

from __future__ import annotations

import torch
from torch import Size, Tensor
from torch.distributions import Distribution, Gamma, constraints
from torch.distributions.utils import broadcast_all, lazy_property
from torch.nn import functional

from scvae.distributions._common import sample_shape_of
from scvae.distributions.entries import StoredEntries
from scvae.distributions.kernels import (
    negative_binomial_log_prob,
    negative_binomial_log_prob_sum,
)


class NegativeBinomial(Distribution):
    """Negative binomial with pmf ``C(x + r - 1, x) p^x (1 - p)^r``.

    The mean is ``r p / (1 - p)`` and the variance ``mean / (1 - p)``: the same
    convention as TensorFlow Probability and ``torch.distributions``.

    Parameters
    ----------
    log_r
        Log of the number of failures ``r`` (``total_count``).
    logits
        Logits of the success probability ``p``.
    validate_args
        Check arguments and values (torch's default when ``None``).
    clip
        ``((low, high) of log_r, (low, high) of logits)``, when ``log_r`` and ``logits``
        are raw outputs still to be clipped to these ranges (as by ``hardtanh``). They are
        clipped where used; :meth:`log_prob_sum` clips inside its fused kernel, which
        skips the work when nothing is out of range (the usual case).
    """

    arg_constraints = {"log_r": constraints.real, "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(
        self,
        log_r: Tensor | float,
        logits: Tensor | float,
        validate_args: bool | None = None,
        *,
        clip: tuple[tuple[float, float], tuple[float, float]] | None = None,
    ) -> None:
        self._raw = broadcast_all(log_r, logits)
        # one r a feature, as given (before broadcasting): the fused sum takes it as it is
        self._feature_log_r = log_r if isinstance(log_r, Tensor) and log_r.dim() == 1 else None
        self._clip = clip
        super().__init__(self._raw[0].shape, validate_args=validate_args)

    @lazy_property
    def log_r(self) -> Tensor:
        """Log of ``r`` (clipped when a ``clip`` range was given)."""
        return _clipped(self._raw[0], None if self._clip is None else self._clip[0])

    @lazy_property
    def logits(self) -> Tensor:
        """Logits of ``p`` (clipped when a ``clip`` range was given)."""
        return _clipped(self._raw[1], None if self._clip is None else self._clip[1])

    @property
    def total_count(self) -> Tensor:
        """``r = exp(log_r)``."""
        return torch.exp(self.log_r)

    @property
    def probs(self) -> Tensor:
        """``p = sigmoid(logits)``."""
        return torch.sigmoid(self.logits)

    @property
    def mean(self) -> Tensor:
        return torch.exp(self.log_r + self.logits)

    @property
    def variance(self) -> Tensor:
        # mean / (1 - p) = r exp(logits) (1 + exp(logits))
        return torch.exp(self.log_r + self.logits + functional.softplus(self.logits))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return negative_binomial_log_prob(value, self.log_r, self.logits)

    def log_prob_sum(self, value: Tensor, entries: StoredEntries | None = None) -> Tensor:
        """``log_prob(value).sum(-1)``: fused where the counts' stored ``entries`` are
        given or cheap to find (the CPU), see
        :func:`~scvae.distributions.kernels.negative_binomial_log_prob_sum`."""
        if self._validate_args:
            self._validate_sample(value)
        if entries is None and value.device.type != "cpu":
            return self.log_prob(value).sum(-1)
        log_r, logits = self._raw
        if self._feature_log_r is not None:
            log_r = self._feature_log_r
        return negative_binomial_log_prob_sum(value, log_r, logits, entries, clip=self._clip)

    def sample(self, sample_shape: Size | tuple[int, ...] = ()) -> Tensor:
        # A gamma-Poisson mixture: rate ~ Gamma(r, scale = p / (1 - p)).
        shape = sample_shape_of(self.batch_shape, sample_shape)
        with torch.no_grad():
            gamma = Gamma(self.total_count, torch.exp(-self.logits), validate_args=False)
            return torch.poisson(gamma.sample(sample_shape).expand(shape))


def _clipped(raw: Tensor, bounds: tuple[float, float] | None) -> Tensor:
    return raw if bounds is None else functional.hardtanh(raw, *bounds)
