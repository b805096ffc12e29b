"""Analytic FLOP counts against a hand computation and against torch's own FLOP counter."""

from __future__ import annotations

import pytest
import torch
from flops import DenseLayer, dense_layers, training_flops_per_example
from torch.utils.flop_counter import FlopCounterMode

from scvae.config import ModelConfig
from scvae.models import ModelInputs, build_module


def test_small_vae_matches_hand_count():
    # F=30, H=(4,), L=2, Poisson, B=5: encoder 30->4 (no input gradient: 4*in*out*B),
    # heads 4->2 twice and decoder 2->4 (6*in*out*B each), decoder head 4->30 (6*in*out*B)
    config = ModelConfig(hidden_sizes=(4,), latent_size=2, reconstruction_distribution="poisson")
    expected = 4 * 30 * 4 * 5 + 2 * 6 * 4 * 2 * 5 + 6 * 2 * 4 * 5 + 6 * 4 * 30 * 5
    assert expected == 6720
    assert training_flops_per_example(dense_layers(config, 30), 5) * 5 == expected


def test_layer_counts_rows_per_batch_once():
    layer = DenseLayer("y", 3, 7, rows_per_example=0, rows_per_batch=3, input_gradient=False)
    assert layer.flops(100) == 4 * 3 * 3 * 7
    assert DenseLayer("z", 2, 5, rows_per_example=4).flops(10) == 6 * 40 * 2 * 5


def _counted(config: ModelConfig, features: int, classes: int, samples) -> int:
    torch.manual_seed(0)
    module = build_module(config, features, number_of_classes=classes)
    counts = torch.poisson(3 * torch.rand(6, features))
    inputs = ModelInputs.from_counts(counts, count_sum_maximum=100.0)
    with FlopCounterMode(display=False) as counter:
        module(inputs, samples=samples).loss.backward()
    return counter.get_total_flops()


@pytest.mark.parametrize(
    ("config", "classes", "samples"),
    [
        (ModelConfig(), 1, (1, 1)),
        (
            ModelConfig(
                reconstruction_distribution="negative_binomial", hidden_sizes=(16, 8), latent_size=3
            ),
            1,
            (2, 3),
        ),
        (ModelConfig(dispersion="cell"), 1, (1, 1)),
        (ModelConfig(inference_architecture="LFM", generative_architecture="LFM"), 1, (1, 1)),
        (ModelConfig(latent_distribution="unit_variance_gaussian", count_sum=True), 1, (1, 1)),
        (
            ModelConfig(
                model_type="GMVAE",
                reconstruction_distribution="negative_binomial",
                hidden_sizes=(16, 8),
            ),
            4,
            (1, 1),
        ),
        (ModelConfig(model_type="GMVAE", hidden_sizes=(), latent_size=3), 4, (2, 1)),
    ],
)
def test_matches_torch_flop_counter(config, classes, samples):
    """Forward plus backward matrix-product FLOPs of one real training step."""
    expected = _counted(config, 30, classes, samples)
    layers = dense_layers(config, 30, classes, 0, samples)
    assert training_flops_per_example(layers, 6) * 6 == pytest.approx(expected, rel=1e-12)
