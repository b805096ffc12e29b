"""Where a training step's time goes on wide data (27,998 genes, values on disk or in memory).

Writes (once) a synthetic h5ad of 10x-MBC shape (27,998 genes, about 2,000 non-zero counts
a cell; the writer of ``memory_streaming.py``), opens it as scvae does, in memory and with
the values left on disk, and runs real training steps of a model, timing each part of
every step in place:

* reading: the minibatch's rows from the store (``RowSource._gather``: memory, or the
  h5ad's blocks on disk);
* densifying: the dense target, its stored entries and the network input (dense, or the
  sparse CSR tensor of the sparse first layer);
* forward, backward: the model's loss and its gradients;
* optimiser: gradient clipping and Adam.

Each configuration runs with the sparse first layer and with dense inputs, alternately,
in the same process. A torch profile of the steps then splits forward and backward into
matrix products (``mm``, ``addmm``, ``bmm``, ``embedding_bag`` and the sparse layer's
backward) and the rest (likelihood, batch norm, activations, sampling, KL); the table
lists the costliest operators. Times are medians over steps, wall and CPU (all threads).

Run: .venv/bin/python benchmarks/wide_profile.py [--configurations default paper_gmvae]
     [--cells 3000] [--steps 20] [--threads 2] [--storage memory disk]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from memory_streaming import GENES, write_synthetic_h5ad  # noqa: E402

WORK = HERE / "_work" / "wide_profile"

#: model options of each configuration (the paper's GMVAE as run on 10x-MBC)
CONFIGURATIONS = {
    "default": {},
    "paper_gmvae": {
        "model_type": "GMVAE",
        "reconstruction_distribution": "negative_binomial",
        "latent_size": 100,
        "hidden_sizes": (100, 100),
        "number_of_classes": 10,
    },
}

MATRIX_PRODUCTS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::embedding_bag")
MATRIX_PRODUCT_PARTS = ("_SparseLinearBackward", "_embedding_bag")


class Clock:
    """Wall and CPU (all threads) seconds of named parts, per step."""

    def __init__(self) -> None:
        self.parts: dict[str, list[tuple[float, float]]] = {}
        self._wall = self._cpu = 0.0

    def start(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def lap(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.parts.setdefault(name, []).append((wall - self._wall, cpu - self._cpu))
        self._wall, self._cpu = wall, cpu

    def medians(self) -> dict[str, tuple[float, float]]:
        return {
            name: (
                statistics.median(w for w, _ in values) * 1e3,
                statistics.median(c for _, c in values) * 1e3,
            )
            for name, values in self.parts.items()
        }


def open_source(path: Path, storage: str):
    """A RowSource over the file's cells, values in memory or left on disk."""
    from scvae.config import DataConfig
    from scvae.data.batches import RowSource
    from scvae.data.loading import open_data_set

    config = DataConfig(backed=storage == "disk", data_directory=str(WORK / "cache"))
    return RowSource.from_data_set(open_data_set(config, str(path)))


def run_steps(module, source, optimiser, steps: int, batch_size: int, clock: Clock, rng):
    from scvae.data.batches import _network_input, _tensor, densified

    parameters = list(module.parameters())
    order = source.epoch_order(rng)
    module.train()
    for step in range(steps):
        rows = np.sort(order[step * batch_size : (step + 1) * batch_size])
        clock.start()
        values, inputs = source._gather(rows)
        clock.lap("reading")
        target, entries = densified(values)
        x = _network_input(values if inputs is None else inputs, target, torch.device("cpu"))
        if x is None:
            x = target if inputs is None else _tensor(inputs, torch.device("cpu"))
        from scvae.data.batches import per_example_tensors
        from scvae.nn.inputs import ModelInputs

        batch = ModelInputs(
            x=x,
            target=target,
            target_entries=entries,
            **per_example_tensors(source, rows, torch.device("cpu")),
        )
        clock.lap("densifying")
        output = module(batch, kl_scale=1.0, samples=(1, 1))
        clock.lap("forward")
        optimiser.zero_grad(set_to_none=True)
        output.loss.backward()
        clock.lap("backward")
        torch.nn.utils.clip_grad_value_(parameters, 1.0, foreach=True)
        optimiser.step()
        clock.lap("optimiser")


