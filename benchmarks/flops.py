"""Analytic training FLOPs of scvae's models and the measured torch matrix-multiply peak.

Every dense layer ``in -> out`` that ``rows`` vectors pass through costs, per training
step, ``2 * rows * in * out`` FLOPs forward, ``2 * rows * in * out`` for the weight
gradient and another ``2 * rows * in * out`` for the input gradient, which autograd only
computes when the layer's input needs one (not for layers reading the data or the fixed
one-hot class vectors). Everything that is not a matrix product (activations, batch norm,
likelihoods, Adam) is left out, so achieved FLOP/s are a lower bound on the work done.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from scvae.config import ModelConfig
from scvae.distributions.registry import head_specs, per_feature_head
from scvae.models.naming import latent_distribution


@dataclass(frozen=True)
class DenseLayer:
    """One matrix product of a training step.

    Attributes
    ----------
    name
        Where it is (for reading the table).
    in_size, out_size
        Weight shape.
    rows_per_example
        Vectors per example through the layer (``K`` components, ``R * M`` samples).
    rows_per_batch
        Vectors per minibatch that do not depend on its size (class one-hots).
    input_gradient
        Whether backward computes the gradient of the layer's input.
    """

    name: str
    in_size: int
    out_size: int
    rows_per_example: int = 1
    rows_per_batch: int = 0
    input_gradient: bool = True

    def flops(self, batch_size: int) -> int:
        """Forward plus backward FLOPs for one minibatch of ``batch_size`` examples."""
        rows = batch_size * self.rows_per_example + self.rows_per_batch
        products = 2 if self.input_gradient else 1
        return 2 * rows * self.in_size * self.out_size * (1 + products)


def _chain(
    prefix: str, in_size: int, sizes: tuple[int, ...], rows: int, first_gradient: bool
) -> list[DenseLayer]:
    layers, size = [], in_size
    for index, hidden in enumerate(sizes):
        gradient = first_gradient if index == 0 else True
        layers.append(DenseLayer(f"{prefix}.{index}", size, hidden, rows, 0, gradient))
        size = hidden
    return layers


def _heads(
    prefix: str, in_size: int, sizes: dict[str, int], rows: int, gradient: bool
) -> list[DenseLayer]:
    return [
        DenseLayer(f"{prefix}.{name}", in_size, size, rows, 0, gradient)
        for name, size in sizes.items()
    ]


def _decoder(
    config: ModelConfig, feature_size: int, number_of_batches: int, rows: int, linear: bool
) -> list[DenseLayer]:
    extras = (number_of_batches if config.batch_correction else 0) + int(config.count_sum)
    hidden = () if linear else tuple(reversed(config.hidden_sizes))
    layers = _chain("decoder", config.latent_size + extras, hidden, rows, True)
    last = hidden[-1] if hidden else config.latent_size + extras
    specs = head_specs(config.reconstruction_distribution, config.number_of_reconstruction_classes)
    # a per-gene r is a learned vector, not an output of the network
    per_gene = per_feature_head(config.reconstruction_distribution, config.dispersion)
    sizes = {name: spec.size * feature_size for name, spec in specs.items() if name != per_gene}
    return layers + _heads("decoder.head", last, sizes, rows, True)


def dense_layers(
    config: ModelConfig,
    feature_size: int,
    number_of_classes: int = 1,
    number_of_batches: int = 0,
    samples: tuple[int, int] = (1, 1),
) -> list[DenseLayer]:
    """The matrix products of one training step of the model ``config`` describes.

    ``samples`` is ``(R, M)``; ``number_of_classes`` is the GMVAE's ``K``.
    """
    draws = samples[0] * samples[1]
    latent = config.latent_size
    if config.model_type.upper() == "VAE":
        hidden = () if config.inference_architecture.upper() == "LFM" else config.hidden_sizes
        heads = {"loc": latent}
        if latent_distribution(config) == "gaussian":
            heads["log_scale"] = latent
        encoder = _chain("encoder", feature_size, tuple(hidden), 1, False)
        last = hidden[-1] if hidden else feature_size
        encoder += _heads("encoder.head", last, heads, 1, bool(hidden))
        linear = config.generative_architecture.upper() == "LFM"
        return encoder + _decoder(config, feature_size, number_of_batches, draws, linear)
    return _gmvae_layers(config, feature_size, number_of_classes, number_of_batches, draws)


def _gmvae_layers(
    config: ModelConfig, feature_size: int, k: int, number_of_batches: int, draws: int
) -> list[DenseLayer]:
    hidden = tuple(config.hidden_sizes)
    latent = config.latent_size
    full = latent_distribution(config) == "full_covariance_gaussian_mixture"
    z_heads = {"loc": latent, "scale": latent * (latent + 1) // 2 if full else latent}
    layers = _chain("y_encoder", feature_size, hidden, 1, False)
    layers += _heads(
        "y_encoder.head", hidden[-1] if hidden else feature_size, {"logits": k}, 1, bool(hidden)
    )
    if hidden:
        # the first z-encoder layer runs once on x and once on the K one-hot vectors
        layers.append(DenseLayer("z_encoder.0.x", feature_size, hidden[0], 1, 0, False))
        layers.append(DenseLayer("z_encoder.0.y", k, hidden[0], 0, k, False))
        layers += [
            DenseLayer(f"z_encoder.{i}", hidden[i - 1], hidden[i], k) for i in range(1, len(hidden))
        ]
        layers += _heads("z_encoder.head", hidden[-1], z_heads, k, True)
    else:
        for name, size in z_heads.items():
            layers.append(DenseLayer(f"z_encoder.head.{name}.x", feature_size, size, 1, 0, False))
            layers.append(DenseLayer(f"z_encoder.head.{name}.y", k, size, 0, k, False))
    layers += [DenseLayer(f"z_prior.{n}", k, s, 0, k, False) for n, s in z_heads.items()]
    return layers + _decoder(config, feature_size, number_of_batches, k * draws, False)


def training_flops_per_example(layers: list[DenseLayer], batch_size: int) -> float:
    """Forward+backward FLOPs per example at minibatch size ``batch_size``."""
    return sum(layer.flops(batch_size) for layer in layers) / batch_size


def matmul_flops_per_second(
    m: int = 2048,
    k: int = 2048,
    n: int = 2048,
    *,
    repeats: int = 5,
    seconds: float = 0.3,
    clock=time.perf_counter,
) -> float:
    """Best float32 ``torch.mm`` rate (FLOP/s) for ``(m, k) @ (k, n)`` on torch's threads.

    Each of ``repeats`` timings loops enough products to last about ``seconds``, timed by
    ``clock`` (the wall clock; ``time.process_time`` leaves out waits for a core).
    """
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=generator)
    b = torch.randn(k, n, generator=generator)
    out = torch.empty(m, n)
    for _ in range(3):
        torch.mm(a, b, out=out)
    started, calls = clock(), 0
    while calls < 1000 and (calls < 3 or clock() - started < 0.05):
        torch.mm(a, b, out=out)
        calls += 1
    each = (clock() - started) / calls
    loops = max(1, int(seconds / max(each, 1e-7)))
    best = 0.0
    for _ in range(repeats):
        started = clock()
        for _ in range(loops):
            torch.mm(a, b, out=out)
        best = max(best, 2.0 * m * k * n * loops / (clock() - started))
    return best
