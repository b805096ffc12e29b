"""How much reduced-precision matrix products move the bound of a trained model.

GPUs multiply faster in TF32 (10 mantissa bits) or bfloat16 (7 bits) than in float32
(23 bits). Whether that is acceptable depends on how far it moves the ELBO, which this
measures on the CPU for a trained run: the per-cell lower bound of every cell of its
data set in float32, then with every dense layer's product

* in emulated TF32: inputs and weights rounded to 10 mantissa bits, sums in float32
  (what ``torch.backends.cuda.matmul.allow_tf32`` does on Ampere and later GPUs);
* under ``torch.autocast`` with bfloat16 (products in bfloat16, likelihoods in float32).

It prints the mean ELBO in each precision and the mean and largest absolute change per
cell, in nats. The same latent samples are drawn in each pass (one seed).

Run: .venv/bin/python benchmarks/precision.py RUN_DIRECTORY DATA_FILE [--version end_of_training]
"""

from __future__ import annotations

import argparse
import contextlib
import sys

import numpy as np
import torch
from torch.nn import functional


def tf32(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` rounded to TF32's 10 mantissa bits (round to nearest, even)."""
    bits = tensor.contiguous().view(torch.int32)
    rounded = (bits + 0x0FFF + ((bits >> 13) & 1)) & ~0x1FFF
    return rounded.view(torch.float32)


@contextlib.contextmanager
def emulated_tf32():
    """Every ``functional.linear`` (and ``embedding_bag``) with TF32-rounded operands."""
    linear, bag = functional.linear, functional.embedding_bag

    def rounded_linear(x, weight, bias=None):
        if x.layout != torch.strided:
            x = x.to_dense()
        return linear(tf32(x), tf32(weight), bias)

    def rounded_bag(indices, weight, *args, **kwargs):
        weights = kwargs.get("per_sample_weights")
        if weights is not None:
            kwargs["per_sample_weights"] = tf32(weights)
        return bag(indices, tf32(weight), *args, **kwargs)

    functional.linear, functional.embedding_bag = rounded_linear, rounded_bag
    try:
        yield
    finally:
        functional.linear, functional.embedding_bag = linear, bag


def bounds(module, source, batch_size: int, context) -> np.ndarray:
    from scvae.data.batches import minibatches

    values = np.zeros(source.number_of_examples)
    torch.manual_seed(0)
    with torch.no_grad(), context():
        for inputs, rows in minibatches(source, batch_size):
            output = module(inputs, kl_scale=1.0, samples=(1, 1))
            values[rows] = output.lower_bound.float().numpy()
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("data")
    parser.add_argument("--version", default="end_of_training")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from scvae.config import DataConfig
    from scvae.data.batches import RowSource
    from scvae.data.loading import open_data_set
    from scvae.evaluation.restore import load_version, read_model_facts, read_run_configs
    from scvae.models.build import build_module_from

    configs = read_run_configs(args.run)
    facts = read_model_facts(args.run)
    module = build_module_from(configs.model, facts)
    if load_version(args.run, args.version, module, torch.device("cpu")) is None:
        print(f"no {args.version} version in {args.run}", file=sys.stderr)
        return 2
    data_set = open_data_set(DataConfig(data_directory="/tmp/scvae-precision"), args.data)
    source = RowSource.from_data_set(data_set)

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16)

    reference = bounds(module, source, args.batch_size, contextlib.nullcontext)
    print(f"{source.number_of_examples:,} cells, {facts.feature_size:,} features; ELBO nats/cell")
    print("| precision | mean ELBO | mean abs change | largest abs change |")
    print("|---|---|---|---|")
    print(f"| float32 | {reference.mean():.3f} | – | – |")
    for name, context in (
        ("TF32 products (emulated)", emulated_tf32),
        ("bfloat16 autocast", autocast),
    ):
        try:
            values = bounds(module, source, args.batch_size, context)
        except RuntimeError as error:
            print(f"| {name} | fails: {str(error).splitlines()[0]} | | |")
            continue
        change = np.abs(values - reference)
        print(f"| {name} | {values.mean():.3f} | {change.mean():.4f} | {change.max():.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
