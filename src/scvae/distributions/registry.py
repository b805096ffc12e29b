"""The likelihood table: name -> parameter heads and a constructor.

Each likelihood is one :class:`Likelihood` entry in ``_TABLE``: its ordered
parameter heads (output size per feature, activation, clip range) and a
function building the distribution from the activated, clipped parameters.
Adding a likelihood means adding one entry.

A model makes one output layer per head, of ``size * F`` units (``F`` features),
reshaped to ``(..., F)`` for ``size == 1`` and ``(..., F, size)`` otherwise, and
passes the raw (pre-activation) outputs to :func:`build`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Distribution
from torch.nn import functional

from scvae.distributions._common import MAX, TINY
from scvae.distributions.bernoulli import Bernoulli
from scvae.distributions.constrained_poisson import ConstrainedPoisson
from scvae.distributions.exponentially_modified_gaussian import ExponentiallyModifiedGaussian
from scvae.distributions.gamma import Gamma
from scvae.distributions.gaussian import Gaussian
from scvae.distributions.log_normal import LogNormal
from scvae.distributions.lomax import Lomax
from scvae.distributions.negative_binomial import NegativeBinomial
from scvae.distributions.piecewise_categorical import PiecewiseCategorical
from scvae.distributions.poisson import Poisson
from scvae.distributions.softplus_gaussian import SoftplusGaussian
from scvae.distributions.zero_inflated import ZeroInflated
from scvae.errors import ConfigError

__all__ = [
    "COUNT_LIKELIHOODS",
    "LIKELIHOOD_ALIASES",
    "LIKELIHOODS",
    "PIECEWISE_HEAD",
    "HeadSpec",
    "Likelihood",
    "LikelihoodError",
    "activate",
    "build",
    "canonical_name",
    "check_combination",
    "construct",
    "dispersion_head",
    "head_specs",
    "per_feature_head",
    "scale_head",
    "scale_head_for_mean",
]

INF = math.inf
PROBABILITY_LOGIT_BOUND = math.log((1.0 - TINY) / TINY)
"""Logit of ``1 - tiny``: a probability clipped to ``[tiny, 1 - tiny]`` in logit space."""

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "identity": lambda raw: raw,
    "softplus": functional.softplus,
    "log_softmax": lambda raw: torch.log_softmax(raw, dim=-1),
}
"""Activations by name; ``log_softmax`` normalises over the last (feature) dimension."""


class LikelihoodError(ConfigError, ValueError):
    """An unknown likelihood or a refused combination of options."""


@dataclass(frozen=True)
class HeadSpec:
    """One parameter head of a likelihood.

    Attributes
    ----------
    name
        Key of the head in ``raw_outputs`` and in the activated parameters.
    size
        Outputs per feature: 1, or ``K + 1`` logits for the piecewise head.
    activation
        A key of ``ACTIVATIONS``.
    low, high
        Clip range applied after the activation (``-inf``/``inf`` for none).
    """

    name: str
    size: int
    activation: str
    low: float
    high: float

    def apply(self, raw: Tensor) -> Tensor:
        """Activate and clip a raw output."""
        value = ACTIVATIONS[self.activation](raw)
        if self.low == -INF and self.high == INF:
            return value
        if self.low == -INF or self.high == INF:
            return value.clamp(self.low, self.high)
        # the same values as clamp; its backward is one fused kernel (clamp's takes four)
        return functional.hardtanh(value, self.low, self.high)


Factory = Callable[[Mapping[str, Tensor], "Tensor | None"], Distribution]


@dataclass(frozen=True)
class Likelihood:
    """One row of the likelihood table.

    Attributes
    ----------
    name
        Canonical name.
    heads
        Parameter heads, in order.
    factory
        ``factory(parameters, library_size)`` builds the distribution from the
        activated, clipped parameters.
    counts
        Whether the data must be non-negative integers.
    piecewise
        Whether the piecewise-categorical (k_max) wrapper may be applied.
    aliases
        Other accepted names.
    scale_head
        For count likelihoods whose mean scales with ``exp`` of one raw head (the NB's
        ``p_logits`` at a fixed ``r``, the Poisson's ``log_rate``), that head's name:
        adding ``log s`` to it multiplies the mean by ``s`` (a cell's library size).
    unclipped
        Optionally, ``unclipped(raw_outputs, specs)`` builds the distribution from the
        raw (identity-activated) outputs and clips them itself, where it can do so more
        cheaply (inside a fused likelihood). Used by :func:`build` without ``k_max``.
    """

    name: str
    heads: tuple[HeadSpec, ...]
    factory: Factory
    counts: bool = False
    piecewise: bool = True
    aliases: tuple[str, ...] = ()
    scale_head: str | None = None
    unclipped: Callable[[Mapping[str, Tensor], Mapping[str, HeadSpec]], Distribution] | None = None


def _head(
    name: str, activation: str = "identity", low: float = -INF, high: float = INF
) -> HeadSpec:
    return HeadSpec(name, 1, activation, low, high)


_LOCATION = (-MAX / 2.0, MAX / 2.0)
_POSITIVE = ("softplus", TINY, MAX)
_LOG_10 = (-10.0, 10.0)
_LOGIT = (-PROBABILITY_LOGIT_BOUND, PROBABILITY_LOGIT_BOUND)
_PI = _head("pi_logits", "identity", *_LOGIT)
_P = _head("p_logits", "identity", *_LOGIT)
_LOG_R = _head("log_r", "identity", *_LOG_10)
_LOG_RATE = _head("log_rate", "identity", *_LOG_10)


def _nb(p: Mapping[str, Tensor]) -> NegativeBinomial:
    return NegativeBinomial(p["log_r"], p["p_logits"])


def _unclipped_nb(raw: Mapping[str, Tensor], specs: Mapping[str, HeadSpec]) -> NegativeBinomial:
    bounds = tuple((specs[name].low, specs[name].high) for name in ("log_r", "p_logits"))
    return NegativeBinomial(raw["log_r"], raw["p_logits"], clip=bounds)  # type: ignore[arg-type]


def _constrained(p: Mapping[str, Tensor], library_size: Tensor | None) -> ConstrainedPoisson:
    if library_size is None:
        raise LikelihoodError("constrained_poisson needs the library size (raw count sum).")
    return ConstrainedPoisson(p["log_probs"], library_size)


_TABLE: tuple[Likelihood, ...] = (
    Likelihood(
        "poisson",
        (_LOG_RATE,),
        lambda p, n: Poisson(p["log_rate"]),
        counts=True,
        scale_head="log_rate",
    ),
    Likelihood(
        "negative_binomial",
        (_P, _LOG_R),
        lambda p, n: _nb(p),
        counts=True,
        aliases=("nb",),
        scale_head="p_logits",
        unclipped=_unclipped_nb,
    ),
    Likelihood(
        "zero_inflated_poisson",
        (_PI, _LOG_RATE),
        lambda p, n: ZeroInflated(Poisson(p["log_rate"]), p["pi_logits"]),
        counts=True,
        piecewise=False,
        aliases=("zip",),
        scale_head="log_rate",
    ),
    Likelihood(
        "zero_inflated_negative_binomial",
        (_PI, _P, _LOG_R),
        lambda p, n: ZeroInflated(_nb(p), p["pi_logits"]),
        counts=True,
        piecewise=False,
        aliases=("zinb",),
        scale_head="p_logits",
    ),
    Likelihood(
        "constrained_poisson",
        (_head("log_probs", "log_softmax", math.log(TINY), 0.0),),
        _constrained,
        counts=True,
        piecewise=False,
    ),
    Likelihood(
        "bernoulli", (_head("logits"),), lambda p, n: Bernoulli(p["logits"]), piecewise=False
    ),
    Likelihood(
        "gaussian",
        (_head("mu", "identity", *_LOCATION), _head("log_sigma", "identity", -3.0, 3.0)),
        lambda p, n: Gaussian(p["mu"], p["log_sigma"]),
    ),
    Likelihood(
        "log_normal",
        (_head("mean", "identity", *_LOCATION), _head("variance", *_POSITIVE)),
        lambda p, n: LogNormal(p["mean"], p["variance"]),
    ),
    Likelihood(
        "gamma",
        (_head("concentration", *_POSITIVE), _head("rate", *_POSITIVE)),
        lambda p, n: Gamma(p["concentration"], p["rate"]),
    ),
    Likelihood(
        "lomax",
        (
            _head("log_concentration", "identity", *_LOG_10),
            _head("log_scale", "identity", *_LOG_10),
        ),
        lambda p, n: Lomax(p["log_concentration"], p["log_scale"]),
    ),
    Likelihood(
        "softplus_gaussian",
        (_head("mean", "identity", *_LOCATION), _head("variance", *_POSITIVE)),
        lambda p, n: SoftplusGaussian(p["mean"], p["variance"]),
        aliases=("modified_gaussian",),
    ),
    Likelihood(
        "exponentially_modified_gaussian",
        (
            _head("location", "identity", *_LOCATION),
            _head("scale", *_POSITIVE),
            _head("rate", *_POSITIVE),
        ),
        lambda p, n: ExponentiallyModifiedGaussian(p["location"], p["scale"], p["rate"]),
    ),
)

_BY_NAME: dict[str, Likelihood] = {entry.name: entry for entry in _TABLE}
_ALIASES: dict[str, str] = {alias: entry.name for entry in _TABLE for alias in entry.aliases}

LIKELIHOODS: tuple[str, ...] = tuple(entry.name for entry in _TABLE)
"""Canonical likelihood names, in table order."""

LIKELIHOOD_ALIASES: dict[str, str] = dict(_ALIASES)
"""Other accepted names (``nb``, ``zinb``, ...) -> canonical name."""

COUNT_LIKELIHOODS: frozenset[str] = frozenset(entry.name for entry in _TABLE if entry.counts)
"""Likelihoods that need non-negative integer data."""

PIECEWISE_HEAD = "k_logits"
"""Name of the extra head of ``K + 1`` class logits per feature when ``k_max > 0``."""


def canonical_name(name: str) -> str:
    """The table name for ``name``: aliases, case, ``-`` and spaces are accepted.

    Raises
    ------
    LikelihoodError
        (a ``ValueError``) for an unknown name, listing the known ones.
    """
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in _BY_NAME:
        known = ", ".join(LIKELIHOODS + tuple(_ALIASES))
        raise LikelihoodError(f"Unknown likelihood {name!r}; choose one of: {known}.")
    return key


def scale_head(name: str) -> str | None:
    """The raw head whose shift by ``log s`` scales the likelihood's mean by ``s``, if any."""
    return _BY_NAME[canonical_name(name)].scale_head


def dispersion_head(name: str) -> str | None:
    """The raw head of the negative binomials' shape ``log r`` (their dispersion), if any."""
    return _LOG_R.name if _LOG_R.name in head_specs(name) else None


def per_feature_head(name: str, dispersion: str) -> str | None:
    """The head that ``--dispersion`` replaces by one learned value per feature, if any.

    ``dispersion="gene"`` does so for the dispersion head; ``"cell"`` for none.
    """
    return dispersion_head(name) if dispersion == "gene" else None


def scale_head_for_mean(name: str, raw_outputs: Mapping[str, Tensor], log_mean: Tensor) -> Tensor:
    """The raw value of the scale head that makes the likelihood's mean ``exp(log_mean)``.

    The other raw heads stay as they are. For the Poisson forms that is the log rate
    itself. For the negative binomials, whose mean is ``r p / (1 - p)``, it is the success
    logit ``log_mean - log r``, with ``log r`` clipped to its head's range first so that
    the mean does not depend on the dispersion.
    """
    key = canonical_name(name)
    head = scale_head(key)
    if head is None:
        raise LikelihoodError(f"The {key} likelihood has no mean to set.")
    if head == "p_logits":
        return log_mean - head_specs(key)["log_r"].apply(raw_outputs["log_r"])
    return log_mean


def check_combination(name: str, k_max: int) -> None:
    """Raise ``LikelihoodError`` (a ``ValueError``) if ``name`` cannot take ``k_max``."""
    entry = _BY_NAME[canonical_name(name)]
    if isinstance(k_max, bool) or not isinstance(k_max, int) or k_max < 0:
        raise LikelihoodError(f"k_max must be a non-negative integer; got {k_max!r}.")
    if k_max > 0 and not entry.piecewise:
        allowed = ", ".join(e.name for e in _TABLE if e.piecewise)
        raise LikelihoodError(
            f"The piecewise-categorical likelihood (k_max = {k_max}) cannot be combined "
            f"with {entry.name}; it works with: {allowed}."
        )


def head_specs(name: str, k_max: int = 0) -> dict[str, HeadSpec]:
    """Ordered parameter heads of a likelihood, keyed by head name.

    With ``k_max > 0`` an extra head ``"k_logits"`` of size ``k_max + 1``
    (identity, no clip) comes last.
    """
    check_combination(name, k_max)
    heads = {head.name: head for head in _BY_NAME[canonical_name(name)].heads}
    if k_max > 0:
        heads[PIECEWISE_HEAD] = HeadSpec(PIECEWISE_HEAD, k_max + 1, "identity", -INF, INF)
    return heads


def activate(name: str, raw_outputs: Mapping[str, Tensor], *, k_max: int = 0) -> dict[str, Tensor]:
    """Apply each head's activation and clip range to the raw outputs."""
    specs = head_specs(name, k_max)
    missing = [head for head in specs if head not in raw_outputs]
    if missing:
        raise LikelihoodError(f"Missing outputs for the {name} heads: {', '.join(missing)}.")
    return {head: spec.apply(raw_outputs[head]) for head, spec in specs.items()}


def construct(
    name: str,
    parameters: Mapping[str, Tensor],
    *,
    library_size: Tensor | None = None,
    k_max: int = 0,
) -> Distribution:
    """Build the distribution from already activated and clipped parameters."""
    check_combination(name, k_max)
    distribution = _BY_NAME[canonical_name(name)].factory(parameters, library_size)
    if k_max > 0:
        distribution = PiecewiseCategorical(distribution, parameters[PIECEWISE_HEAD])
    return distribution


def build(
    name: str,
    raw_outputs: Mapping[str, Tensor],
    *,
    library_size: Tensor | None = None,
    k_max: int = 0,
) -> Distribution:
    """Build the likelihood from raw head outputs.

    Parameters
    ----------
    name
        Likelihood name or alias.
    raw_outputs
        Pre-activation outputs per head name: ``(..., F)`` for size-1 heads,
        ``(..., F, k_max + 1)`` for ``"k_logits"``.
    library_size
        Raw count sums, broadcastable to ``(..., F)`` (e.g. ``(..., 1)``); needed
        by ``constrained_poisson`` and ignored by the others.
    k_max
        Number of exact-count classes of the piecewise-categorical wrapper (0: none).
    """
    entry = _BY_NAME[canonical_name(name)]
    if entry.unclipped is not None and k_max == 0:
        specs = head_specs(name)
        if all(head in raw_outputs for head in specs):
            return entry.unclipped(raw_outputs, specs)
    parameters = activate(name, raw_outputs, k_max=k_max)
    return construct(name, parameters, library_size=library_size, k_max=k_max)
