"""Latent posteriors and priors, and their KL divergences (analytical vs Monte Carlo)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import Categorical, MultivariateNormal, Normal, kl_divergence

from scvae.distributions import latent

F64 = torch.float64
SAMPLES = 200_000


def _monte_carlo(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over the first dimension and five standard errors."""
    return values.mean(0), 5.0 * values.std(0) / math.sqrt(values.shape[0])


def test_posterior_log_scale_is_clipped() -> None:
    posterior = latent.diagonal_gaussian(torch.zeros(3), torch.tensor([-10.0, 0.5, 10.0]))
    assert posterior.log_scale.tolist() == [-3.0, 0.5, 3.0]
    unit = latent.unit_variance_gaussian(torch.ones(2))
    assert torch.equal(unit.scale, torch.ones(2))
    prior = latent.standard_normal(torch.empty(2, 3, dtype=F64))
    assert prior.batch_shape == (2, 3) and prior.loc.dtype == F64


def test_diagonal_gaussian_log_prob_and_sampling() -> None:
    posterior = latent.diagonal_gaussian(torch.tensor([0.5, -2.0]), torch.tensor([0.3, -1.0]))
    reference = Normal(torch.tensor([0.5, -2.0]), torch.tensor([0.3, -1.0]).exp())
    x = torch.linspace(-4, 4, 9)[:, None]
    assert torch.allclose(posterior.log_prob(x), reference.log_prob(x), atol=1e-6)
    loc = torch.zeros(2, requires_grad=True)
    latent.diagonal_gaussian(loc, torch.zeros(2)).rsample((5,)).sum().backward()
    assert torch.equal(loc.grad, torch.full((2,), 5.0))


def test_kl_standard_normal_is_analytical_and_matches_monte_carlo() -> None:
    torch.manual_seed(0)
    posterior = latent.diagonal_gaussian(
        torch.tensor([0.0, 1.5, -0.7], dtype=F64), torch.tensor([0.0, -1.0, 0.8], dtype=F64)
    )
    analytical = latent.kl_standard_normal(posterior)
    expected = kl_divergence(Normal(posterior.loc, posterior.scale), Normal(0.0, 1.0))
    torch.testing.assert_close(analytical, expected, rtol=1e-12, atol=1e-12)
    z = posterior.sample((SAMPLES,))
    estimate, error = _monte_carlo(
        latent.monte_carlo_kl(posterior, latent.standard_normal(posterior.loc), z)
    )
    assert torch.all((estimate - analytical).abs() <= error)


def test_softplus_gaussian_variance_and_gaussian_kl() -> None:
    torch.manual_seed(1)
    q = latent.softplus_gaussian(
        torch.tensor([0.2, -1.0], dtype=F64), torch.tensor([0.0, -2.0], dtype=F64)
    )
    assert torch.allclose(
        q.variance, torch.nn.functional.softplus(torch.tensor([0.0, -2.0], dtype=F64))
    )
    tiny = latent.softplus_gaussian(torch.zeros(1), torch.tensor([-500.0]))
    assert tiny.variance.item() > 0
    p = latent.softplus_gaussian(
        torch.tensor([1.0, 0.0], dtype=F64), torch.tensor([1.0, 0.5], dtype=F64)
    )
    estimate, error = _monte_carlo(latent.monte_carlo_kl(q, p, q.sample((SAMPLES,))))
    assert torch.all((estimate - kl_divergence(q, p)).abs() < error)


def test_kl_categorical_forms() -> None:
    torch.manual_seed(2)
    q_logits = torch.tensor([[0.3, -1.0, 2.0, 0.0], [5.0, -5.0, 0.0, 1.0]], dtype=F64)
    p_logits = torch.tensor([0.0, 1.0, -0.5, 0.2], dtype=F64)
    q = latent.categorical(q_logits)
    # Uniform prior: log K - H[q].
    assert torch.allclose(latent.kl_categorical(q_logits), math.log(4) - q.entropy())
    analytical = latent.kl_categorical(q_logits, p_logits)
    assert torch.allclose(analytical, kl_divergence(q, Categorical(logits=p_logits)))
    y = q.sample((SAMPLES,))
    estimate, error = _monte_carlo(latent.monte_carlo_kl(q, Categorical(logits=p_logits), y))
    assert torch.all((estimate - analytical).abs() <= error)
    # A zero-probability class under q adds nothing; one under p makes the KL infinite.
    certain = torch.tensor([0.0, -math.inf, 0.0])
    assert torch.isfinite(latent.kl_categorical(certain))
    assert latent.kl_categorical(torch.zeros(3), certain) == math.inf


