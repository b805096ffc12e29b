"""Each log-density kernel on its own: reference values, limits and stability."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special, stats

from scvae.distributions import kernels

F64 = torch.float64


def _t(values: object, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=dtype)


def test_poisson_matches_scipy_and_handles_zero_rate() -> None:
    x = np.arange(0.0, 40.0)[:, None]
    log_rate = np.array([-10.0, -1.0, 0.0, 2.5, 10.0])
    ours = kernels.poisson_log_prob(_t(x), _t(log_rate)).numpy()
    np.testing.assert_allclose(ours, stats.poisson.logpmf(x, np.exp(log_rate)), rtol=1e-12)
    at_zero_rate = kernels.poisson_log_prob(_t([0.0, 3.0]), _t(-math.inf))
    assert at_zero_rate[0] == 0.0 and at_zero_rate[1] == -math.inf


def test_negative_binomial_matches_scipy_and_convention() -> None:
    x = np.array([0.0, 1.0, 5.0, 80.0, 1e4])[:, None, None]
    log_r = np.array([-5.0, 0.0, 3.0])[:, None]
    logits = np.array([-8.0, -0.5, 0.0, 4.0, 15.0])
    ours = kernels.negative_binomial_log_prob(_t(x), _t(log_r), _t(logits)).numpy()
    # scipy's nbinom(n, q): C(x+n-1, x) q^n (1-q)^x, so q = 1 - p.
    expected = stats.nbinom.logpmf(x, np.exp(log_r), special.expit(-logits))
    np.testing.assert_allclose(ours, expected, rtol=1e-10)


def test_negative_binomial_is_stable_for_extreme_probabilities_in_float32() -> None:
    logits = torch.tensor([-87.3, -30.0, 30.0, 87.3], requires_grad=True)
    value = torch.tensor([[0.0], [1.0], [1e6]])
    log_prob = kernels.negative_binomial_log_prob(value, torch.tensor(10.0), logits)
    log_prob.sum().backward()
    assert torch.isfinite(log_prob).all() and torch.isfinite(logits.grad).all()
    # With p -> 0 every count but zero is (nearly) impossible: log f(0) -> 0.
    assert log_prob[0, 0].abs() < 1e-6


def test_zero_inflation_mixes_in_log_space() -> None:
    x = torch.arange(0.0, 200.0, dtype=F64)
    log_rate = torch.tensor(2.0, dtype=F64)
    base = kernels.poisson_log_prob(x, log_rate)
    base_zero = kernels.poisson_log_prob(torch.zeros((), dtype=F64), log_rate)
    for pi in (1e-30, 0.2, 0.7, 1.0 - 1e-12):
        pi_logit = torch.tensor(special.logit(pi), dtype=F64)
        log_prob = kernels.zero_inflated_log_prob(x, pi_logit, base, base_zero)
        assert torch.logsumexp(log_prob, 0).abs() < 1e-12  # sums to one
        expected_zero = math.log(pi + (1 - pi) * math.exp(-math.exp(2.0)))
        assert log_prob[0].item() == pytest.approx(expected_zero, rel=1e-12)
        assert log_prob[3].item() == pytest.approx(math.log1p(-pi) + base[3].item(), rel=1e-9)
    # pi at the clip bound in logit space: log(1 - pi) stays finite (-87.3).
    far = kernels.zero_inflated_log_prob(x[:3], torch.tensor(87.3, dtype=F64), base[:3], base_zero)
    assert torch.isfinite(far).all() and far[0].abs() < 1e-30


def test_mixture_log_prob_matches_brute_force_and_avoids_underflow() -> None:
    generator = np.random.default_rng(1)
    logits = generator.normal(size=(4, 5))
    component = generator.normal(scale=3.0, size=(4, 5))
    ours = kernels.mixture_log_prob(_t(logits), _t(component)).numpy()
    weights = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(ours, np.log((weights * np.exp(component)).sum(-1)), rtol=1e-12)
    # Component log-densities of -1e4 would underflow if exponentiated directly.
    shifted = kernels.mixture_log_prob(
        _t(logits, torch.float32), _t(component - 1e4, torch.float32)
    )
    np.testing.assert_allclose(shifted.numpy(), ours - 1e4, rtol=1e-6)
    impossible = kernels.mixture_log_prob(torch.zeros(3), torch.full((3,), -math.inf))
    assert impossible == -math.inf


def test_log_mean_exp_matches_numpy_without_overflow() -> None:
    values = np.array([[1e4, 1e4 + 1.0, 1e4 - 3.0], [-5.0, 0.0, 2.0]])
    ours = kernels.log_mean_exp(_t(values, torch.float32), dim=-1).numpy()
    expected = special.logsumexp(values, axis=-1) - math.log(3)
    np.testing.assert_allclose(ours, expected, rtol=1e-6)
    # along a dimension of one sample: the values themselves
    single = kernels.log_mean_exp(_t(values[:, :1], torch.float32), dim=-1).numpy()
    np.testing.assert_allclose(single, special.logsumexp(values[:, :1], axis=-1), rtol=1e-7)


def test_normal_log_prob_standardises_before_squaring() -> None:
    x = np.array([-3.0, 0.0, 1.0, 40.0])
    ours = kernels.normal_log_prob(_t(x), _t(1.0), _t(math.log(2.0))).numpy()
    np.testing.assert_allclose(ours, stats.norm.logpdf(x, 1.0, 2.0), rtol=1e-12)
    # (x - loc)^2 = 1e40 overflows float32, the standardised square (100) does not.
    big = kernels.normal_log_prob(torch.tensor(1e20), torch.tensor(0.0), torch.tensor(43.75))
    assert torch.isfinite(big)


@pytest.mark.parametrize(
    ("loc", "scale", "rate"), [(0.0, 1.0, 1.0), (2.0, 0.3, 4.0), (-1.0, 2.0, 0.2)]
)
def test_emg_matches_scipy_and_integrates_to_one(loc: float, scale: float, rate: float) -> None:
    x = np.linspace(-20.0, 60.0, 41)
    ours = kernels.emg_log_prob(_t(x), _t(loc), _t(scale), _t(rate)).numpy()
    expected = stats.exponnorm.logpdf(x, 1.0 / (scale * rate), loc=loc, scale=scale)
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12)

    def density(value: float) -> float:
        return math.exp(kernels.emg_log_prob(_t(value), _t(loc), _t(scale), _t(rate)).item())

    total, _ = integrate.quad(density, -np.inf, np.inf, limit=200)
    assert total == pytest.approx(1.0, abs=1e-7)


def test_emg_is_continuous_across_its_regimes() -> None:
    # u = (rate scale - (x - loc) / scale) / sqrt(2) crosses 0 and 1e5.
    scale, rate = torch.tensor(1.0, dtype=F64), torch.tensor(1.0, dtype=F64)
    for u in (0.0, 1e5):
        x = rate * scale - math.sqrt(2.0) * torch.tensor([u - 1e-9, u + 1e-9], dtype=F64)
        below, above = kernels.emg_log_prob(x, torch.tensor(0.0, dtype=F64), scale, rate)
        assert below.item() == pytest.approx(above.item(), rel=1e-8)


def test_emg_tends_to_its_limits() -> None:
    x = torch.tensor([0.5, 3.0], dtype=F64)
    # scale -> 0: an exponential shifted by loc.
    exponential = kernels.emg_log_prob(x, *_t([0.0, 1e-30, 2.0]))
    np.testing.assert_allclose(exponential.numpy(), math.log(2.0) - 2.0 * x.numpy(), rtol=1e-12)
    # rate -> infinity: a normal.
    normal = kernels.emg_log_prob(x, *_t([1.0, 2.0, 1e30]))
    np.testing.assert_allclose(normal.numpy(), stats.norm.logpdf(x.numpy(), 1.0, 2.0), rtol=1e-12)


def test_sparse_negative_binomial_path_equals_the_dense_one_with_gradients():
    from scvae.distributions.kernels import negative_binomial_log_prob

    generator = torch.Generator().manual_seed(3)
    counts = torch.poisson(torch.rand(4, 50, generator=generator) * 0.3).double()
    counts[0] = 0.0  # an all-zero row
    results = []
    for sparse in (True, False):
        log_r = torch.randn(2, 4, 50, generator=torch.Generator().manual_seed(1)).double()
        logits = torch.randn(2, 4, 50, generator=torch.Generator().manual_seed(2)).double()
        log_r.requires_grad_(True)
        logits.requires_grad_(True)
        value = negative_binomial_log_prob(counts, log_r, logits, sparse=sparse)
        value.sum().backward()
        results.append((value.detach(), log_r.grad, logits.grad))
    for sparse_result, dense_result in zip(*results, strict=True):
        torch.testing.assert_close(sparse_result, dense_result, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("leading", [(), (1, 1), (2, 3)])
def test_fused_negative_binomial_sum_matches_scipy_and_its_gradients_are_exact(leading):
    generator = torch.Generator().manual_seed(5)
    counts = torch.poisson(torch.rand(4, 30, generator=generator) * 2.0).double()
    counts[1] = 0.0  # an all-zero cell
    counts[2, 3] = 7e4  # a huge count
    log_r = (torch.randn(*leading, 4, 30, generator=generator) * 3).clamp(-10, 10).double()
    logits = (torch.randn(*leading, 4, 30, generator=generator) * 5).double()
    log_r.requires_grad_(True)
    logits.requires_grad_(True)
    fused = kernels.negative_binomial_log_prob_sum(counts, log_r, logits)
    expected = stats.nbinom.logpmf(
        counts.numpy(), np.exp(log_r.detach().numpy()), special.expit(-logits.detach().numpy())
    ).sum(-1)
    np.testing.assert_allclose(fused.detach().numpy(), expected, rtol=1e-10)
    # the hand-written backward against finite differences and against autograd
    small = counts[:3, :6]
    small_parameters = (
        log_r.detach()[..., :3, :6].clone().requires_grad_(True),
        logits.detach()[..., :3, :6].clone().requires_grad_(True),
    )
    assert torch.autograd.gradcheck(
        lambda a, b: kernels.negative_binomial_log_prob_sum(small, a, b), small_parameters
    )
    weights = torch.rand(fused.shape, generator=generator, dtype=F64)
    (fused * weights).sum().backward()
    grads = log_r.grad.clone(), logits.grad.clone()
    log_r.grad = logits.grad = None
    dense = kernels.negative_binomial_log_prob(counts, log_r, logits, sparse=False).sum(-1)
    (dense * weights).sum().backward()
    torch.testing.assert_close(grads[0], log_r.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grads[1], logits.grad, rtol=1e-10, atol=1e-12)


def test_fused_negative_binomial_sum_takes_given_entries_including_stored_zeros():
    import scipy.sparse as sp

    from scvae.data.batches import dense_rows

    matrix = sp.random(9, 20, density=0.3, format="csr", random_state=2) * 10
    matrix.data = np.floor(matrix.data)  # some stored values become explicit zeros
    assert (matrix.data == 0).any()
    rows = np.array([7, 0, 3, 3, 5, 1])  # any order, repeats allowed
    counts, entries = dense_rows(matrix, rows)
    np.testing.assert_array_equal(counts.numpy(), matrix[rows].toarray())  # scipy's own
    counts = counts.double()
    log_r, logits = torch.randn(2, 6, 20, dtype=F64), torch.randn(2, 6, 20, dtype=F64)
    given = kernels.negative_binomial_log_prob_sum(counts, log_r, logits, entries)
    found = kernels.negative_binomial_log_prob_sum(counts, log_r, logits)
    dense = kernels.negative_binomial_log_prob(counts, log_r, logits, sparse=False).sum(-1)
    torch.testing.assert_close(given, dense, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(found, dense, rtol=1e-12, atol=1e-12)


def test_rising_factorial_and_digamma_difference_match_scipy_for_small_and_large_counts():
    # whole counts on both sides of SMALL_COUNT (finite products and sums below, the
    # shifted Stirling series above) and counts that are not whole (the series)
    counts = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 17.0, 1000.0, 1e5, 0.5, 3.25, 7.5])
    r = np.array([4.5e-5, 0.3, 1.0, 50.0, 22026.0])[:, None]
    x, r_tensor = _t(counts), _t(np.broadcast_to(r, (5, counts.size)).copy())
    np.testing.assert_allclose(
        kernels.log_rising_factorial(x, r_tensor).numpy(),
        special.gammaln(counts + r) - special.gammaln(r),
        rtol=1e-10,
        atol=1e-12,
    )
    np.testing.assert_allclose(
        kernels.digamma_difference(x, r_tensor).numpy(),
        special.psi(counts + r) - special.psi(r),
        rtol=1e-10,
        atol=1e-14,
    )
    # in float32 the finite sums and products (small counts) and the log1p forms (large
    # ones) stay accurate where the differences of torch's functions cancel (digamma by
    # 1e-2 at r = 22026, log-gamma by 3e-5 relative)
    single = kernels.digamma_difference(x.float(), r_tensor.float()).double().numpy()
    expected = special.psi(counts + r) - special.psi(r)
    np.testing.assert_allclose(single, expected, rtol=1e-6)
    naive = torch.digamma(x.float() + r_tensor.float()) - torch.digamma(r_tensor.float())
    assert not np.allclose(naive.double().numpy(), expected, rtol=1e-6)
    single = kernels.log_rising_factorial(x.float(), r_tensor.float()).double().numpy()
    expected = special.gammaln(counts + r) - special.gammaln(r)
    np.testing.assert_allclose(single, expected, rtol=2e-6, atol=1e-6)
    naive = torch.lgamma(x.float() + r_tensor.float()) - torch.lgamma(r_tensor.float())
    assert not np.allclose(naive.double().numpy(), expected, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_count_terms_log_factorials_match_scipy_inside_and_beyond_the_table(dtype):
    whole = _t([0.0, 1.0, 2.0, 7.0, 300.0, 65535.0], dtype)
    beyond = _t([0.0, 3.0, 65536.0, 2.5e5], dtype)
    broken = _t([1.0, 2.5], dtype)  # not whole: torch.lgamma
    for values in (whole, beyond, broken):
        expected = special.gammaln(values.double().numpy() + 1.0)
        got = kernels.CountTerms.of(values).log_factorial.double().numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-6 if dtype == torch.float32 else 1e-12)


@pytest.mark.parametrize("largest", [15.0, 85.0, 300.0])
def test_fused_negative_binomial_sum_holds_for_any_logit(largest):
    """Below a largest logit of 80 the kernel derives log(1 - p) and p from one exp(logits),
    above it it uses softplus and sigmoid: both match the dense log-pmf (in logit space
    throughout) and its autograd gradients, and scipy where scipy's p = 1 - sigmoid(logits)
    is itself exact (moderate logits; beyond, 1 - p loses digits in float64)."""
    generator = torch.Generator().manual_seed(8)
    counts = torch.poisson(torch.rand(3, 25, generator=generator) * 4.0).double()
    log_r = (torch.randn(2, 3, 25, generator=generator, dtype=F64) * 2).requires_grad_(True)
    logits = torch.rand(2, 3, 25, generator=generator, dtype=F64) * 2 * largest - largest
    logits[0, 0, 0] = largest
    logits.requires_grad_(True)
    fused = kernels.negative_binomial_log_prob_sum(counts, log_r, logits)
    if largest < 20:
        expected = stats.nbinom.logpmf(
            counts.numpy(), np.exp(log_r.detach().numpy()), special.expit(-logits.detach().numpy())
        ).sum(-1)
        np.testing.assert_allclose(fused.detach().numpy(), expected, rtol=1e-10)
    fused.sum().backward()
    grads = log_r.grad.clone(), logits.grad.clone()
    log_r.grad = logits.grad = None
    dense = kernels.negative_binomial_log_prob(counts, log_r, logits, sparse=False).sum(-1)
    torch.testing.assert_close(fused, dense, rtol=1e-10, atol=1e-9)
    dense.sum().backward()
    torch.testing.assert_close(grads[0], log_r.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grads[1], logits.grad, rtol=1e-10, atol=1e-12)


def _fused_and_clipped_dense(counts, log_r, logits, weights, bounds):
    """``(value, log_r's gradient, logits' gradient)`` of the weighted fused sum with
    ``clip=bounds``, and of the dense log-pmf of the hardtanh-clipped parameters (``log_r``
    broadcast to the logits' shape), both through autograd."""

    def gradients(function):
        a, b = log_r.clone().requires_grad_(True), logits.clone().requires_grad_(True)
        value = function(a, b)
        (value * weights).sum().backward()
        return value.detach(), a.grad, b.grad

    fused = gradients(
        lambda a, b: kernels.negative_binomial_log_prob_sum(counts, a, b, clip=bounds)
    )
    reference = gradients(
        lambda a, b: kernels.negative_binomial_log_prob(
            counts,
            torch.nn.functional.hardtanh(a, *bounds[0]).expand(b.shape),
            torch.nn.functional.hardtanh(b, *bounds[1]),
            sparse=False,
        ).sum(-1)
    )
    return fused, reference


@pytest.mark.parametrize("outside", [False, True])
def test_fused_negative_binomial_sum_clips_like_hardtanh(outside):
    """Clipping inside the kernel (skipped when nothing is out of range) equals clipping
    the parameters with hardtanh first, in value and gradient, including values exactly
    at a bound (no gradient there, as hardtanh)."""
    generator = torch.Generator().manual_seed(11)
    counts = torch.poisson(torch.rand(5, 40, generator=generator) * 3.0).double()
    counts[0, :3] = torch.tensor([0.0, 6.0, 300.0])
    log_r = torch.randn(3, 5, 40, generator=generator, dtype=F64) * 3
    logits = torch.randn(3, 5, 40, generator=generator, dtype=F64) * 3
    bounds = ((-4.0, 4.0), (-6.0, 6.0)) if outside else ((-30.0, 30.0), (-50.0, 50.0))
    if outside:
        log_r[0, 0, :4] = torch.tensor([-4.0, 4.0, -9.0, 12.0])  # at and beyond bounds
        logits[1, 0, :3] = torch.tensor([6.0, -6.0, 20.0])
        assert (log_r.abs() > 4).any() and (logits.abs() > 6).any()
    weights = torch.rand(3, 5, generator=generator, dtype=F64)

    fused, reference = _fused_and_clipped_dense(counts, log_r, logits, weights, bounds)
    for got, expected in zip(fused, reference, strict=True):  # (threads sum in any order)
        torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-10)
    if outside:
        assert fused[1][0, 0, :4].eq(0).all() and fused[2][1, 0, :3].eq(0).all()


