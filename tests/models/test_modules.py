"""VAE and GMVAE modules: forward passes, bounds, options and validation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from scvae.config import ModelConfig
from scvae.distributions.registry import LIKELIHOODS
from scvae.errors import ConfigError
from scvae.models import GMVAEModule, LossOutput, ModelInputs, VAEModule, build_module
from scvae.models.base import Encoder, resolve_samples

B, F, L, K = 8, 12, 3, 3
MODEL_TYPES = ("VAE", "GMVAE")
POSITIVE_ONLY = ("log_normal", "gamma")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def counts(batch: int = B, features: int = F) -> torch.Tensor:
    return torch.poisson(torch.rand(batch, features) * 4.0)


def inputs_for(likelihood: str = "poisson", **extra: torch.Tensor) -> ModelInputs:
    values = counts()
    inputs = ModelInputs.from_counts(values, x=torch.log1p(values), **extra)
    if likelihood == "bernoulli":
        inputs.target = (values > 0).float()
    elif likelihood in POSITIVE_ONLY:
        inputs.target = values + 1.0
    return inputs


def make(model_type: str = "VAE", classes: int = K, batches: int = 0, **options) -> nn.Module:
    options.setdefault("hidden_sizes", (16, 8))
    config = ModelConfig(model_type=model_type, latent_size=L, **options)
    return build_module(config, F, number_of_classes=classes, number_of_batches=batches)


def assert_shapes(output: LossOutput, model_type: str, classes: int = K) -> None:
    assert output.loss.shape == ()
    assert output.lower_bound.shape == (B,)
    assert output.reconstruction_error.shape == (B,)
    kl_terms = set(output.kl) - {"log_p_library"}  # the library term, with the library size
    if model_type == "VAE":
        assert kl_terms == {"kl_divergence"}
        assert output.kl_neurons.shape == (L,)
        assert output.y_probabilities is None
    else:
        assert kl_terms == {"kl_divergence_z", "kl_divergence_y"}
        assert output.y_probabilities.shape == (B, classes)
        assert torch.allclose(output.y_probabilities.sum(-1), torch.ones(B))
    for value in output.kl.values():
        assert value.shape == (B,)


def assert_finite_gradients(model: nn.Module, output: LossOutput) -> None:
    assert torch.isfinite(output.loss)
    output.loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name


@pytest.mark.parametrize("model_type", MODEL_TYPES)
@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_every_likelihood_trains(likelihood: str, model_type: str) -> None:
    model = make(model_type, reconstruction_distribution=likelihood)
    output = model(inputs_for(likelihood), samples=(2, 2))
    assert_shapes(output, model_type)
    for value in (output.lower_bound, output.reconstruction_error, *output.kl.values()):
        assert torch.isfinite(value).all()
    assert_finite_gradients(model, output)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
@pytest.mark.parametrize("likelihood", ("poisson", "negative_binomial"))
def test_piecewise_categorical_heads(likelihood: str, model_type: str) -> None:
    model = make(
        model_type, reconstruction_distribution=likelihood, number_of_reconstruction_classes=3
    )
    assert model.decoder.heads.heads.sizes["k_logits"] == 4 * F
    assert_finite_gradients(model, model(inputs_for(likelihood)))


@pytest.mark.parametrize(
    ("model_type", "latent"),
    [
        ("VAE", "gaussian"),
        ("VAE", "unit_variance_gaussian"),
        ("GMVAE", "gaussian_mixture"),
        ("GMVAE", "full_covariance_gaussian_mixture"),
    ],
)
def test_importance_weighting_tightens_the_bound(model_type: str, latent: str) -> None:
    model = make(model_type, latent_distribution=latent).eval()
    inputs = inputs_for()
    with torch.no_grad():
        single = model(inputs, samples=(1, 2000)).lower_bound.mean()
        weighted = model(inputs, samples=(5, 400)).lower_bound.mean()
    assert weighted >= single


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_kl_scale_weights_only_the_kl(model_type: str) -> None:
    model = make(model_type)
    inputs = inputs_for()
    free = model(inputs, kl_scale=0.0)
    assert torch.allclose(free.loss, -free.reconstruction_error.mean())
    full = model(inputs, kl_scale=1.0)
    # the library term log P(N) is in the bound but, constant, not in the objective
    library = full.kl.get("log_p_library", torch.zeros(B))
    assert torch.allclose(full.loss, -(full.lower_bound - library).mean())
    kl = sum(value for name, value in full.kl.items() if name != "log_p_library")
    expected = full.reconstruction_error - kl + library
    assert torch.allclose(full.lower_bound, expected, atol=1e-4)


def test_gmvae_with_one_class_matches_the_vae_layout() -> None:
    gmvae = make("GMVAE", classes=1)
    vae = make("VAE")
    inputs = inputs_for()
    output = gmvae(inputs)
    assert torch.allclose(output.y_probabilities, torch.ones(B, 1))
    assert torch.allclose(output.kl["kl_divergence_y"], torch.zeros(B))
    assert gmvae.number_of_latent_clusters == 1
    assert torch.isfinite(output.lower_bound).all()
    assert torch.isfinite(vae(inputs).lower_bound).all()
    assert (output.lower_bound < 0).all()


def test_full_covariance_scale_is_lower_triangular() -> None:
    model = make("GMVAE", latent_distribution="full_covariance_gaussian_mixture")
    inputs = inputs_for()
    posterior = model.posterior_z(inputs.x)
    assert posterior.scale_tril.shape == (K, B, L, L)
    assert torch.equal(posterior.scale_tril, torch.tril(posterior.scale_tril))
    assert (posterior.scale_tril.diagonal(dim1=-2, dim2=-1) > 0).all()
    assert model.z_prior.sizes["scale"] == L * (L + 1) // 2
    assert_finite_gradients(model, model(inputs, samples=(2, 2)))


def test_conditioned_encoder_equals_running_on_every_pair() -> None:
    encoder = Encoder(F, (16, 8), {"loc": L}, batch_norm=True, condition_size=K)
    x, one_hot = torch.randn(B, F), torch.eye(K)
    batched = encoder(x, one_hot)["loc"]
    tiled = torch.cat([x.repeat(K, 1), one_hot.repeat_interleave(B, dim=0)], dim=-1)
    assert torch.allclose(batched, encoder(tiled)["loc"].reshape(K, B, L), atol=1e-5)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_batch_correction_and_count_sum_widen_the_decoder(model_type: str) -> None:
    plain = make(model_type, batches=2)
    model = make(model_type, batches=2, batch_correction=True, count_sum=True)
    assert plain.decoder.in_size == L
    assert model.decoder.in_size == L + 2 + 1
    batch = nn.functional.one_hot(torch.arange(B) % 2, 2).float()
    values = counts()
    inputs = ModelInputs.from_counts(values, batch=batch, count_sum_maximum=100.0)
    assert_finite_gradients(model, model(inputs, samples=(2, 3)))
    with pytest.raises(NotImplementedError):
        model.sample_prior(4)
    with pytest.raises(ValueError, match="batch"):
        model(ModelInputs.from_counts(values, count_sum_maximum=100.0))


def test_batch_correction_without_batches_is_ignored() -> None:
    assert make(batch_correction=True).decoder.in_size == L


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_dropout_is_active_only_in_training(model_type: str) -> None:
    keep = (0.5, 0.8, 0.9, 0.7)[: 3 if model_type == "VAE" else 4]
    model = make(model_type, dropout_keep_probabilities=keep)
    rates = sorted({round(m.p, 3) for m in model.modules() if isinstance(m, nn.Dropout)})
    assert rates == sorted({round(1 - p, 3) for p in keep})
    inputs = inputs_for()

    def latent() -> torch.Tensor:
        mean = model.latent_mean(inputs)
        return mean[0] if isinstance(mean, tuple) else mean

    assert not torch.allclose(latent(), latent())
    model.eval()
    assert torch.equal(latent(), latent())


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_batch_norm_uses_batch_statistics_only_in_training(model_type: str) -> None:
    model = make(model_type)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    assert norms
    inputs = inputs_for()
    model(inputs)
    assert all(int(norm.num_batches_tracked) == 1 for norm in norms)
    model.eval()
    model(inputs)
    assert all(int(norm.num_batches_tracked) == 1 for norm in norms)
    single = ModelInputs.from_counts(inputs.target[:1], x=inputs.x[:1])
    first = model.latent_mean(single)
    whole = model.latent_mean(inputs)
    first, whole = (first[0], whole[0]) if model_type == "GMVAE" else (first, whole)
    assert torch.allclose(first, whole[:1], atol=1e-5)


def test_lfm_vae_has_no_hidden_layers_and_gmvae_ignores_it() -> None:
    options = {"inference_architecture": "LFM", "generative_architecture": "LFM"}
    vae = make("VAE", **options)
    assert len(vae.encoder.mlp.blocks) == 0 and len(vae.decoder.mlp.blocks) == 0
    gmvae = make("GMVAE", **options)
    assert len(gmvae.z_encoder.mlp.blocks) == 2 and len(gmvae.decoder.mlp.blocks) == 2
    assert_finite_gradients(vae, vae(inputs_for()))


def test_unit_variance_posterior_has_no_scale_head() -> None:
    model = make("VAE", latent_distribution="unit_variance_gaussian")
    assert set(model.encoder.heads.sizes) == {"loc"}
    posterior = model.posterior(inputs_for().x)
    assert torch.equal(posterior.log_scale, torch.zeros(B, L))


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_reconstruction_and_sampling_shapes(model_type: str) -> None:
    model = make(model_type).eval()
    inputs = inputs_for()
    with torch.no_grad():
        mean, total, explained = model.reconstruction_moments(inputs, (2, 3))
        assert mean.shape == total.shape == explained.shape == (B, F)
        assert (total >= explained - 1e-6).all() and (explained >= 0).all()
        assert model.reconstruction_mean(inputs, (1, 2)).shape == (B, F)
        drawn = model.sample_prior(5)
    assert drawn[0].shape == (5, F) and drawn[1].shape == (5, L)
    if model_type == "GMVAE":
        assert drawn[2].shape == (5, K) and torch.equal(drawn[2].sum(-1), torch.ones(5))


def test_constrained_poisson_cannot_sample() -> None:
    model = make(reconstruction_distribution="constrained_poisson")
    with pytest.raises(NotImplementedError):
        model.sample_prior(3)


def test_prior_probability_methods() -> None:
    inputs = inputs_for()
    learned = make("GMVAE", prior_probabilities_method="learn")
    assert torch.equal(learned.y_prior.learned_logits, torch.zeros(K))
    assert_finite_gradients(learned, learned(inputs))
    config = ModelConfig(model_type="GMVAE", latent_size=L, prior_probabilities_method="infer")
    inferred = build_module(config, F, number_of_classes=K, prior_probabilities=[0.2, 0.3, 0.5])
    assert torch.allclose(inferred.y_prior.logits().exp(), torch.tensor([0.2, 0.3, 0.5]))
    assert torch.isfinite(inferred(inputs).loss)
    for wrong in (None, [0.5, 0.5]):
        with pytest.raises(ConfigError):
            build_module(config, F, number_of_classes=K, prior_probabilities=wrong)


def test_free_nats_floor_the_y_divergence() -> None:
    model = make("GMVAE")
    inputs = inputs_for()
    torch.manual_seed(1)
    plain = model(inputs)
    model.free_nats_proportion = 1.0
    torch.manual_seed(1)
    floored = model(inputs)
    kl_y = plain.kl["kl_divergence_y"].mean()
    assert kl_y < math.log(K)
    assert torch.allclose(floored.loss - plain.loss, math.log(K) - kl_y, atol=1e-5)
    assert torch.allclose(floored.lower_bound, plain.lower_bound)


def test_resolve_samples() -> None:
    config = ModelConfig(number_of_importance_samples=(5,), number_of_monte_carlo_samples=(2, 10))
    assert resolve_samples(config) == ((5, 2), (5, 10))
    with pytest.raises(ConfigError):
        resolve_samples(ModelConfig(number_of_importance_samples=(1, 2, 3)))
    with pytest.raises(ConfigError):
        resolve_samples(ModelConfig(number_of_monte_carlo_samples=(0,)))


def test_build_module_types() -> None:
    config = ModelConfig(model_type="GMVAE", number_of_classes=4, latent_size=L)
    module = build_module(config, F)
    assert isinstance(module, GMVAEModule) and module.number_of_latent_clusters == 4
    assert isinstance(build_module(ModelConfig(), F), VAEModule)


@pytest.mark.parametrize(
    ("options", "classes", "message"),
    [
        ({"latent_distribution": "gaussian_mixture"}, 1, "latent distribution"),
        ({"model_type": "GMVAE", "latent_distribution": "gaussian"}, 2, "latent distribution"),
        ({"model_type": "AE"}, 1, "model type"),
        (
            {"reconstruction_distribution": "bernoulli", "number_of_reconstruction_classes": 2},
            1,
            "piecewise",
        ),
        ({"reconstruction_distribution": "multivariate_gaussian"}, 1, "Unknown likelihood"),
        ({"dropout_keep_probabilities": (0.9, 0.9, 0.9, 0.9)}, 1, "at most 3"),
        ({"model_type": "GMVAE", "dropout_keep_probabilities": (0.9,) * 5}, 2, "at most 4"),
        ({"dropout_keep_probabilities": (1.5,)}, 1, r"\[0, 1\]"),
        ({"model_type": "GMVAE"}, 0, "at least 1"),
        ({"parameterise_latent_posterior": True}, 1, "parameterise"),
        ({"latent_size": 0}, 1, "latent size"),
    ],
)
def test_build_module_errors(options: dict, classes: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_module(ModelConfig(**options), F, number_of_classes=classes)


def test_gmvae_accepts_four_dropout_values_and_lfm() -> None:
    config = ModelConfig(
        model_type="GMVAE",
        dropout_keep_probabilities=(0.9, 0.9, 0.9, 0.9),
        inference_architecture="LFM",
    )
    assert isinstance(build_module(config, F, number_of_classes=2), GMVAEModule)


def test_batch_norm_inference_uses_bias_corrected_moving_averages():
    from scvae.nn.layers import ShiftOnlyBatchNorm

    torch.manual_seed(0)
    layer = ShiftOnlyBatchNorm(3)
    batches = [torch.randn(50, 3) * 4.0 + 7.0 for _ in range(5)]
    layer.train()
    for batch in batches:
        layer(batch)
    layer.eval()
    x = torch.randn(10, 3)
    # after few steps the corrected averages are weighted means of the batch statistics
    weights = torch.tensor([(1 - 0.001) ** (4 - i) for i in range(5)])
    weights = weights / weights.sum()
    mean = sum(w * b.mean(0) for w, b in zip(weights, batches, strict=True))
    variance = sum(w * b.var(0) for w, b in zip(weights, batches, strict=True))
    expected = (x - mean) / torch.sqrt(variance + 1e-3)
    torch.testing.assert_close(layer(x), expected, rtol=1e-4, atol=1e-4)


def test_batch_norm_in_training_normalises_by_the_batch_and_shifts():
    from scvae.nn.layers import ShiftOnlyBatchNorm

    torch.manual_seed(1)
    layer = ShiftOnlyBatchNorm(4)
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([0.5, -1.0, 2.0, 0.0]))
    x = (torch.randn(30, 4) * 3 + 2).requires_grad_(True)
    out = layer(x)
    mean, variance = x.mean(0), x.var(0, unbiased=False)  # by hand
    expected = (x - mean) / torch.sqrt(variance + 1e-3) + layer.bias
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    upstream = torch.randn(30, 4)
    (out * upstream).sum().backward()
    torch.testing.assert_close(layer.bias.grad, upstream.sum(0))
    assert int(layer.norm.num_batches_tracked) == 1
    torch.testing.assert_close(layer.norm.running_mean, 0.001 * mean.detach())


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_a_minibatch_of_one_example_trains(model_type: str) -> None:
    """The last minibatch of an epoch can hold a single cell (torch's batch norm refuses it)."""
    model = make(model_type)
    model.train()
    values = counts(batch=1)
    inputs = ModelInputs.from_counts(values, x=torch.log1p(values))
    norms = [m for m in model.modules() if type(m).__name__ == "ShiftOnlyBatchNorm"]
    before = [m.norm.running_mean.clone() for m in norms]
    output = model(inputs)
    assert torch.isfinite(output.loss)
    output.loss.backward()
    # the single example is its own batch mean: normalised to zero, plus the learned shift
    layer = norms[0]
    torch.testing.assert_close(layer(torch.randn(1, layer.bias.numel())), layer.bias.expand(1, -1))
    # one example says nothing about the spread: the moving averages are unchanged (the
    # GMVAE's per-class layers see K rows, a proper batch)
    if model_type == "VAE":
        for m, mean in zip(norms, before, strict=True):
            torch.testing.assert_close(m.norm.running_mean, mean)


def test_parameter_heads_share_one_layer_initialised_per_head() -> None:
    from scvae.models.base import ParameterHeads

    heads = ParameterHeads(50, {"wide": 2000, "narrow": 10}, keep_probability=1.0)
    weight = heads.block.linear.weight.detach()
    parts = heads.split(weight, dim=0)
    for name, size in (("wide", 2000), ("narrow", 10)):
        bound = math.sqrt(6.0 / (50 + size))  # Xavier for a layer of its own
        assert parts[name].shape == (size, 50)
        assert parts[name].abs().max() <= bound
        assert parts[name].abs().max() > 0.9 * bound  # not the joint layer's smaller bound
    hidden = torch.randn(4, 50)
    outputs = heads(hidden)
    for name in ("wide", "narrow"):
        expected = hidden @ parts[name].t()  # biases start at zero
        torch.testing.assert_close(outputs[name], expected)