def test_scale_tril_keeps_off_diagonals_free() -> None:
    raw = torch.tensor([0.0, -2.0, 1.0, 0.5, -0.3, -4.0])  # rows: (0,0), (1,0), (1,1), (2,*)
    scale_tril = latent.scale_tril_from_raw(raw)
    softplus = torch.nn.functional.softplus
    expected = torch.tensor(
        [
            [softplus(torch.tensor(0.0)), 0, 0],
            [-2.0, softplus(torch.tensor(1.0)), 0],
            [0.5, -0.3, softplus(torch.tensor(-4.0))],
        ]
    )
    assert torch.allclose(scale_tril, expected)
    with pytest.raises(ValueError, match="lower triangle"):
        latent.scale_tril_from_raw(torch.zeros(4))


def test_full_covariance_reaches_negative_correlations() -> None:
    covariance = np.array([[2.0, -1.2, 0.3], [-1.2, 1.5, -0.4], [0.3, -0.4, 1.0]])
    cholesky = np.linalg.cholesky(covariance)
    raw = torch.tensor(cholesky[np.tril_indices(3)], dtype=F64)
    diagonal = np.diag_indices(3)
    inverse_softplus = np.log(np.expm1(cholesky[diagonal]))
    raw[[0, 2, 5]] = torch.tensor(inverse_softplus, dtype=F64)
    loc = torch.tensor([0.5, -1.0, 2.0], dtype=F64)
    distribution = latent.full_covariance_gaussian(loc, raw)
    assert torch.allclose(distribution.covariance_matrix, torch.tensor(covariance, dtype=F64))
    x = np.random.default_rng(0).normal(size=(10, 3))
    expected = stats.multivariate_normal(loc.numpy(), covariance).logpdf(x)
    assert np.allclose(distribution.log_prob(torch.tensor(x)).numpy(), expected)


def _component_parameters(kind: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    logits = torch.tensor([0.2, -1.0, 0.7], dtype=F64)
    loc = torch.randn(3, 2, generator=generator, dtype=F64) * 2
    size = 2 if kind == "diagonal" else 3
    raw = torch.randn(3, size, generator=generator, dtype=F64)
    return logits, loc, raw


@pytest.mark.parametrize("kind", ["diagonal", "full"])
def test_gaussian_mixture_log_prob_matches_brute_force(kind: str) -> None:
    logits, loc, raw = _component_parameters(kind)
    if kind == "diagonal":
        mixture = latent.diagonal_gaussian_mixture(logits, loc, raw)
        covariances = [np.diag(torch.nn.functional.softplus(r).numpy()) for r in raw]
    else:
        mixture = latent.full_covariance_gaussian_mixture(logits, loc, raw)
        covariances = [(t @ t.T).numpy() for t in map(latent.scale_tril_from_raw, raw)]
    x = np.random.default_rng(4).normal(scale=3.0, size=(7, 2))
    weights = torch.softmax(logits, 0).numpy()
    densities = [
        w * stats.multivariate_normal(m.numpy(), c).pdf(x)
        for w, m, c in zip(weights, loc, covariances, strict=True)
    ]
    expected = np.log(np.sum(densities, axis=0))
    assert np.allclose(mixture.log_prob(torch.tensor(x)).numpy(), expected)
    assert mixture.sample((5,)).shape == (5, 2)


def test_monte_carlo_kl_between_full_covariance_gaussians() -> None:
    torch.manual_seed(5)
    q = latent.full_covariance_gaussian(
        torch.tensor([0.3, -0.2], dtype=F64), torch.tensor([0.1, -0.8, -0.5], dtype=F64)
    )
    p = latent.full_covariance_gaussian(
        torch.tensor([0.0, 1.0], dtype=F64), torch.tensor([0.5, 0.6, 0.0], dtype=F64)
    )
    assert isinstance(q, MultivariateNormal)
    estimate, error = _monte_carlo(latent.monte_carlo_kl(q, p, q.sample((SAMPLES,))))
    assert (estimate - kl_divergence(q, p)).abs() < error


def test_monte_carlo_kl_to_a_mixture_prior_is_unbiased() -> None:
    torch.manual_seed(6)
    logits, loc, raw = _component_parameters("diagonal")
    prior = latent.diagonal_gaussian_mixture(logits, loc, raw)
    posterior = latent.full_covariance_gaussian(
        torch.tensor([0.5, 0.5], dtype=F64), torch.tensor([-0.5, 0.2, -1.0], dtype=F64)
    )
    kl = latent.monte_carlo_kl(posterior, prior, posterior.sample((SAMPLES,)))
    # Reference: the KL integral on a fine grid.
    axis = torch.linspace(-8, 8, 801, dtype=F64)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    log_q = posterior.log_prob(grid)
    reference = (log_q.exp() * (log_q - prior.log_prob(grid))).sum() * (axis[1] - axis[0]) ** 2
    estimate, error = _monte_carlo(kl)
    assert (estimate - reference).abs() < error
