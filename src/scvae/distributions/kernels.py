"""Numerically delicate log-density kernels as pure tensor functions.

Every function here works elementwise (with broadcasting) in log space, so it
stays finite for all parameter values that the likelihood heads can produce.
Each has its own test in ``tests/distributions/test_distribution_kernels.py``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional

__all__ = [
    "emg_log_prob",
    "normal_log_prob",
    "log_mean_exp",
    "mixture_log_prob",
    "negative_binomial_log_prob",
    "negative_binomial_log_prob_sum",
    "poisson_log_prob",
    "zero_inflated_log_prob",
]

_LOG_2 = math.log(2.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_HALF = math.sqrt(0.5)
_HALF_LOG_2 = 0.5 * math.log(2.0)
_HALF_LOG_PI = 0.5 * math.log(math.pi)


def normal_log_prob(value: Tensor, loc: Tensor, log_scale: Tensor) -> Tensor:
    """Normal log-density from the log of the scale.

    The value is standardised before squaring, so a large ``|x - loc|`` with a
    large scale does not overflow.
    """
    standardised = (value - loc) * torch.exp(-log_scale)
    return -0.5 * standardised**2 - log_scale - _HALF_LOG_2PI


def poisson_log_prob(value: Tensor, log_rate: Tensor) -> Tensor:
    """Poisson log-pmf from the log of the rate.

    ``x log(rate) - rate - log(x!)``; the term ``x log(rate)`` is zero when
    ``x = 0`` even if the rate is zero.
    """
    first = torch.where(value == 0, torch.zeros_like(log_rate), value * log_rate)
    return first - torch.exp(log_rate) - torch.lgamma(value + 1.0)


def negative_binomial_log_prob(
    value: Tensor, log_r: Tensor, logits: Tensor, *, sparse: bool | None = None
) -> Tensor:
    """Negative-binomial log-pmf in the (r, p) parameterisation.

    The pmf is ``C(x + r - 1, x) p^x (1 - p)^r`` with ``r = exp(log_r)`` and
    ``p = sigmoid(logits)``. Probabilities enter only through ``logsigmoid``,
    so ``p`` close to 0 or 1 costs no precision.

    At ``x = 0`` the pmf is ``(1 - p)^r``: the log-gamma terms cancel. On the CPU,
    where log-gamma and its derivative dominate the cost, they are evaluated only at
    the non-zero counts (most single-cell counts are zero) and added in place
    (``sparse=None`` chooses this on the CPU; ``True``/``False`` force either way).
    """
    r = torch.exp(log_r)
    log_1mp = functional.logsigmoid(-logits)
    if sparse is None:
        sparse = value.device.type == "cpu" and not value.requires_grad
    if sparse:
        return _sparse_negative_binomial(value, r, log_1mp, logits)
    coefficient = torch.lgamma(value + r) - torch.lgamma(r) - torch.lgamma(value + 1.0)
    log_p = functional.logsigmoid(logits)
    success = torch.where(value == 0, torch.zeros_like(log_p), value * log_p)
    return coefficient + success + r * log_1mp


def _sparse_negative_binomial(value: Tensor, r: Tensor, log_1mp: Tensor, logits: Tensor) -> Tensor:
    """``r log(1 - p)`` everywhere plus the terms of the non-zero counts at their positions."""
    shape = torch.broadcast_shapes(value.shape, r.shape, logits.shape)
    zero_part = (r * log_1mp).expand(shape)
    counts = value.expand(shape).reshape(-1)
    positions = torch.nonzero(counts, as_tuple=True)[0]
    if positions.numel() == counts.numel():  # dense counts: nothing to skip
        x, r_flat, logit_flat = (
            counts,
            r.expand(shape).reshape(-1),
            logits.expand(shape).reshape(-1),
        )
    else:
        x = counts[positions]
        r_flat = r.expand(shape).reshape(-1)[positions]
        logit_flat = logits.expand(shape).reshape(-1)[positions]
    terms = (
        torch.lgamma(x + r_flat)
        - torch.lgamma(r_flat)
        - torch.lgamma(x + 1.0)
        + x * functional.logsigmoid(logit_flat)
    )
    if positions.numel() == counts.numel():
        return zero_part + terms.reshape(shape)
    return zero_part.reshape(-1).index_add(0, positions, terms).reshape(shape)


def negative_binomial_log_prob_sum(
    value: Tensor, log_r: Tensor, logits: Tensor, positions: Tensor | None = None
) -> Tensor:
    """``negative_binomial_log_prob(value, log_r, logits).sum(-1)``, fused for training.

    ``value`` is ``(B, F)``; ``log_r`` and ``logits`` are ``(*S, B, F)`` (any leading
    sample dimensions). ``positions`` are flat indices into ``value`` covering its
    non-zero counts (stored entries of a sparse minibatch; extra zeros are harmless);
    found with ``nonzero`` when not given. Returns ``(*S, B)``.

    Only ``r log(1 - p)`` and its two derivatives touch every count; the log-gamma
    terms and their digamma derivatives are evaluated at the non-zero counts. Forward
    and backward are written out (no autograd graph of a dozen elementwise steps), with
    the exact derivatives ``d/d log r = r (log(1 - p) + [x > 0] (psi(x + r) - psi(r)))``
    and ``d/d logits = x (1 - p) - r p``.
    """
    if (
        value.dim() != 2
        or log_r.shape != logits.shape
        or log_r.shape[-2:] != value.shape
        or value.numel() == 0
    ):
        return negative_binomial_log_prob(value, log_r, logits).sum(-1)
    if positions is None:
        positions = torch.nonzero(value.reshape(-1), as_tuple=True)[0]
    return _NegativeBinomialSum.apply(log_r, logits, value, positions)


#: Counts up to this are handled by the finite sum of :func:`digamma_difference` (most
#: non-zero single-cell counts are this small).
SMALL_COUNT = 4


def log_rising_factorial(x: Tensor, r: Tensor) -> Tensor:
    """``lgamma(x + r) - lgamma(r)`` for counts ``x`` (``(n,)``) and ``r > 0`` (``(..., n)``).

    (Measured: two log-gamma passes are cheaper here than a short product and a logarithm.)
    """
    return torch.lgamma(x + r) - torch.lgamma(r)


def digamma_difference(x: Tensor, r: Tensor) -> Tensor:
    """``digamma(x + r) - digamma(r)`` for whole ``x >= 0`` (``(n,)``) and ``r > 0``.

    For ``x <= SMALL_COUNT`` it is ``1/r + 1/(r + 1) + ... + 1/(r + x - 1)`` (exact, and
    free of the cancellation the difference suffers for large ``r``); larger counts use
    ``digamma``.
    """
    result = torch.zeros_like(r)
    for k in range(SMALL_COUNT):
        result.addcdiv_((x > k).to(r.dtype), r + k)
    return _large_counts(result, x, r, lambda xs, rs: torch.digamma(xs + rs) - torch.digamma(rs))


def _large_counts(result: Tensor, x: Tensor, r: Tensor, exact) -> Tensor:
    """``result`` with its entries at counts above ``SMALL_COUNT`` replaced by ``exact``."""
    large = torch.nonzero(x > SMALL_COUNT, as_tuple=True)[0]
    if large.numel():
        result[..., large] = exact(x[large], r[..., large])
    return result


class _NegativeBinomialSum(torch.autograd.Function):
    """The fused forward and backward of :func:`negative_binomial_log_prob_sum`."""

    @staticmethod
    def forward(ctx, log_r: Tensor, logits: Tensor, value: Tensor, positions: Tensor) -> Tensor:
        shape = log_r.shape
        b, f = value.shape
        log_r = log_r.reshape(-1, b * f)
        logits = logits.reshape(-1, b * f)
        r = torch.exp(log_r)
        r_softplus = r * functional.softplus(logits)  # -r log(1 - p)
        total = r_softplus.view(-1, b, f).sum(-1).neg_()
        x = value.reshape(-1)[positions]
        rows = torch.div(positions, f, rounding_mode="floor")
        r_at, logits_at = r[:, positions], logits[:, positions]
        terms = log_rising_factorial(x, r_at) - torch.lgamma(x + 1.0)
        terms += x * functional.logsigmoid(logits_at)
        total.index_add_(1, rows, terms)
        ctx.save_for_backward(r, r_softplus, logits, x, r_at, logits_at, positions, rows)
        ctx.shape = shape
        return total.view(shape[:-1])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        r, r_softplus, logits, x, r_at, logits_at, positions, rows = ctx.saved_tensors
        shape = ctx.shape
        b, f = shape[-2], shape[-1]
        minus_g = grad.reshape(-1, b, 1).neg()
        g_at = grad.reshape(-1, b)[:, rows]
        grad_log_r = grad_logits = None
        if ctx.needs_input_grad[0]:
            grad_log_r = (r_softplus.view(-1, b, f) * minus_g).view(-1, b * f)
            grad_log_r.index_add_(1, positions, g_at * r_at * digamma_difference(x, r_at))
            grad_log_r = grad_log_r.view(shape)
        if ctx.needs_input_grad[1]:
            r_p = r * torch.sigmoid(logits)
            grad_logits = (r_p.view(-1, b, f) * minus_g).view(-1, b * f)
            grad_logits.index_add_(1, positions, g_at * x * torch.sigmoid(-logits_at))
            grad_logits = grad_logits.view(shape)
        return grad_log_r, grad_logits, None, None


def zero_inflated_log_prob(
    value: Tensor, pi_logits: Tensor, base_log_prob: Tensor, base_log_prob_zero: Tensor
) -> Tensor:
    """Log-pmf of a zero-inflated discrete distribution.

    Parameters
    ----------
    value
        Observed values.
    pi_logits
        Logits of the probability ``pi`` of an extra zero.
    base_log_prob
        ``log f(value)`` of the base distribution.
    base_log_prob_zero
        ``log f(0)`` of the base distribution.

    Returns
    -------
    Tensor
        ``log(pi + (1 - pi) f(0))`` at zeros, ``log(1 - pi) + log f(x)`` elsewhere.
    """
    log_pi = functional.logsigmoid(pi_logits)
    log_1mpi = functional.logsigmoid(-pi_logits)
    at_zero = torch.logaddexp(log_pi, log_1mpi + base_log_prob_zero)
    return torch.where(value == 0, at_zero, log_1mpi + base_log_prob)


def mixture_log_prob(logits: Tensor, component_log_probs: Tensor) -> Tensor:
    """Log-density of a mixture, ``log sum_k w_k p_k(x)``, over the last dimension.

    Parameters
    ----------
    logits
        Unnormalised log-weights of the components, shape ``(..., K)``.
    component_log_probs
        ``log p_k(x)``, shape ``(..., K)``.
    """
    return torch.logsumexp(torch.log_softmax(logits, dim=-1) + component_log_probs, dim=-1)


def log_mean_exp(values: Tensor, dim: int) -> Tensor:
    """``log(mean(exp(values)))`` along ``dim``, computed without overflow."""
    return torch.logsumexp(values, dim=dim) - math.log(values.shape[dim])


def _log_rate_over(
    u: Tensor, huge: Tensor, standardised: Tensor, scale: Tensor, rate: Tensor
) -> Tensor:
    """``log(rate / u) - log(sqrt(pi))``: ``log(rate) + log(erfcx(u))`` for huge ``u``.

    Where ``u`` itself overflows, ``rate / u = sqrt(2) / (scale - standardised / rate)``.
    """
    finite = torch.isfinite(u)
    safe_u = torch.where(huge & finite, u, torch.ones_like(u))
    overflowed = huge & ~finite
    safe_standardised = torch.where(overflowed, standardised, torch.zeros_like(u))
    denominator = torch.where(overflowed, scale - safe_standardised / rate, torch.ones_like(u))
    from_u = torch.log(rate) - torch.log(safe_u)
    from_parts = _HALF_LOG_2 - torch.log(denominator)
    return torch.where(finite, from_u, from_parts) - _HALF_LOG_PI


def emg_log_prob(value: Tensor, loc: Tensor, scale: Tensor, rate: Tensor) -> Tensor:
    """Log-density of the exponentially modified Gaussian.

    The law of ``Normal(loc, scale) + Exponential(rate)``. With
    ``u = (loc + rate scale^2 - x) / (sqrt(2) scale)`` the density is
    ``rate/2 exp(rate (loc - x) + rate^2 scale^2 / 2) erfc(u)``. Three regimes:

    - ``u <= 0``: as written (``erfc(u)`` lies in [1, 2]);
    - ``0 < u <= 1e5``: exponent and ``erfc`` combine through ``erfcx`` into
      ``-(x - loc)^2 / (2 scale^2) + log erfcx(u)``, which does not overflow;
    - ``u > 1e5``: ``erfcx(u) = 1 / (u sqrt(pi))`` to 1e-10; where ``u``
      overflows, ``rate / u`` is formed from ``scale``, ``rate`` and ``x``.
    """
    # Multiplying by exp(-log(scale)) rather than dividing keeps the backward
    # pass free of 1 / scale^2, which overflows for a scale near float32 tiny.
    standardised = (value - loc) * torch.exp(-torch.log(scale))
    rate_scale = rate * scale
    u = (rate_scale - standardised) * _SQRT_HALF
    in_tail, huge = u > 0, u > 1e5
    moderate = torch.where(in_tail & ~huge, u, torch.zeros_like(u))
    tail = torch.log(rate) + torch.log(torch.special.erfcx(moderate))
    tail = torch.where(huge, _log_rate_over(u, huge, standardised, scale, rate), tail)
    tail = tail - 0.5 * torch.where(in_tail, standardised, torch.zeros_like(u)) ** 2
    # The body branch sees zeros where the tail is chosen, so that overflow in
    # the branch not taken cannot turn gradients into NaN.
    zeros = torch.zeros_like(u)
    negative = torch.where(in_tail, zeros, u)
    body_scale = torch.where(in_tail, zeros, rate_scale)
    body = torch.log(rate) + rate * torch.where(in_tail, zeros, loc - value)
    body = body + 0.5 * body_scale**2 + torch.log(torch.special.erfc(negative))
    return torch.where(in_tail, tail, body) - _LOG_2
