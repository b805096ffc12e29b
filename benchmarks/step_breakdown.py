"""Where a training step's time goes: matrix products against everything else.

Builds a configuration of the suite (default: the paper's PBMC GMVAE) on PBMC 4k, times
whole training steps (forward, backward, gradient clipping, Adam) on real minibatches,
then times each part on its own at the step's exact shapes:

* every dense layer's matrix products (forward, weight gradient, input gradient where
  autograd computes one), as ``torch.mm`` on tensors of those shapes;
* the negative-binomial likelihood (the fused summed log-pmf with its clip check, forward
  and backward) on the decoder's ``(samples x K, B, F)`` parameters;
* Adam with its gradient clipping.

The parts are timed in isolation, so their sum need not equal the step exactly; the
difference ("rest") is batch norm, activations, the encoders' small layers and sampling,
KL terms and Python overhead. Every time is the median of repeated runs (wall clock).

``--profile`` adds a second table from ``torch.profiler`` over real steps: each operation's
own time summed by kind (matrix products, the likelihood's forward and backward, the
optimiser, batch norm, other tensor operations, autograd's bookkeeping) and, as "Python",
what the step took beyond its operations. Each kind's figure is its median over the
profiled steps, so a step the scheduler interrupted (a shared machine) moves it little;
the profiler itself adds a few microseconds to every operation.

``--clock cpu`` times the steps, the parts and the ``torch.mm`` peak with the process's CPU
time instead of the wall clock: on a loaded machine the waits for a core drop out (use it
with ``--threads 1``; with several threads the CPU time adds the threads' spinning).

Run: .venv/bin/python benchmarks/step_breakdown.py [--configuration paper_gmvae|scvi_equivalent]
     [--threads 2] [--steps 30] [--profile] [--clock wall|cpu]
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

from configurations import CONFIGURATIONS, DATA_SETS, data_config  # noqa: E402
from flops import dense_layers, matmul_flops_per_second  # noqa: E402

CLOCK = time.perf_counter


def _median_ms(function, repeats: int = 7, number: int = 5) -> float:
    function()
    samples = []
    for _ in range(repeats):
        started = CLOCK()
        for _ in range(number):
            function()
        samples.append((CLOCK() - started) / number * 1e3)
    return statistics.median(samples)


#: Kinds of operation in the profile table, by the name of the operation or an enclosing one.
PRODUCTS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::addmv", "aten::mv")


def _kind(event) -> str:
    """The kind of a profiled operation (its own time, without its children's)."""
    names = []
    parent = event
    while parent is not None:
        names.append(parent.name)
        parent = parent.cpu_parent
    if any("NegativeBinomialSum" in name for name in names):
        return "negative-binomial log-likelihood (fused, fwd+bwd)"
    if any(name.startswith(("Optimizer.", "aten::_foreach_clamp")) for name in names):
        return "gradient clipping + Adam"
    if event.name in PRODUCTS or (event.name == "aten::copy_" and names[1:2] == ["aten::addmm"]):
        return "matrix products (all dense layers; addmm's bias copy)"
    if "batch_norm" in event.name:
        return "batch norm (forward and backward)"
    if event.name.startswith("autograd::"):
        return "autograd bookkeeping"
    return "other tensor operations (activations, sampling, KL, views, ...)"


def _profile(train_step, batches) -> tuple[float, dict[str, float]]:
    """Median step (ms) and the median own time (ms) of each kind of operation per step."""
    from torch.profiler import profile, record_function

    with profile() as profiler:
        for inputs in batches:
            with record_function("STEP"):
                train_step(inputs)
    events = sorted(profiler.events(), key=lambda event: event.time_range.start)
    steps = [event for event in events if event.name == "STEP"]
    per_step: list[dict[str, float]] = [{} for _ in steps]
    index = 0
    for event in events:
        if event.name == "STEP":
            continue
        while index < len(steps) and event.time_range.start > steps[index].time_range.end:
            index += 1
        if index == len(steps):
            break
        if event.time_range.start < steps[index].time_range.start:
            continue
        kinds = per_step[index]
        kind = _kind(event)
        kinds[kind] = kinds.get(kind, 0.0) + event.self_cpu_time_total / 1e3
    for step, kinds in zip(steps, per_step, strict=True):
        kinds["Python (the step beyond its operations)"] = step.cpu_time_total / 1e3 - sum(
            kinds.values()
        )
    names = sorted({name for kinds in per_step for name in kinds})
    medians = {name: statistics.median(k.get(name, 0.0) for k in per_step) for name in names}
    return statistics.median(step.cpu_time_total / 1e3 for step in steps), medians


def _matmul_ms(rows: int, in_size: int, out_size: int, input_gradient: bool) -> float:
    """Forward, weight-gradient and (optionally) input-gradient products of one layer."""
    x, w, g = (
        torch.randn(rows, in_size),
        torch.randn(out_size, in_size),
        torch.randn(rows, out_size),
    )

    def products():
        torch.mm(x, w.t())
        torch.mm(g.t(), x)
        if input_gradient:
            torch.mm(g, w)

    return _median_ms(products)


def _likelihood_ms(samples: int, batch: int, features: int, counts, entries) -> float:
    """The fused summed log-pmf as the decoder calls it: raw head outputs, clipped inside."""
    from scvae.distributions import registry
    from scvae.distributions.kernels import negative_binomial_log_prob_sum

    specs = registry.head_specs("negative_binomial")
    clip = tuple((specs[name].low, specs[name].high) for name in ("log_r", "p_logits"))
    log_r = (torch.randn(samples, batch, features) * 2).clamp(-9, 9).requires_grad_(True)
    logits = torch.randn(samples, batch, features).requires_grad_(True)

    def step():
        value = negative_binomial_log_prob_sum(counts, log_r, logits, entries, clip=clip)
        value.sum().backward()
        log_r.grad = logits.grad = None

    return _median_ms(step)


def _optimiser_ms(module) -> float:
    from scvae.training.fit import _adam

    optimiser = _adam(module, 1e-4)
    for parameter in module.parameters():
        parameter.grad = torch.randn_like(parameter)

    parameters = list(module.parameters())

    def step():
        torch.nn.utils.clip_grad_value_(parameters, 1.0, foreach=True)
        optimiser.step()

    return _median_ms(step)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configuration", default="paper_gmvae", choices=sorted(CONFIGURATIONS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--profile", action="store_true", help="add the torch.profiler table")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter

    from scvae import api
    from scvae.data.batches import minibatches
    from scvae.distributions._common import unvalidated
    from scvae.models.build import build_module_from, samples_for
    from scvae.runtime import keep_freed_memory
    from scvae.training.fit import _adam
    from scvae.workflows.data_sets import labelled
    from scvae.workflows.train import build_facts

    keep_freed_memory()
    configuration = CONFIGURATIONS[args.configuration]
    work = HERE / "_work" / "breakdown"
    data = data_config(work)
    model_config = configuration.model
    training_config = configuration.training(1, work / "models", args.threads)
    data_set = api.load_data_set(
        data,
        str(DATA_SETS["pbmc4k"].file),
        reconstruction_distribution=model_config.reconstruction_distribution,
    )
    _, training, _, _ = api.split_data_set(data_set, data)
    facts = build_facts(model_config, training, training_config)
    torch.manual_seed(1)
    module = build_module_from(model_config, facts)
    source = labelled(training, model_config, facts).source
    optimiser = _adam(module, training_config.learning_rate)
    batch_size = training_config.minibatch_size
    samples = samples_for(model_config)[0]
    order = np.random.default_rng(0)
    batches = [inputs for inputs, _ in minibatches(source, batch_size, rng=order)]
    batches = [inputs for inputs in batches if inputs.size == batch_size][: args.steps]

    parameters = list(module.parameters())

    def train_step(inputs):
        output = module(inputs, kl_scale=1.0, samples=samples)
        optimiser.zero_grad(set_to_none=True)
        output.loss.backward()
        torch.nn.utils.clip_grad_value_(parameters, 1.0, foreach=True)
        optimiser.step()

    module.train()
    with unvalidated():
        for inputs in batches[:3]:
            train_step(inputs)
        times = []
        for inputs in batches:
            started = CLOCK()
            train_step(inputs)
            times.append((CLOCK() - started) * 1e3)
        profiled = _profile(train_step, batches) if args.profile else None
    step = statistics.median(times)

    k = facts.number_of_classes if model_config.model_type.upper() == "GMVAE" else 1
    draws = samples[0] * samples[1]
    layers = dense_layers(model_config, facts.feature_size, k, 0, samples)
    parts: dict[str, float] = {}
    flops = 0
    for layer in layers:
        rows = batch_size * layer.rows_per_example + layer.rows_per_batch
        parts.setdefault("matrix products (all dense layers)", 0.0)
        parts["matrix products (all dense layers)"] += _matmul_ms(
            rows, layer.in_size, layer.out_size, layer.input_gradient
        )
        flops += layer.flops(batch_size)
    counts, entries = batches[0].target, batches[0].target_entries
    features = facts.feature_size
    parts["negative-binomial log-likelihood (fused, fwd+bwd)"] = _likelihood_ms(
        draws * k, batch_size, features, counts, entries
    )
    parts["gradient clipping + Adam"] = _optimiser_ms(module)
    parts["rest (batch norm, activations, sampling, KL, Python)"] = step - sum(parts.values())
    peak = matmul_flops_per_second(clock=CLOCK)

    print(
        f"\n{args.configuration} on pbmc4k, minibatch {batch_size}, K = {k}, {args.threads} threads: "
        f"median step {step:.2f} ms over {len(times)} steps"
    )
    print(
        f"torch.mm peak (2048^3): {peak / 1e9:.1f} GFLOP/s; model FLOPs per step {flops / 1e9:.3f} G"
    )
    print(
        f"achieved: {flops / step / 1e6:.1f} GFLOP/s = {100 * flops / step / 1e6 / (peak / 1e9):.1f} % of peak\n"
    )
    print("| part | ms per step | share of step |")
    print("|---|---|---|")
    for name, value in parts.items():
        print(f"| {name} | {value:.2f} | {100 * value / step:.1f} % |")
    matmul = parts["matrix products (all dense layers)"]
    print(
        f"\nThe products alone run at {flops / matmul / 1e6:.1f} GFLOP/s "
        f"({100 * flops / matmul / 1e6 / (peak / 1e9):.0f} % of peak) at these shapes; "
        f"if nothing else took time the step would reach that share."
    )
    if profiled is not None:
        profiled_step, kinds = profiled
        print(
            f"\ntorch.profiler, {len(batches)} steps: median step {profiled_step:.2f} ms (wall, "
            "with the profiler's overhead); each kind's own time, median over the steps:\n"
        )
        print("| kind | ms per step | share of step |")
        print("|---|---|---|")
        for name, value in sorted(kinds.items(), key=lambda item: -item[1]):
            print(f"| {name} | {value:.2f} | {100 * value / profiled_step:.1f} % |")
        rest = profiled_step - sum(kinds.values())
        print(
            f"| not in any kind's median (interruptions: a kind's median leaves out the steps "
            f"in which the scheduler paused it) | {rest:.2f} | {100 * rest / profiled_step:.1f} % |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
