"""The likelihood table: names, heads and clips (spec section 3.4), and ``build``."""

from __future__ import annotations

import math

import pytest
import torch

from scvae.distributions import registry
from scvae.errors import ConfigError

TINY = float(torch.finfo(torch.float32).tiny)
MAX = float(torch.finfo(torch.float32).max)
LOGIT = math.log(1.0 / TINY)
INF = math.inf

# name -> [(head, activation, low, high)], as in the specification's table.
EXPECTED_HEADS = {
    "poisson": [("log_rate", "identity", -10, 10)],
    "negative_binomial": [("p_logits", "identity", -LOGIT, LOGIT), ("log_r", "identity", -10, 10)],
    "zero_inflated_poisson": [
        ("pi_logits", "identity", -LOGIT, LOGIT),
        ("log_rate", "identity", -10, 10),
    ],
    "zero_inflated_negative_binomial": [
        ("pi_logits", "identity", -LOGIT, LOGIT),
        ("p_logits", "identity", -LOGIT, LOGIT),
        ("log_r", "identity", -10, 10),
    ],
    "constrained_poisson": [("log_probs", "log_softmax", math.log(TINY), 0.0)],
    "bernoulli": [("logits", "identity", -INF, INF)],
    "gaussian": [("mu", "identity", -MAX / 2, MAX / 2), ("log_sigma", "identity", -3, 3)],
    "log_normal": [("mean", "identity", -MAX / 2, MAX / 2), ("variance", "softplus", TINY, MAX)],
    "gamma": [("concentration", "softplus", TINY, MAX), ("rate", "softplus", TINY, MAX)],
    "lomax": [("log_concentration", "identity", -10, 10), ("log_scale", "identity", -10, 10)],
    "softplus_gaussian": [
        ("mean", "identity", -MAX / 2, MAX / 2),
        ("variance", "softplus", TINY, MAX),
    ],
    "exponentially_modified_gaussian": [
        ("location", "identity", -MAX / 2, MAX / 2),
        ("scale", "softplus", TINY, MAX),
        ("rate", "softplus", TINY, MAX),
    ],
}


def test_names_and_count_likelihoods() -> None:
    assert registry.LIKELIHOODS == tuple(EXPECTED_HEADS)
    assert registry.COUNT_LIKELIHOODS == {
        "poisson",
        "negative_binomial",
        "zero_inflated_poisson",
        "zero_inflated_negative_binomial",
        "constrained_poisson",
    }


@pytest.mark.parametrize("name", list(EXPECTED_HEADS))
def test_head_specs_follow_the_specification(name: str) -> None:
    specs = registry.head_specs(name)
    assert list(specs) == [head for head, *_ in EXPECTED_HEADS[name]]
    for spec, (head, activation, low, high) in zip(
        specs.values(), EXPECTED_HEADS[name], strict=True
    ):
        assert (spec.name, spec.activation, spec.size) == (head, activation, 1)
        assert (spec.low, spec.high) == pytest.approx((low, high), rel=1e-12)


def test_piecewise_head_comes_last_with_k_plus_one_outputs() -> None:
    specs = registry.head_specs("negative_binomial", k_max=4)
    assert list(specs) == ["p_logits", "log_r", "k_logits"]
    assert specs["k_logits"].size == 5 and specs["k_logits"].activation == "identity"


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("Negative-Binomial", "negative_binomial"),
        ("zero inflated poisson", "zero_inflated_poisson"),
        ("modified_gaussian", "softplus_gaussian"),
        ("Modified Gaussian", "softplus_gaussian"),
        (" GAUSSIAN ", "gaussian"),
    ],
)
def test_canonical_name_accepts_aliases_and_spellings(given: str, canonical: str) -> None:
    assert registry.canonical_name(given) == canonical


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="Unknown likelihood 'binomial'.*negative_binomial"):
        registry.canonical_name("binomial")
    with pytest.raises(ConfigError):
        registry.head_specs("nope")


def test_apply_activates_then_clips() -> None:
    spec = registry.head_specs("log_normal")["variance"]
    out = spec.apply(torch.tensor([-200.0, 0.0, math.inf]))
    assert out.tolist() == pytest.approx([TINY, math.log(2.0), MAX])
    probs = registry.head_specs("constrained_poisson")["log_probs"].apply(torch.tensor([0.0, -500]))
    assert probs.tolist() == pytest.approx([0.0, math.log(TINY)])


def test_build_shapes_and_library_size() -> None:
    raw = {"log_probs": torch.randn(6, 4)}
    distribution = registry.build("constrained_poisson", raw, library_size=torch.full((6, 1), 20.0))
    assert distribution.batch_shape == (6, 4)
    assert torch.allclose(distribution.mean.sum(-1), torch.full((6,), 20.0))
    with pytest.raises(ValueError, match="library size"):
        registry.build("constrained_poisson", raw)
    piecewise = registry.build(
        "poisson", {"log_rate": torch.zeros(6, 4), "k_logits": torch.zeros(6, 4, 3)}, k_max=2
    )
    assert piecewise.batch_shape == (6, 4) and piecewise.k_max == 2


def test_build_names_missing_heads() -> None:
    with pytest.raises(ValueError, match="log_r"):
        registry.build("negative_binomial", {"p_logits": torch.zeros(3)})
    with pytest.raises(ValueError, match="k_logits"):
        registry.build("poisson", {"log_rate": torch.zeros(3)}, k_max=2)


def test_build_applies_the_clips() -> None:
    distribution = registry.build("poisson", {"log_rate": torch.tensor([-50.0, 0.0, 50.0])})
    assert distribution.log_rate.tolist() == [-10.0, 0.0, 10.0]


def test_two_sided_clips_equal_clamp_with_gradient_one_inside_and_zero_outside() -> None:
    spec = registry.head_specs("negative_binomial")["log_r"]
    assert math.isfinite(spec.low) and math.isfinite(spec.high)
    raw = torch.tensor([-50.0, -10.5, -3.0, 0.0, 9.5, 12.0], requires_grad=True)
    clipped = spec.apply(raw)
    assert torch.equal(clipped, raw.detach().clamp(spec.low, spec.high))
    clipped.sum().backward()
    inside = (raw.detach() > spec.low) & (raw.detach() < spec.high)
    assert torch.equal(raw.grad, inside.float())
