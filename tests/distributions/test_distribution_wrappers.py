"""The zero-inflation and piecewise-categorical wrappers, and the combinations they refuse."""

from __future__ import annotations

import math

import pytest
import torch

from scvae.distributions import (
    Bernoulli,
    ConstrainedPoisson,
    Gaussian,
    NegativeBinomial,
    PiecewiseCategorical,
    Poisson,
    ZeroInflated,
    registry,
)

F64 = torch.float64


@pytest.mark.parametrize(
    "base",
    [
        Bernoulli(torch.zeros(3)),
        ZeroInflated(Poisson(torch.zeros(3)), torch.zeros(3)),
        ConstrainedPoisson(torch.full((3,), -math.log(3.0)), torch.tensor(10.0)),
    ],
    ids=["bernoulli", "zero_inflated", "constrained_poisson"],
)
def test_piecewise_refuses_bases(base: torch.distributions.Distribution) -> None:
    with pytest.raises(ValueError, match="cannot wrap"):
        PiecewiseCategorical(base, torch.zeros(3, 4))


@pytest.mark.parametrize(
    "name",
    [
        "bernoulli",
        "zero_inflated_poisson",
        "zero_inflated_negative_binomial",
        "constrained_poisson",
    ],
)
def test_registry_refuses_k_max_for_the_same_likelihoods(name: str) -> None:
    registry.check_combination(name, 0)
    with pytest.raises(ValueError, match="cannot be combined"):
        registry.check_combination(name, 3)
    with pytest.raises(ValueError):
        registry.head_specs(name, k_max=3)


@pytest.mark.parametrize("k_max", [-1, 1.5, True])
def test_k_max_must_be_a_non_negative_integer(k_max: object) -> None:
    with pytest.raises(ValueError, match="non-negative integer"):
        registry.check_combination("poisson", k_max)  # type: ignore[arg-type]


def test_piecewise_needs_two_classes() -> None:
    with pytest.raises(ValueError, match="k_max >= 1"):
        PiecewiseCategorical(Poisson(torch.zeros(2)), torch.zeros(2, 1))


def test_zero_inflation_refuses_continuous_bases() -> None:
    with pytest.raises(ValueError, match="discrete"):
        ZeroInflated(Gaussian(torch.zeros(2), torch.zeros(2)), torch.zeros(2))


def test_piecewise_probabilities_sum_to_one_and_follow_the_definition() -> None:
    base = NegativeBinomial(
        torch.tensor([0.5, 2.0], dtype=F64), torch.tensor([0.3, -1.0], dtype=F64)
    )
    logits = torch.tensor([[0.1, -0.4, 1.2, 0.0], [2.0, 0.0, -1.0, 0.5]], dtype=F64)
    distribution = PiecewiseCategorical(base, logits)
    x = torch.arange(0.0, 400.0, dtype=F64)[:, None]
    log_prob = distribution.log_prob(x)
    assert torch.allclose(torch.logsumexp(log_prob, 0), torch.zeros(2, dtype=F64), atol=1e-10)
    log_classes = torch.log_softmax(logits, -1)
    assert torch.allclose(log_prob[:3], log_classes[:, :3].T)
    assert torch.allclose(
        log_prob[7], log_classes[:, 3] + base.log_prob(torch.tensor(4.0, dtype=F64))
    )
    # Mean and variance from the probabilities over the (practically) whole support.
    probs = log_prob.exp()
    mean = (probs * x).sum(0)
    assert torch.allclose(distribution.mean, mean, rtol=1e-8)
    assert torch.allclose(distribution.variance, (probs * (x - mean) ** 2).sum(0), rtol=1e-8)


def test_zero_inflated_moments_follow_the_definition() -> None:
    base = Poisson(torch.tensor([0.5, 2.0], dtype=F64))
    distribution = ZeroInflated(base, torch.tensor([-0.3, 1.1], dtype=F64))
    x = torch.arange(0.0, 200.0, dtype=F64)[:, None]
    probs = distribution.log_prob(x).exp()
    assert torch.allclose(probs.sum(0), torch.ones(2, dtype=F64))
    mean = (probs * x).sum(0)
    assert torch.allclose(distribution.mean, mean)
    assert torch.allclose(distribution.variance, (probs * (x - mean) ** 2).sum(0))


def test_wrapper_parameters_broadcast_to_the_base() -> None:
    distribution = ZeroInflated(Poisson(torch.zeros(3, 4)), torch.zeros(4))
    assert distribution.batch_shape == (3, 4)
    assert distribution.sample((2,)).shape == (2, 3, 4)
    piecewise = PiecewiseCategorical(Poisson(torch.zeros(3, 4)), torch.zeros(1, 4, 5))
    assert piecewise.batch_shape == (3, 4) and piecewise.sample((2,)).shape == (2, 3, 4)
    with pytest.raises(ValueError, match="does not broadcast"):
        ZeroInflated(Poisson(torch.zeros(4)), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="does not broadcast"):
        PiecewiseCategorical(Poisson(torch.zeros(4)), torch.zeros(3, 1, 5))
