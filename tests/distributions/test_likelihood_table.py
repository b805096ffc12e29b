"""One table for every registered likelihood: log-densities against scipy.stats.

Each row gives raw (pre-activation) grids for the heads, which include values
past the clip bounds and the bounds themselves, a data grid, and a float64
reference built from ``scipy.stats`` (or a closed form where scipy loses
precision, said at the row). The same rows drive the float32 finiteness test.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from scipy import special, stats

from scvae.distributions import registry

Params = dict[str, np.ndarray]
Reference = Callable[[Params, np.ndarray], np.ndarray]

COUNTS = np.unique(np.concatenate([np.arange(21.0), np.round(np.logspace(1.5, 6, 14))]))
POSITIVE = np.array([0.0, 1e-4, 0.01, 0.3, 1.0, 2.5, 10.0, 123.4, 1e3, 1e5])
REAL = np.array([-1e5, -30.0, -2.0, -0.5, 0.0, 0.1, 1.5, 7.0, 40.0, 1e3, 1e5])

LOGIT_BOUND = registry.PROBABILITY_LOGIT_BOUND
BIG = 1e39  # past float32 max: a raw value that any clip brings back to its bound
LOG_10_GRID = [-50.0, -10.0, -3.0, 0.0, 2.2, 10.0, 50.0]
LOGIT_GRID = [-1e3, -LOGIT_BOUND, -25.0, -4.0, 0.0, 1.5, 20.0, LOGIT_BOUND, 1e3]
SOFTPLUS_GRID = [-200.0, -3.0, 0.0, 1.0, 5.0, 60.0]
LOCATION_GRID = [-BIG, -1e3, -1.0, 0.0, 2.0, 1e4, BIG]


@dataclass(frozen=True)
class Row:
    """A likelihood, its raw head grids, its data and its float64 reference."""

    name: str
    raw: dict[str, list]
    data: np.ndarray
    reference: Reference
    k_max: int = 0
    library_size: list[float] = field(default_factory=list)
    skip: Callable[[Params], np.ndarray] | None = None
    """Parameter combinations that float64 itself cannot resolve (said at the row)."""

    @property
    def id(self) -> str:
        return f"{self.name}-k{self.k_max}" if self.k_max else self.name

    def raw_arrays(self) -> tuple[Params, np.ndarray | None]:
        """Cartesian product of the head grids.

        Scalar grid values become shape (P, 1), per-feature vectors (P, D) and
        the piecewise logits (P, 1, K + 1); library sizes come back as (P, 1).
        """
        grids = list(self.raw.values()) + [self.library_size or [None]]
        combos = list(itertools.product(*grids))
        arrays = {}
        for i, head in enumerate(self.raw):
            values = np.array([combo[i] for combo in combos], dtype=np.float64)
            if head == "k_logits":
                arrays[head] = values[:, None, :]
            else:
                arrays[head] = values if values.ndim == 2 else values[:, None]
        if not self.library_size:
            return arrays, None
        return arrays, np.array([combo[-1] for combo in combos], dtype=np.float64)[:, None]


# ---------------------------------------------------------------- references


def _zero_inflate(base: Reference) -> Reference:
    def reference(p: Params, x: np.ndarray) -> np.ndarray:
        log_pi, log_keep = special.log_expit(p["pi_logits"]), special.log_expit(-p["pi_logits"])
        at_zero = np.logaddexp(log_pi, log_keep + base(p, np.zeros_like(x)))
        return np.where(x == 0, at_zero, log_keep + base(p, x))

    return reference


def _poisson(p: Params, x: np.ndarray) -> np.ndarray:
    return stats.poisson.logpmf(x, np.exp(p["log_rate"]))


def _negative_binomial(p: Params, x: np.ndarray) -> np.ndarray:
    # scipy's nbinom(n, q) has pmf C(x+n-1, x) q^n (1-q)^x, so q = 1 - p = expit(-logits).
    # Below logits of -30, q rounds to 1 in float64 and scipy's log(1 - q) is lost:
    # there the closed form with log-sigmoids is used.
    r, logits = np.exp(p["log_r"]), p["p_logits"]
    with np.errstate(divide="ignore"):
        scipy_value = stats.nbinom.logpmf(x, r, special.expit(-logits))
    closed = (
        special.gammaln(x + r)
        - special.gammaln(r)
        - special.gammaln(x + 1)
        + x * special.log_expit(logits)
        + r * special.log_expit(-logits)
    )
    return np.where(logits > -30, scipy_value, closed)


def _constrained_poisson(p: Params, x: np.ndarray) -> np.ndarray:
    # A library size of zero is floored at float32 tiny (documented), keeping logs finite.
    size = np.maximum(p["library_size"], np.finfo(np.float32).tiny)
    return stats.poisson.logpmf(x, np.exp(p["log_probs"]) * size)


def _bernoulli(p: Params, x: np.ndarray) -> np.ndarray:
    # Closed form: scipy's bernoulli(expit(logits)) rounds p to 1 for large logits.
    return x * special.log_expit(p["logits"]) + (1 - x) * special.log_expit(-p["logits"])


def _gaussian(p: Params, x: np.ndarray) -> np.ndarray:
    return stats.norm.logpdf(x, p["mu"], np.exp(p["log_sigma"]))


def _log_normal(p: Params, x: np.ndarray) -> np.ndarray:
    # lognorm(s, scale=exp(mean)) overflows for large means; use its definition instead.
    with np.errstate(divide="ignore"):
        log_x = np.log(x)
        value = stats.norm.logpdf(log_x, p["mean"], np.sqrt(p["variance"])) - log_x
    return np.where(x > 0, value, -np.inf)


def _gamma(p: Params, x: np.ndarray) -> np.ndarray:
    return stats.gamma.logpdf(x, p["concentration"], scale=1.0 / p["rate"])


def _lomax(p: Params, x: np.ndarray) -> np.ndarray:
    return stats.lomax.logpdf(x, np.exp(p["log_concentration"]), scale=np.exp(p["log_scale"]))


def _softplus_gaussian(p: Params, x: np.ndarray) -> np.ndarray:
    return stats.norm.logpdf(x, p["mean"], np.sqrt(p["variance"]))


def _emg_high_precision(x: float, loc: float, scale: float, rate: float) -> float:
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(250):
        x, loc, scale, rate = (mpmath.mpf(value) for value in (x, loc, scale, rate))
        u = (loc + rate * scale**2 - x) / (mpmath.sqrt(2) * scale)
        exponent = rate * (loc - x) + rate**2 * scale**2 / 2
        return float(mpmath.log(rate / 2) + exponent + mpmath.log(mpmath.erfc(u)))


def _emg(p: Params, x: np.ndarray) -> np.ndarray:
    # scipy's exponnorm subtracts two terms of order (scale rate)^2, so for
    # scale * rate > 1e4 the definition is evaluated with mpmath at 250 digits.
    loc, scale, rate = np.broadcast_arrays(x, p["location"], p["scale"], p["rate"])[1:]
    x = np.broadcast_to(x, loc.shape)
    value = stats.exponnorm.logpdf(x, 1.0 / (scale * rate), loc=loc, scale=scale)
    hard = scale * rate > 1e4
    exact = np.vectorize(_emg_high_precision)(x[hard], loc[hard], scale[hard], rate[hard])
    value[hard] = exact
    return value


def _piecewise(base: Reference, k_max: int) -> Reference:
    def reference(p: Params, x: np.ndarray) -> np.ndarray:
        log_classes = special.log_softmax(p["k_logits"], axis=-1)
        shape = np.broadcast_shapes(x.shape, log_classes.shape[:-1])
        index = np.broadcast_to(np.minimum(x, k_max).astype(int), shape)
        log_class = np.take_along_axis(
            np.broadcast_to(log_classes, shape + (k_max + 1,)), index[..., None], axis=-1
        )[..., 0]
        tail = base(p, np.maximum(x - k_max, 0))
        return np.where(x >= k_max, log_class + tail, log_class)

    return reference


def _k_logits(k_max: int) -> list[list[float]]:
    rng = np.random.default_rng(k_max)
    extreme = [60.0, -60.0] + [0.0] * (k_max - 1)
    return [[0.0] * (k_max + 1), list(rng.normal(0, 2, k_max + 1)), extreme]


def _per_feature_logits(features: int) -> list[list[float]]:
    rng = np.random.default_rng(features)
    extreme = np.zeros(features)
    extreme[::3], extreme[1::3] = -1e3, 50.0
    return [[0.0] * features, list(rng.normal(0, 3, features)), list(extreme)]


# --------------------------------------------------------------------- table

ROWS = [
    Row("poisson", {"log_rate": LOG_10_GRID}, COUNTS, _poisson),
    Row(
        "negative_binomial",
        {"p_logits": LOGIT_GRID, "log_r": LOG_10_GRID},
        COUNTS,
        _negative_binomial,
    ),
    Row(
        "zero_inflated_poisson",
        {"pi_logits": LOGIT_GRID, "log_rate": LOG_10_GRID},
        COUNTS,
        _zero_inflate(_poisson),
    ),
    Row(
        "zero_inflated_negative_binomial",
        {"pi_logits": LOGIT_GRID, "p_logits": LOGIT_GRID, "log_r": LOG_10_GRID},
        COUNTS,
        _zero_inflate(_negative_binomial),
    ),
    Row(
        "constrained_poisson",
        {"log_probs": _per_feature_logits(len(COUNTS))},
        COUNTS,
        _constrained_poisson,
        library_size=[0.0, 1.0, 37.0, 1e4, 1e6],
    ),
    Row(
        "bernoulli",
        {"logits": [-1e4, -50.0, -3.0, 0.0, 0.7, 30.0, 1e4]},
        np.array([0.0, 1.0]),
        _bernoulli,
    ),
    Row(
        "gaussian",
        {"mu": LOCATION_GRID, "log_sigma": [-10.0, -3.0, -1.0, 0.0, 1.2, 3.0, 10.0]},
        REAL,
        _gaussian,
    ),
    Row(
        "log_normal",
        {"mean": LOCATION_GRID, "variance": SOFTPLUS_GRID + [BIG]},
        POSITIVE,
        _log_normal,
    ),
    Row(
        "gamma",
        {"concentration": SOFTPLUS_GRID + [BIG], "rate": SOFTPLUS_GRID + [BIG]},
        POSITIVE[1:],
        _gamma,
        # Both at float32 max: the log-density (about 43) is the difference of
        # terms of order 1e40, below float64 resolution for scipy and for us.
        skip=lambda p: (p["concentration"] > 1e38) & (p["rate"] > 1e38),
    ),
    Row(
        "lomax",
        {"log_concentration": LOG_10_GRID, "log_scale": LOG_10_GRID},
        POSITIVE,
        _lomax,
    ),
    Row(
        "softplus_gaussian",
        {"mean": LOCATION_GRID, "variance": SOFTPLUS_GRID + [BIG]},
        REAL,
        _softplus_gaussian,
    ),
    Row(
        "exponentially_modified_gaussian",
        {
            "location": LOCATION_GRID,
            "scale": SOFTPLUS_GRID + [BIG],
            "rate": SOFTPLUS_GRID + [BIG],
        },
        REAL,
        _emg,
    ),
    Row(
        "poisson",
        {"log_rate": LOG_10_GRID, "k_logits": _k_logits(3)},
        COUNTS,
        _piecewise(_poisson, 3),
        k_max=3,
    ),
    Row(
        "negative_binomial",
        {"p_logits": LOGIT_GRID, "log_r": LOG_10_GRID, "k_logits": _k_logits(5)},
        COUNTS,
        _piecewise(_negative_binomial, 5),
        k_max=5,
    ),
    Row(
        "gaussian",
        {"mu": [-1.0, 0.0, 4.0], "log_sigma": [-3.0, 0.0, 3.0], "k_logits": _k_logits(2)},
        COUNTS,
        _piecewise(_gaussian, 2),
        k_max=2,
    ),
]


def _as_tensors(arrays: Params, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    return {head: torch.tensor(values, dtype=dtype) for head, values in arrays.items()}


def _evaluate(row: Row, dtype: torch.dtype) -> tuple[torch.Tensor, Params, dict]:
    """Our log-densities (P, D), the activated parameters as float64 arrays, and tensors."""
    arrays, sizes = row.raw_arrays()
    raw = _as_tensors(arrays, dtype)
    library_size = None if sizes is None else torch.tensor(sizes, dtype=dtype)
    parameters = registry.activate(row.name, raw, k_max=row.k_max)
    distribution = registry.construct(
        row.name, parameters, library_size=library_size, k_max=row.k_max
    )
    value = torch.tensor(row.data, dtype=dtype)
    as_numpy = {head: tensor.detach().double().numpy() for head, tensor in parameters.items()}
    if sizes is not None:
        as_numpy["library_size"] = sizes
    return distribution.log_prob(value), as_numpy, {"raw": raw, "parameters": parameters}


def test_every_likelihood_has_a_row() -> None:
    assert {row.name for row in ROWS} == set(registry.LIKELIHOODS)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_log_prob_matches_reference(row: Row) -> None:
    ours, parameters, _ = _evaluate(row, torch.float64)
    with np.errstate(all="ignore"):
        expected = np.broadcast_to(row.reference(parameters, row.data), ours.shape)
    keep = np.ones(ours.shape, dtype=bool)
    if row.skip is not None:
        keep &= ~np.broadcast_to(row.skip(parameters), ours.shape)
    np.testing.assert_allclose(ours.numpy()[keep], expected[keep], rtol=1e-5, atol=1e-8)


def _per_point(row: Row, dtype: torch.dtype) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Log-densities (P, D) and their gradients with respect to every raw output
    and every activated parameter, each raw output expanded to one copy per point."""
    arrays, sizes = row.raw_arrays()
    points = (next(iter(arrays.values())).shape[0], len(row.data))
    raw = {}
    for head, values in arrays.items():
        expanded = np.broadcast_to(values, points + values.shape[2:]).copy()
        raw[head] = torch.tensor(expanded, dtype=dtype, requires_grad=True)
    parameters = registry.activate(row.name, raw, k_max=row.k_max)
    for tensor in parameters.values():
        tensor.retain_grad()
    library_size = None if sizes is None else torch.tensor(sizes, dtype=dtype)
    distribution = registry.construct(
        row.name, parameters, library_size=library_size, k_max=row.k_max
    )
    log_prob = distribution.log_prob(torch.tensor(row.data, dtype=dtype))
    log_prob.backward(gradient=torch.ones_like(log_prob))
    gradients = {}
    for head in raw:
        for kind, tensor in (("raw", raw[head]), ("parameter", parameters[head])):
            gradient = tensor.grad.reshape(points + (-1,)).double().numpy()
            gradients[f"{kind} {head}"] = gradient
    return log_prob.detach().double().numpy(), gradients


def _representable(values: np.ndarray) -> np.ndarray:
    return np.isfinite(values) & (np.abs(values) < 1e30)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_log_prob_and_gradients_are_finite_in_float32(row: Row) -> None:
    """Finite in float32 wherever the float64 value (or gradient) is representable.

    For the count likelihoods that is every combination of clip bounds with
    counts up to 1e6. For continuous ones a location at +-max/2 or a scale of
    float32 tiny can put the exact log-density (or its derivative in that
    parameter) beyond float32 range; those points are left out.
    """
    exact, exact_gradients = _per_point(row, torch.float64)
    ours, gradients = _per_point(row, torch.float32)
    checked = _representable(exact)
    if row.skip is not None:
        checked &= ~np.broadcast_to(row.skip(_evaluate(row, torch.float64)[1]), exact.shape)
    if row.name in registry.COUNT_LIKELIHOODS:
        assert checked.all()
    assert np.isfinite(ours[checked]).all()
    for key, gradient in gradients.items():
        mask = checked[..., None] & _representable(exact_gradients[key])
        if row.name in registry.COUNT_LIKELIHOODS:
            assert mask.all(), key
        assert np.isfinite(gradient[mask]).all(), key
