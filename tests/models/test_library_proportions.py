"""``--library-size proportions``: each cell's mean is its total count times proportions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import softmax

from scvae.config import ModelConfig
from scvae.models import ModelInputs, build_module
from scvae.models.base import Decoder, uses_library_offset
from scvae.models.naming import model_name
from scvae.workflows.training_output import _likelihood

F, L = 7, 3
COUNTS = torch.tensor(
    [[0, 1, 2, 0, 5, 1, 1], [300, 0, 9, 4, 0, 0, 7], [0, 0, 0, 0, 0, 0, 0]], dtype=torch.float32
)


def _inputs(counts: torch.Tensor) -> ModelInputs:
    return ModelInputs.from_counts(counts, x=torch.log1p(counts))


def _decoder(
    likelihood: str, library: str = "proportions", seed: int = 3, dispersion: str = "gene"
) -> Decoder:
    torch.manual_seed(seed)
    config = ModelConfig(
        reconstruction_distribution=likelihood,
        library_size=library,
        hidden_sizes=(5,),
        dispersion=dispersion,
    )
    decoder = Decoder(config, L, F).eval()
    if getattr(decoder.heads, "per_feature", None):
        with torch.no_grad():  # away from the starting value, different for every gene
            decoder.heads.feature_log_r.copy_(torch.linspace(-1.0, 1.0, F))
    return decoder


def _log_r(decoder: Decoder, raw: dict[str, np.ndarray]) -> np.ndarray:
    """The decoder's log r: its head's outputs, or the learned value of each gene."""
    if "log_r" in raw:
        return raw["log_r"]
    return np.broadcast_to(decoder.heads.feature_log_r.detach().double().numpy(), (3, F))


def _scale_head_outputs(decoder: Decoder, z: torch.Tensor) -> dict[str, np.ndarray]:
    """The raw head outputs of ``decoder`` for ``z``, computed apart from its forward."""
    hidden = decoder.mlp(z)
    return {
        name: value.detach().double().numpy() for name, value in decoder.heads.heads(hidden).items()
    }


@pytest.mark.parametrize("likelihood", ["negative_binomial", "poisson"])
def test_means_are_the_total_count_times_a_softmax(likelihood) -> None:
    z = torch.randn(3, L)
    decoder = _decoder(likelihood)
    distribution = decoder(z, _inputs(COUNTS))
    head = "p_logits" if likelihood == "negative_binomial" else "log_rate"
    raw = _scale_head_outputs(decoder, z)[head]
    totals = np.maximum(COUNTS.sum(1, keepdim=True).numpy(), 1.0)
    expected = totals * softmax(raw, axis=-1)
    np.testing.assert_allclose(distribution.mean.detach().numpy(), expected, rtol=1e-4)
    # so no gene's mean exceeds the cell's total, and the means add up to it
    np.testing.assert_allclose(distribution.mean.sum(-1).detach().numpy(), totals[:, 0], rtol=1e-5)


@pytest.mark.parametrize("dispersion", ["gene", "cell"])
def test_the_mean_does_not_depend_on_the_dispersion(dispersion) -> None:
    z = torch.randn(3, L)
    decoder = _decoder("negative_binomial", dispersion=dispersion)
    before = decoder(z, _inputs(COUNTS))
    # read now: a per-gene r is a view of the parameter changed below
    before_mean, before_r = before.mean.detach().clone(), before.total_count.detach().clone()
    with torch.no_grad():
        if dispersion == "cell":
            decoder.heads.heads.blocks["log_r"].linear.bias.add_(2.5)
        else:
            decoder.heads.feature_log_r.add_(2.5)
    after = decoder(z, _inputs(COUNTS))
    torch.testing.assert_close(after.mean.detach(), before_mean, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(after.total_count.detach(), before_r)


@pytest.mark.parametrize("dispersion", ["gene", "cell"])
def test_log_likelihood_matches_scipy_negative_binomial_at_the_proportional_mean(
    dispersion,
) -> None:
    z = torch.randn(3, L)
    decoder = _decoder("negative_binomial", dispersion=dispersion)
    distribution = decoder(z, _inputs(COUNTS))
    raw = _scale_head_outputs(decoder, z)
    r = np.exp(np.clip(_log_r(decoder, raw), -10.0, 10.0))
    mean = np.maximum(COUNTS.sum(1, keepdim=True).numpy(), 1.0) * softmax(raw["p_logits"], axis=-1)
    expected = stats.nbinom.logpmf(COUNTS.numpy(), r, r / (r + mean))
    got = distribution.log_prob(COUNTS).detach().double().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_zero_inflated_negative_binomial_has_the_proportional_mean_in_its_count_part() -> None:
    z = torch.randn(3, L)
    decoder = _decoder("zero_inflated_negative_binomial")
    distribution = decoder(z, _inputs(COUNTS))
    raw = _scale_head_outputs(decoder, z)
    totals = np.maximum(COUNTS.sum(1, keepdim=True).numpy(), 1.0)
    counts_part = totals * softmax(raw["p_logits"], axis=-1)
    keep = 1.0 / (1.0 + np.exp(raw["pi_logits"]))  # 1 - sigmoid(pi): not a structural zero
    np.testing.assert_allclose(distribution.mean.detach().numpy(), keep * counts_part, rtol=1e-4)


def test_option_turns_on_the_library_offset_and_names_its_own_folder() -> None:
    proportions = ModelConfig(reconstruction_distribution="nb", library_size="proportions")
    observed = ModelConfig(reconstruction_distribution="nb", library_size="observed")
    assert uses_library_offset(proportions)
    assert not uses_library_offset(
        ModelConfig(reconstruction_distribution="gaussian", library_size="proportions")
    )
    assert model_name(proportions) != model_name(observed)
    assert "libp" in model_name(proportions)
    assert "proportions" in _likelihood(proportions)


@pytest.mark.parametrize("model_type", ["VAE", "GMVAE"])
def test_models_train_a_step_with_finite_bounds(model_type) -> None:
    torch.manual_seed(1)
    config = ModelConfig(
        model_type=model_type,
        latent_size=L,
        hidden_sizes=(8,),
        reconstruction_distribution="negative_binomial",
        library_size="proportions",
    )
    module = build_module(config, F, number_of_classes=2)
    inputs = _inputs(COUNTS)
    output = module(inputs)
    assert torch.isfinite(output.lower_bound).all()
    output.loss.backward()
    gradients = [p.grad for p in module.parameters() if p.grad is not None]
    assert gradients and all(torch.isfinite(g).all() for g in gradients)


@pytest.mark.parametrize("likelihood", ["negative_binomial", "poisson", "zero_inflated_poisson"])
def test_observed_library_caps_each_mean_at_the_cells_total(likelihood) -> None:
    """With ``observed``, a mean is (N / F) m_g(z) but never above N; below N it is unchanged."""
    z = torch.randn(3, L)
    capped = _decoder(likelihood, "observed")
    plain = _decoder(likelihood, "none")
    head = "p_logits" if "negative_binomial" in likelihood else "log_rate"
    with torch.no_grad():  # push genes 0-2 far up, so that (N / F) m_g(z) exceeds N
        for decoder in (capped, plain):
            decoder.heads.heads.blocks[head].linear.bias[:3] += 12.0
    totals = np.maximum(COUNTS.sum(1, keepdim=True).numpy(), 1.0)
    distribution = capped(z, _inputs(COUNTS))
    base = distribution.base if hasattr(distribution, "base") else distribution
    uncapped = plain(z, _inputs(COUNTS))
    uncapped = uncapped.base if hasattr(uncapped, "base") else uncapped
    expected = np.minimum(uncapped.mean.detach().double().numpy() * totals / F, totals)
    np.testing.assert_allclose(base.mean.detach().double().numpy(), expected, rtol=1e-4)
    assert (expected[:, :3] == totals).all()  # the cap is reached where pushed
    deep = totals[:, 0] > 1  # (a cell with one count can reach its total unpushed)
    assert (expected[deep, 3:] < totals[deep]).all()  # and left alone elsewhere


def test_training_steps_leave_the_cap_out_and_the_cap_only_raises_the_likelihood() -> None:
    z = torch.randn(3, L)
    torch.manual_seed(3)
    config = ModelConfig(
        reconstruction_distribution="negative_binomial",
        hidden_sizes=(5,),
        minibatch_normalisation=False,  # the same hidden values in both modes
    )
    decoder = Decoder(config, L, F).eval()
    with torch.no_grad():
        decoder.heads.heads.blocks["p_logits"].linear.bias[:3] += 12.0
    inputs = _inputs(COUNTS)
    capped = decoder(z, inputs)
    uncapped = decoder.train()(z, inputs)
    totals = np.maximum(COUNTS.sum(1, keepdim=True).numpy(), 1.0)
    assert (uncapped.mean.detach().numpy()[:, :3] > totals).all()
    # every count is at most its cell's total, so lowering a mean above it can only help
    r = capped.total_count.detach().double().numpy()
    log_pmf = {}
    for name, distribution in (("capped", capped), ("uncapped", uncapped)):
        mean = distribution.mean.detach().double().numpy()
        log_pmf[name] = stats.nbinom.logpmf(COUNTS.numpy(), r, r / (r + mean))
    assert (log_pmf["capped"] >= log_pmf["uncapped"] - 1e-9).all()
    assert (log_pmf["capped"][:, :3] > log_pmf["uncapped"][:, :3]).any()