def test_negative_binomial_from_raw_outputs_clips_where_used():
    from scvae.distributions import registry

    generator = torch.Generator().manual_seed(3)
    raw = {
        "p_logits": torch.randn(4, 6, generator=generator) * 200,  # beyond the logit bound
        "log_r": torch.randn(4, 6, generator=generator) * 20,  # beyond +-10
    }
    built = registry.build("negative_binomial", raw)
    specs = registry.head_specs("negative_binomial")
    assert built.log_r.abs().max() <= 10 and built.log_r.abs().max() == 10
    torch.testing.assert_close(built.logits, specs["p_logits"].apply(raw["p_logits"]))
    counts = torch.poisson(torch.rand(4, 6, generator=generator) * 4)
    clipped = registry.construct(
        "negative_binomial", {name: specs[name].apply(raw[name]) for name in raw}
    )
    torch.testing.assert_close(built.log_prob(counts), clipped.log_prob(counts))
    torch.testing.assert_close(built.log_prob_sum(counts), clipped.log_prob(counts).sum(-1))
    torch.testing.assert_close(built.mean, clipped.mean)


@pytest.mark.parametrize("leading", [(), (3,), (2, 2)])
@pytest.mark.parametrize("outside", [False, True])
def test_fused_negative_binomial_sum_with_one_r_a_feature(leading, outside):
    """With ``log_r`` of shape ``(F,)`` (one r a feature, broadcast over samples and cells)
    the fused sum equals scipy's log-pmf, and its gradients equal autograd's through the
    dense log-pmf of the broadcast parameters clipped by hardtanh (the gradient of log r
    summed over every sample and cell; none at or beyond a bound)."""
    generator = torch.Generator().manual_seed(13)
    counts = torch.poisson(torch.rand(6, 35, generator=generator) * 3.0).double()
    counts[1] = 0.0  # an all-zero cell
    counts[2, :2] = torch.tensor([300.0, 7e4])  # beyond the small-count products
    log_r = torch.randn(35, generator=generator, dtype=F64) * 2
    logits = torch.randn(*leading, 6, 35, generator=generator, dtype=F64) * 3
    bounds = ((-3.0, 3.0), (-6.0, 6.0)) if outside else ((-30.0, 30.0), (-50.0, 50.0))
    if outside:
        log_r[:4] = torch.tensor([-3.0, 3.0, -7.0, 9.0])  # at and beyond the bounds
    weights = torch.rand(*leading, 6, generator=generator, dtype=F64)

    fused, reference = _fused_and_clipped_dense(counts, log_r, logits, weights, bounds)
    assert fused[1].shape == (35,)
    for got, expected in zip(fused, reference, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-10)
    clipped_r = np.exp(np.clip(log_r.numpy(), *bounds[0]))
    clipped_logits = np.clip(logits.numpy(), *bounds[1])
    expected = stats.nbinom.logpmf(counts.numpy(), clipped_r, special.expit(-clipped_logits))
    np.testing.assert_allclose(fused[0].numpy(), expected.sum(-1), rtol=1e-10)
    if outside:
        assert fused[1][:4].eq(0).all()
    assert torch.autograd.gradcheck(
        lambda a, b: kernels.negative_binomial_log_prob_sum(counts[:3, 10:15], a, b),
        (
            log_r[10:15].clone().requires_grad_(True),  # inside the bounds
            logits[..., :3, 10:15].clone().requires_grad_(True),
        ),
    )
