"""Means and variances of every likelihood against Monte-Carlo estimates from ``sample``."""

from __future__ import annotations

import math

import pytest
import torch

from scvae.distributions import registry

SAMPLES = 200_000
SIGMAS = 5.0  # tolerance in Monte-Carlo standard errors

# (name, k_max, raw outputs for three parameter settings); moderate values, and
# Lomax concentrations above 4 so that the variance estimate has a finite variance.
CASES = [
    ("poisson", 0, {"log_rate": [-1.0, 0.5, 2.3]}),
    ("negative_binomial", 0, {"p_logits": [-1.0, 0.3, 1.5], "log_r": [0.5, -0.7, 2.0]}),
    ("zero_inflated_poisson", 0, {"pi_logits": [-1.0, 0.0, 1.2], "log_rate": [0.3, 1.5, 2.5]}),
    (
        "zero_inflated_negative_binomial",
        0,
        {"pi_logits": [-2.0, 0.0, 0.8], "p_logits": [-0.5, 0.4, 1.0], "log_r": [1.0, 0.0, 2.0]},
    ),
    ("constrained_poisson", 0, {"log_probs": [0.2, -1.0, 1.0]}),
    ("bernoulli", 0, {"logits": [-2.0, 0.3, 1.7]}),
    ("gaussian", 0, {"mu": [-1.0, 0.0, 3.0], "log_sigma": [-1.0, 0.0, 0.7]}),
    ("log_normal", 0, {"mean": [-0.5, 0.0, 1.0], "variance": [-2.0, -1.0, 0.0]}),
    ("gamma", 0, {"concentration": [0.5, 2.0, 5.0], "rate": [1.0, 0.5, 3.0]}),
    ("lomax", 0, {"log_concentration": [2.2, 2.5, 3.0], "log_scale": [0.0, 1.0, -1.0]}),
    ("softplus_gaussian", 0, {"mean": [-2.0, 0.5, 4.0], "variance": [-1.0, 0.5, 2.0]}),
    (
        "exponentially_modified_gaussian",
        0,
        {"location": [-1.0, 0.0, 2.0], "scale": [0.0, 1.0, -1.0], "rate": [0.5, 2.0, 0.0]},
    ),
    ("poisson", 3, {"log_rate": [0.0, 1.0, 2.0]}),
    ("negative_binomial", 2, {"p_logits": [0.0, 1.0, -0.5], "log_r": [1.0, 0.0, 2.0]}),
    ("gaussian", 2, {"mu": [0.0, 2.0, 5.0], "log_sigma": [-1.0, 0.0, 0.5]}),
]


def _build(name: str, k_max: int, raw: dict[str, list[float]]) -> torch.distributions.Distribution:
    outputs = {head: torch.tensor(values, dtype=torch.float64) for head, values in raw.items()}
    if k_max:
        generator = torch.Generator().manual_seed(k_max)
        outputs["k_logits"] = torch.randn(3, k_max + 1, generator=generator, dtype=torch.float64)
    library_size = torch.full((3,), 50.0, dtype=torch.float64)
    return registry.build(name, outputs, library_size=library_size, k_max=k_max)


@pytest.mark.parametrize(
    ("name", "k_max", "raw"), CASES, ids=[f"{name}-k{k_max}" for name, k_max, _ in CASES]
)
def test_mean_and_variance_match_samples(name: str, k_max: int, raw: dict) -> None:
    torch.manual_seed(0)
    distribution = _build(name, k_max, raw)
    samples = distribution.sample((SAMPLES,)).double()
    mean, variance = distribution.mean, distribution.variance
    sample_mean = samples.mean(0)
    centred = samples - sample_mean
    sample_variance = (centred**2).mean(0)
    fourth = (centred**4).mean(0)
    mean_error = SIGMAS * torch.sqrt(variance / SAMPLES)
    variance_error = SIGMAS * torch.sqrt((fourth - sample_variance**2).clamp_min(0) / SAMPLES)
    assert torch.all((sample_mean - mean).abs() <= mean_error + 1e-12), (sample_mean, mean)
    assert torch.all((sample_variance - variance).abs() <= variance_error + 1e-12), (
        sample_variance,
        variance,
    )


def test_lomax_moments_are_infinite_for_small_concentrations() -> None:
    distribution = registry.build(
        "lomax",
        {"log_concentration": torch.tensor([0.0, math.log(1.5)]), "log_scale": torch.zeros(2)},
    )
    assert torch.isinf(distribution.variance).all()
    assert torch.isinf(distribution.mean[0]) and torch.isfinite(distribution.mean[1])
