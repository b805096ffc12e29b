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

from scvae.distributions.entries import StoredEntries

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
    value: Tensor,
    log_r: Tensor,
    logits: Tensor,
    entries: StoredEntries | None = None,
    *,
    clip: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> Tensor:
    """``negative_binomial_log_prob(value, log_r, logits).sum(-1)``, fused for training.

    ``value`` is ``(B, F)``; ``log_r`` and ``logits`` are ``(*S, B, F)`` (any leading
    sample dimensions). ``entries`` are the stored entries of ``value`` (those of its
    sparse minibatch; found with ``nonzero`` when not given). Returns ``(*S, B)``.
    With ``clip = ((low, high) of log_r, (low, high) of logits)`` the parameters are
    first clipped as by ``hardtanh`` (no gradient at or beyond a bound); on the CPU a
    parameter found inside its range is used as it is, with no clipped copy and no mask.

    Only ``r log(1 - p)`` and its two derivatives touch every count; the log-gamma
    terms and their digamma derivatives are evaluated at the entries. Forward and
    backward are written out (no autograd graph of a dozen elementwise steps), with
    the exact derivatives ``d/d log r = r (log(1 - p) + [x > 0] (psi(x + r) - psi(r)))``
    and ``d/d logits = x (1 - p) - r p``.
    """
    if (
        value.dim() != 2
        or log_r.shape != logits.shape
        or log_r.shape[-2:] != value.shape
        or value.numel() == 0
    ):
        if clip is not None:
            log_r = functional.hardtanh(log_r, *clip[0])
            logits = functional.hardtanh(logits, *clip[1])
        return negative_binomial_log_prob(value, log_r, logits).sum(-1)
    if entries is None:
        entries = StoredEntries.of(value)
    values = entries.values.to(log_r.dtype)
    bounds = (None, None) if clip is None else clip
    return _NegativeBinomialSum.apply(log_r, logits, entries, values, *bounds)


#: Counts up to this are handled by the finite sum of :func:`digamma_difference` (most
#: non-zero single-cell counts are this small).
SMALL_COUNT = 4

#: Arguments of digamma are shifted above this before its asymptotic series is used.
_DIGAMMA_SHIFT = 6


def log_rising_factorial(x: Tensor, r: Tensor) -> Tensor:
    """``lgamma(x + r) - lgamma(r)`` for counts ``x`` (``(n,)``) and ``r > 0`` (``(..., n)``).

    (Measured: two log-gamma passes are cheaper here than a short product and a logarithm.)
    """
    return torch.lgamma(x + r) - torch.lgamma(r)


def digamma_difference(x: Tensor, r: Tensor) -> Tensor:
    """``digamma(x + r) - digamma(r)`` for whole ``x >= 0`` (``(n,)``) and ``r > 0``.

    For ``x <= SMALL_COUNT`` it is ``1/r + 1/(r + 1) + ... + 1/(r + x - 1)`` (exact, and
    free of the cancellation the difference suffers for large ``r``); larger counts use
    :func:`_large_digamma_difference`.
    """
    result = torch.zeros_like(r)
    for k in range(SMALL_COUNT):
        result.addcdiv_((x > k).to(r.dtype), r + k)
    large = torch.nonzero(x > SMALL_COUNT, as_tuple=True)[0]
    if large.numel():
        exact = _large_digamma_difference(x.index_select(0, large), r.index_select(-1, large))
        result.index_copy_(-1, large, exact)
    return result


def _large_digamma_difference(x: Tensor, r: Tensor) -> Tensor:
    """``digamma(x + r) - digamma(r)`` for counts ``x > SMALL_COUNT`` and ``r > 0``.

    With the recurrence ``psi(r) = psi(r + 6) - sum_{k<6} 1/(r + k)`` both arguments are
    at least 5, where ``psi(z) = log z - tail(z)`` with the asymptotic series of
    :func:`_digamma_tail`. The logarithms combine into one ``log1p``, so large ``r``
    loses nothing to cancellation. (``torch.digamma`` is not vectorised on the CPU: this
    is several times faster, and as exact in float64.)
    """
    shifted = r + _DIGAMMA_SHIFT
    result = torch.log1p((x - _DIGAMMA_SHIFT) / shifted)
    for k in range(_DIGAMMA_SHIFT):
        result += torch.reciprocal(r + k)
    tails = _digamma_tail(torch.stack([x + r, shifted]))
    return result.sub_(tails[0]).add_(tails[1])