def profile_ops(
    module, source, optimiser, steps: int, batch_size: int, rng
) -> list[tuple[str, float]]:
    """Self CPU milliseconds per step of each operator over ``steps`` training steps."""
    from torch.profiler import ProfilerActivity, profile

    clock = Clock()
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        run_steps(module, source, optimiser, steps, batch_size, clock, rng)
    totals = [
        (event.key, event.self_cpu_time_total / 1e3 / steps) for event in profiler.key_averages()
    ]
    return sorted(totals, key=lambda item: -item[1])


def is_matrix_product(name: str) -> bool:
    return name in MATRIX_PRODUCTS or any(part in name for part in MATRIX_PRODUCT_PARTS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configurations", nargs="+", default=list(CONFIGURATIONS))
    parser.add_argument("--cells", type=int, default=3000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--storage", nargs="+", default=["memory", "disk"])
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from scvae.config import ModelConfig
    from scvae.distributions._common import unvalidated
    from scvae.models import build_module
    from scvae.nn import sparse
    from scvae.training.fit import _adam

    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"synthetic_{args.cells}.h5ad"
    if not path.exists():
        print(f"writing {path} ({args.cells:,} cells x {GENES:,} genes)", flush=True)
        write_synthetic_h5ad(path, args.cells)
    threshold = sparse.SPARSE_INPUT_FEATURES
    for name in args.configurations:
        options = CONFIGURATIONS[name]
        config = ModelConfig(**{k: v for k, v in options.items() if k != "number_of_classes"})
        classes = options.get("number_of_classes", 1)
        for storage in args.storage:
            source = open_source(path, storage)
            torch.manual_seed(1)
            module = build_module(config, GENES, number_of_classes=classes, number_of_batches=0)
            optimiser = _adam(module, 1e-3)
            clocks = {"sparse first layer": Clock(), "dense input": Clock()}
            rng = np.random.default_rng(0)
            with unvalidated():
                for _round in range(3):
                    for variant, clock in clocks.items():
                        sparse.SPARSE_INPUT_FEATURES = (
                            threshold if variant.startswith("sparse") else 10**12
                        )
                        run_steps(module, source, optimiser, 2, args.batch_size, Clock(), rng)
                        run_steps(
                            module,
                            source,
                            optimiser,
                            max(args.steps // 3, 1),
                            args.batch_size,
                            clock,
                            rng,
                        )
                sparse.SPARSE_INPUT_FEATURES = threshold
                operators = profile_ops(module, source, optimiser, 5, args.batch_size, rng)
            print(
                f"\n## {name} ({', '.join(f'{k}={v}' for k, v in options.items()) or 'default options'}), "
                f"values {'on disk' if storage == 'disk' else 'in memory'}, {args.threads} threads, "
                f"minibatch {args.batch_size}\n"
            )
            print("| part | sparse first layer: wall ms (CPU ms) | dense input: wall ms (CPU ms) |")
            print("|---|---|---|")
            medians = {variant: clock.medians() for variant, clock in clocks.items()}
            parts = list(medians["dense input"])
            for part in [*parts, "step"]:
                cells = []
                for variant in clocks:
                    if part == "step":
                        wall = sum(v[0] for v in medians[variant].values())
                        cpu = sum(v[1] for v in medians[variant].values())
                    else:
                        wall, cpu = medians[variant][part]
                    cells.append(f"{wall:.1f} ({cpu:.1f})")
                print(f"| {part} | {' | '.join(cells)} |")
            steps_per_second = {
                variant: 1e3 / sum(v[0] for v in medians[variant].values()) for variant in clocks
            }
            print(
                "\ncells/s (steps only): "
                + ", ".join(
                    f"{variant} {args.batch_size * rate:,.0f}"
                    for variant, rate in steps_per_second.items()
                )
            )
            total = sum(ms for _, ms in operators)
            products = sum(ms for op, ms in operators if is_matrix_product(op))
            print(
                f"\nProfile with the sparse first layer (self CPU ms per step, {total:.1f} in all): "
                f"matrix products {products:.1f} ({100 * products / total:.0f} %), the rest "
                f"{total - products:.1f}. Costliest operators:\n"
            )
            print("| operator | self CPU ms per step |")
            print("|---|---|")
            for op, ms in operators[:14]:
                print(f"| {op} | {ms:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
