"""Numerically delicate log-density kernels as pure tensor functions.

Every function here works elementwise (with broadcasting) in log space, so it
stays finite for all parameter values that the likelihood heads can produce.
Each has its own test in ``tests/distributions/test_distribution_kernels.py``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
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

    ``value`` is ``(B, F)``; ``logits`` are ``(*S, B, F)`` (any leading sample
    dimensions) and ``log_r`` has the same shape, or is ``(F,)`` when ``r`` is one value a
    feature (then the terms that depend on ``r`` alone are found once per feature or
    entry, and its gradient is summed over the cells as it is computed). ``entries`` are
    the stored entries of ``value`` (those of its sparse minibatch; found with ``nonzero``
    when not given). Returns ``(*S, B)``.
    With ``clip = ((low, high) of log_r, (low, high) of logits)`` the parameters are
    first clipped as by ``hardtanh`` (no gradient at or beyond a bound); on the CPU a
    parameter found inside its range is used as it is, with no clipped copy and no mask.

    Only ``r log(1 - p)`` and its two derivatives touch every count; the log-gamma
    terms and their digamma derivatives are evaluated at the entries. Forward and
    backward are written out (no autograd graph of a dozen elementwise steps), with
    the exact derivatives ``d/d log r = r (log(1 - p) + [x > 0] (psi(x + r) - psi(r)))``
    and ``d/d logits = x (1 - p) - r p``.
    """
    per_feature = log_r.dim() == 1 and logits.dim() >= 2
    if (
        value.dim() != 2
        or logits.shape[-2:] != value.shape
        or (log_r.shape != (value.shape[-1],) if per_feature else log_r.shape != logits.shape)
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


#: Whole counts up to this are handled by finite products and sums (most non-zero
#: single-cell counts are this small); see :func:`count_terms`.
SMALL_COUNT = 4

#: Arguments are shifted by this before the asymptotic series are used.
_SHIFT = 6


@dataclass(frozen=True)
class CountTerms:
    """What :func:`count_terms` needs of the counts ``x`` (``(n,)``) alone, found once per
    minibatch.

    Attributes
    ----------
    x
        The counts.
    present
        ``[x > k]`` for ``k < SMALL_COUNT``, as numbers (``(SMALL_COUNT, n)``).
    offsets
        ``1 + (k - 1) [x > k]``, so that ``offsets[k] + r present[k]`` is ``r + k`` where
        ``x > k`` and 1 elsewhere.
    large
        Indices of the counts beyond :data:`SMALL_COUNT` or not whole.
    log_factorial
        ``lgamma(x + 1)``.
    """

    x: Tensor
    present: Tensor
    offsets: Tensor
    large: Tensor
    log_factorial: Tensor

    @classmethod
    def of(cls, x: Tensor) -> CountTerms:
        """The terms of ``x``; on the CPU through NumPy, whose comparisons of a few
        thousand values are several times faster than torch's."""
        if x.device.type != "cpu" or x.requires_grad or x.dim() != 1:
            steps = torch.arange(SMALL_COUNT, dtype=x.dtype, device=x.device).unsqueeze(1)
            present = (x > steps).to(x.dtype)
            large = torch.nonzero((x > SMALL_COUNT) | (x != torch.floor(x)), as_tuple=True)[0]
            offsets = present * (steps - 1.0) + 1.0
            return cls(x, present, offsets, large, torch.lgamma(x + 1.0))
        values = x.numpy()
        steps = np.arange(SMALL_COUNT, dtype=values.dtype)[:, None]
        present = (values > steps).astype(values.dtype)
        offsets = present * (steps - 1.0) + 1.0
        whole = values == np.floor(values)
        large = np.flatnonzero((values > SMALL_COUNT) | ~whole)
        log_factorial = _log_factorials(values, whole, x)
        return cls(
            x, *(torch.from_numpy(part) for part in (present, offsets, large)), log_factorial
        )


#: ``log(k!)`` for whole counts below this come from a table.
_FACTORIAL_TABLE_SIZE = 1 << 16


@functools.cache
def _log_factorial_table(dtype: np.dtype) -> np.ndarray:
    table = torch.lgamma(torch.arange(1, _FACTORIAL_TABLE_SIZE + 1, dtype=torch.float64))
    return table.numpy().astype(dtype)


def _log_factorials(values: np.ndarray, whole: np.ndarray, x: Tensor) -> Tensor:
    """``lgamma(x + 1)``: looked up in a table when every count is whole and in its range."""
    if values.size and whole.all() and values.min() >= 0 and values.max() < _FACTORIAL_TABLE_SIZE:
        table = _log_factorial_table(values.dtype)
        return torch.from_numpy(table.take(values.astype(np.int64)))
    return torch.lgamma(x + 1.0)


def count_terms(
    r: Tensor, counts: CountTerms, *, digamma: bool = True
) -> tuple[Tensor, Tensor | None]:
    """``lgamma(x + r) - lgamma(r)`` and (with ``digamma``) ``digamma(x + r) - digamma(r)``
    for the counts of ``counts`` (:class:`CountTerms`, ``(n,)``) and ``r > 0`` (``(..., n)``).

    For whole ``x <= SMALL_COUNT`` (most non-zero single-cell counts) they are the
    logarithm of ``r (r + 1) ... (r + x - 1)`` and ``1/r + 1/(r + 1) + ... + 1/(r + x - 1)``:
    one logarithm where ``torch.lgamma`` and ``torch.digamma``, not vectorised on the CPU,
    cost two calls of about 14 ns a value each, and free of the cancellation the
    differences suffer at large ``r``. Other counts use :func:`_large_count_terms`.
    """
    present, offsets = counts.present.unbind(0), counts.offsets.unbind(0)
    product = torch.addcmul(offsets[0], r, present[0])  # r where x > 0, 1 elsewhere
    reciprocals = torch.div(present[0], product) if digamma else None
    for k in range(1, SMALL_COUNT):
        factor = torch.addcmul(offsets[k], r, present[k])  # r + k where x > k, 1 elsewhere
        product.mul_(factor)
        if reciprocals is not None:
            reciprocals.addcdiv_(present[k], factor)
    log_rising = product.log_()
    large = counts.large
    if large.numel():
        exact = _large_count_terms(
            counts.x.index_select(0, large), r.index_select(-1, large), digamma=digamma
        )
        log_rising.index_copy_(-1, large, exact[0])
        if reciprocals is not None:
            reciprocals.index_copy_(-1, large, exact[1])
    return log_rising, reciprocals


def log_rising_factorial(x: Tensor, r: Tensor) -> Tensor:
    """``lgamma(x + r) - lgamma(r)`` for counts ``x >= 0`` (``(n,)``) and ``r > 0`` (``(..., n)``),
    see :func:`count_terms`."""
    return count_terms(r, CountTerms.of(x), digamma=False)[0]


def digamma_difference(x: Tensor, r: Tensor) -> Tensor:
    """``digamma(x + r) - digamma(r)`` for whole counts ``x >= 0`` (``(n,)``) and ``r > 0``,
    see :func:`count_terms`."""
    return count_terms(r, CountTerms.of(x))[1]


def _large_count_terms(x: Tensor, r: Tensor, *, digamma: bool) -> tuple[Tensor, Tensor | None]:
    """``lgamma(x + r) - lgamma(r)`` and ``digamma(x + r) - digamma(r)`` for any ``x >= 0``
    and ``r > 0``, vectorised.

    Both arguments are shifted by 6: with ``a = x + r + 6`` and ``b = r + 6``,
    ``lgamma(x + r) - lgamma(r) = lgamma(a) - lgamma(b) + sum_k log((r + k) / (x + r + k))``
    and ``digamma(x + r) - digamma(r) = digamma(a) - digamma(b) + sum_k x / ((r + k)(x + r + k))``
    (``k < 6``). Stirling's series for ``a, b >= 6`` then give, free of cancellation at
    large ``r``, ``lgamma(a) - lgamma(b) = (a - 1/2) log1p(x / b) + x (log b - 1) + ...``
    and ``digamma(a) - digamma(b) = log1p(x / b) - ...`` (the tails of
    :func:`_stirling_tails`).
    """
    steps = torch.arange(_SHIFT, dtype=r.dtype, device=r.device)
    shifted_r = r.unsqueeze(-1) + steps
    shifted_xr = shifted_r + x.unsqueeze(-1)
    b = shifted_r[..., -1] + 1.0
    a = b + x
    log_ratio = torch.log1p(x / b)
    log_tails, digamma_tails = _stirling_tails(torch.stack([a, b]), digamma=digamma)
    log_rising = (a - 0.5).mul_(log_ratio).add_(torch.log(b).sub_(1.0).mul_(x))
    log_rising.add_(log_tails[0]).sub_(log_tails[1])
    log_rising.add_(torch.div(shifted_r, shifted_xr).log_().sum(-1))
    if not digamma:
        return log_rising, None
    difference = log_ratio.sub_(digamma_tails[0]).add_(digamma_tails[1])
    difference.add_(shifted_r.mul_(shifted_xr).reciprocal_().sum(-1).mul_(x))
    return log_rising, difference


def _stirling_tails(z: Tensor, *, digamma: bool) -> tuple[Tensor, Tensor | None]:
    """For ``z >= 6``: ``lgamma(z) - ((z - 1/2) log z - z + log(2 pi) / 2)``, the series
    ``1/(12z) - 1/(360z^3) + 1/(1260z^5) - 1/(1680z^7) + 1/(1188z^9) - 691/(360360z^11)``
    (error below ``1 / (156 z^13)``, 5e-13 at ``z = 6``), and ``log z - digamma(z)``,
    ``1/(2z) + 1/(12z^2) - 1/(120z^4) + 1/(252z^6) - 1/(240z^8) + 1/(132z^10)`` (error
    below ``691 / (32760 z^12)``, 1e-11 at ``z = 6``)."""
    w = torch.reciprocal(z)
    w2 = w * w
    log_tail = w2.mul(-691.0 / 360360.0).add_(1.0 / 1188.0).mul_(w2).sub_(1.0 / 1680.0).mul_(w2)
    log_tail.add_(1.0 / 1260.0).mul_(w2).sub_(1.0 / 360.0).mul_(w2).add_(1.0 / 12.0).mul_(w)
    if not digamma:
        return log_tail, None
    tail = w2.mul(1.0 / 132.0).sub_(1.0 / 240.0).mul_(w2).add_(1.0 / 252.0).mul_(w2)
    tail.sub_(1.0 / 120.0).mul_(w2).add_(1.0 / 12.0).mul_(w)
    return log_tail, tail.add_(0.5).mul_(w)


def _clip(raw: Tensor, bounds: tuple[float, float] | None) -> tuple[Tensor, bool]:
    """``raw`` clipped to ``bounds``, and whether the clip may have changed anything
    (on the CPU, values strictly inside the bounds are returned as they are)."""
    if bounds is None:
        return raw, False
    low, high = bounds
    if raw.device.type == "cpu" and raw.numel():
        smallest, largest = (float(value) for value in torch.aminmax(raw))
        if smallest > low and largest < high:
            return raw, False
    return raw.clamp(low, high), True


def _clip_logits(
    raw: Tensor, bounds: tuple[float, float] | None
) -> tuple[Tensor, bool, float | None]:
    """:func:`_clip` of the logits, and (on the CPU) their largest value after clipping
    (``None`` where not known without a host synchronisation)."""
    if raw.device.type != "cpu" or not raw.numel():
        clipped, changed = _clip(raw, bounds)
        return clipped, changed, None
    smallest, largest = (float(value) for value in torch.aminmax(raw))
    if bounds is None:
        return raw, False, largest
    low, high = bounds
    if smallest > low and largest < high:
        return raw, False, largest
    return raw.clamp(low, high), True, min(largest, high)


def _mask_clipped(grad: Tensor, raw: Tensor, bounds: tuple[float, float]) -> Tensor:
    """``grad`` with zeros where ``raw`` is at or beyond a bound (``hardtanh``'s rule)."""
    low, high = bounds
    return grad.masked_fill_((raw <= low) | (raw >= high), 0.0)


#: Below this largest logit ``exp(logits)`` is finite in float32, and ``log(1 - p)`` and
#: ``p`` come from it (:func:`_dense_terms`).
_EXP_SAFE_LOGIT = 80.0


def _dense_terms(
    log_r: Tensor, logits: Tensor, largest_logit: float | None, gradient: bool
) -> tuple[Tensor, Tensor, Tensor | None]:
    """``(r, softplus(logits), p)``: ``r`` of ``log_r``'s shape, the others over all counts
    (``p`` only with ``gradient``).

    Where the largest logit is known to be below :data:`_EXP_SAFE_LOGIT` (on the CPU), one
    exponential ``e = exp(logits)`` gives ``softplus = log1p(e)`` and ``p = e / (1 + e)``:
    two transcendental passes over every count instead of ``softplus`` (itself an
    exponential and a logarithm) and ``sigmoid``. Otherwise the library's own functions,
    which handle any logit.
    """
    r = torch.exp(log_r)
    if largest_logit is not None and largest_logit < _EXP_SAFE_LOGIT:
        e = torch.exp(logits)
        softplus = torch.log1p(e)
        if not gradient:
            return r, softplus, None
        return r, softplus, e.div_(torch.add(e, 1.0))
    softplus = functional.softplus(logits)
    return r, softplus, torch.sigmoid(logits) if gradient else None


class _NegativeBinomialSum(torch.autograd.Function):
    """The fused forward and backward of :func:`negative_binomial_log_prob_sum`.

    The forward computes what the backward needs (``r softplus(logits)`` and ``r p`` over
    every count, ``r`` and ``1 - p`` at the entries); the backward scales them.
    """

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
        shape = raw_logits.shape
        b, f = shape[-2], shape[-1]
        per_feature = raw_log_r.dim() == 1
        log_r, log_r_clipped = _clip(raw_log_r, log_r_bounds)
        logits, logits_clipped, largest = _clip_logits(raw_logits, logits_bounds)
        gradient = any(ctx.needs_input_grad[:2])
        r, softplus, p = _dense_terms(
            log_r if per_feature else log_r.reshape(-1, b * f),
            logits.reshape(-1, b * f),
            largest,
            gradient,
        )
        # the entries' positions in every row of the (samples, B * F) parameters
        at = entries.positions.expand(softplus.shape[0], -1)
        columns = entries.positions.remainder(f) if per_feature else None
        # r at the entries: (n,) with one r a feature (the same in every sample row)
        r_at = r.index_select(0, columns) if per_feature else torch.gather(r, 1, at)
        softplus_at = torch.gather(softplus, 1, at)
        # log p = logits - softplus(logits), at the entries only
        log_p_at = torch.gather(logits.reshape(-1, b * f), 1, at).sub_(softplus_at)
        counts = CountTerms.of(x)
        log_rising, reciprocals = count_terms(r_at, counts, digamma=gradient)
        terms = log_p_at.mul_(x).add_(log_rising.sub_(counts.log_factorial))
        # r over every count, as a view: (F,) or (samples, B, F)
        r_by_count = r if per_feature else r.view(-1, b, f)
        r_softplus = softplus.view(-1, b, f).mul_(r_by_count)  # -r log(1 - p)
        total = entries.row_sums(terms) - r_softplus.sum(-1)
        r_softplus = r_softplus.view(-1, b * f)
        if gradient:
            r_p = p.view(-1, b, f).mul_(r_by_count).view(-1, b * f)
            # d/d log r at the entries: r (digamma(x + r) - digamma(r)); d/d logits: x (1 - p)
            r_digamma = reciprocals.mul_(r_at)
            x_complement = softplus_at.neg_().exp_().mul_(x)  # 1 - p = exp(-softplus(logits))
            ctx.save_for_backward(r_softplus, r_p, r_digamma, x_complement, raw_log_r, raw_logits)
        ctx.columns = columns
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
        r_softplus, r_p, r_digamma, x_complement, raw_log_r, raw_logits = ctx.saved_tensors
        entries, shape = ctx.entries, ctx.shape
        log_r_mask, logits_mask = ctx.masks
        b, f = shape[-2], shape[-1]
        grad = grad.reshape(-1, b)
        minus_g = grad.neg().unsqueeze(-1)
        g_at = grad.index_select(1, entries.rows)
        at = entries.positions.expand(grad.shape[0], -1)
        grad_log_r = grad_logits = None
        if ctx.needs_input_grad[0] and ctx.columns is not None:
            # one r a feature: the cells' terms summed as they are formed, (F,)
            grad_log_r = torch.mv(r_softplus.view(-1, f).t(), grad.reshape(-1)).neg_()
            at_entries = r_digamma * g_at.sum(0)
            grad_log_r.index_add_(0, ctx.columns, at_entries)
            if log_r_mask is not None:
                _mask_clipped(grad_log_r, raw_log_r, log_r_mask)
        elif ctx.needs_input_grad[0]:
            grad_log_r = (r_softplus.view(-1, b, f) * minus_g).view(-1, b * f)
            grad_log_r.scatter_add_(1, at, r_digamma * g_at)
            grad_log_r = grad_log_r.view(shape)
            if log_r_mask is not None:
                _mask_clipped(grad_log_r, raw_log_r, log_r_mask)
        if ctx.needs_input_grad[1]:
            grad_logits = (r_p.view(-1, b, f) * minus_g).view(-1, b * f)
            grad_logits.scatter_add_(1, at, x_complement * g_at)
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