def _digamma_tail(z: Tensor) -> Tensor:
    """``log z - digamma(z)`` for ``z >= 5``: the asymptotic series
    ``1/(2z) + 1/(12z^2) - 1/(120z^4) + 1/(252z^6) - 1/(240z^8) + 1/(132z^10)``, whose
    error is below ``691 / (32760 z^12)`` (1e-11 at ``z = 6``)."""
    w = torch.reciprocal(z)
    w2 = w * w
    series = w2.mul(1.0 / 132.0).sub_(1.0 / 240.0).mul_(w2).add_(1.0 / 252.0).mul_(w2)
    series.sub_(1.0 / 120.0).mul_(w2).add_(1.0 / 12.0).mul_(w)
    return series.add_(0.5).mul_(w)


def _clip(raw: Tensor, bounds: tuple[float, float] | None) -> tuple[Tensor, bool]:
    """``raw`` clipped to ``bounds``, and whether the clip may have changed anything
    (on the CPU, values strictly inside the bounds are returned as they are)."""
    if bounds is None:
        return raw, False
    low, high = bounds
    if raw.device.type == "cpu" and raw.numel():
        smallest, largest = torch.aminmax(raw)
        if bool((smallest > low) & (largest < high)):
            return raw, False
    return raw.clamp(low, high), True


def _mask_clipped(grad: Tensor, raw: Tensor, bounds: tuple[float, float]) -> Tensor:
    """``grad`` with zeros where ``raw`` is at or beyond a bound (``hardtanh``'s rule)."""
    low, high = bounds
    return grad.masked_fill_((raw <= low) | (raw >= high), 0.0)


class _NegativeBinomialSum(torch.autograd.Function):
    """The fused forward and backward of :func:`negative_binomial_log_prob_sum`."""

    @staticmethod
    def forward(
        ctx,
        raw_log_r: Tensor,
        raw_logits: Tensor,
        entries: StoredEntries,
        x: Tensor,
        log_r_bounds: tuple[float, float] | None,
        logits_bounds: tuple[float, float] | None,
    ) -> Tensor:
        shape = raw_log_r.shape
        b, f = shape[-2], shape[-1]
        log_r, log_r_clipped = _clip(raw_log_r, log_r_bounds)
        logits, logits_clipped = _clip(raw_logits, logits_bounds)
        log_r = log_r.reshape(-1, b * f)
        logits = logits.reshape(-1, b * f)
        r = torch.exp(log_r)
        r_softplus = functional.softplus(logits).mul_(r)  # -r log(1 - p)
        positions = entries.positions
        r_at = r.index_select(1, positions)
        logits_at = logits.index_select(1, positions)
        terms = log_rising_factorial(x, r_at) - torch.lgamma(x + 1.0)
        terms += x * functional.logsigmoid(logits_at)
        total = entries.row_sums(terms) - r_softplus.view(-1, b, f).sum(-1)
        ctx.save_for_backward(r, r_softplus, logits, x, r_at, logits_at, raw_log_r, raw_logits)
        ctx.entries = entries
        ctx.shape = shape
        ctx.masks = (
            log_r_bounds if log_r_clipped else None,
            logits_bounds if logits_clipped else None,
        )
        return total.view(shape[:-1])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        r, r_softplus, logits, x, r_at, logits_at, raw_log_r, raw_logits = ctx.saved_tensors
        entries, shape = ctx.entries, ctx.shape
        log_r_mask, logits_mask = ctx.masks
        b, f = shape[-2], shape[-1]
        grad = grad.reshape(-1, b)
        minus_g = grad.neg().unsqueeze(-1)
        g_at = grad.index_select(1, entries.rows)
        grad_log_r = grad_logits = None
        if ctx.needs_input_grad[0]:
            grad_log_r = (r_softplus.view(-1, b, f) * minus_g).view(-1, b * f)
            grad_log_r.index_add_(1, entries.positions, g_at * r_at * digamma_difference(x, r_at))
            grad_log_r = grad_log_r.view(shape)
            if log_r_mask is not None:
                _mask_clipped(grad_log_r, raw_log_r, log_r_mask)
        if ctx.needs_input_grad[1]:
            grad_logits = torch.sigmoid(logits).mul_(r).view(-1, b, f).mul_(minus_g)
            grad_logits = grad_logits.view(-1, b * f)
            grad_logits.index_add_(1, entries.positions, g_at * x * torch.sigmoid(-logits_at))
            grad_logits = grad_logits.view(shape)
            if logits_mask is not None:
                _mask_clipped(grad_logits, raw_logits, logits_mask)
        return grad_log_r, grad_logits, None, None, None, None


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
    """``log(mean(exp(values)))`` along ``dim``, computed without overflow (along a
    dimension of size 1, the values themselves: one sample needs no reduction)."""
    if values.shape[dim] == 1:
        return values.squeeze(dim)
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
