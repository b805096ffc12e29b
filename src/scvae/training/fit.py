"""The one training loop: epochs of Adam steps, per-epoch evaluation, checkpoints, resume.

A run directory holds ``checkpoint.pt`` (the last completed epoch: weights, optimiser,
early-stopping state), ``learning_curves.csv``, and the ``best/`` and
``early_stopping/`` versions. Each epoch's randomness is seeded from the run seed and
the epoch number, and all of an epoch's files are committed in one step
(:mod:`scvae.training.commit`), so a run killed at any point and resumed gives the
same curves, records and model versions as an uninterrupted one.

After each epoch the training and validation sets are evaluated (the learning curves,
early stopping, the GMVAE's accuracy). A set of more than ``evaluation_cells`` examples
is evaluated on a fixed random subsample of that many (:func:`evaluation_sample`: runs
of neighbouring examples drawn from the run seed, the same cells every epoch and after
a resume); smaller sets, or ``evaluation_cells = 0``, are evaluated exactly, on every
example.

Before that evaluation, the batch-norm layers' inference statistics are measured with
the epoch's final weights on a fixed sample of training cells
(:mod:`scvae.training.normalisation`), so evaluations, early stopping and the saved
versions use statistics that fit their weights.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from scvae import progress
from scvae.clustering import accuracy, majority_labels
from scvae.data.batches import RowSource
from scvae.errors import ConfigError, ScvaeError
from scvae.folders import BEST_DIRECTORY, CHECKPOINT_NAME, CURVES_NAME, EARLY_STOPPING_DIRECTORY
from scvae.training.checkpoints import (
    CheckpointError,
    load_checkpoint,
    load_weights,
    serialise_checkpoint,
)
from scvae.training.commit import EpochCommit, recover
from scvae.training.curves import read_curves, write_curves
from scvae.training.normalisation import (
    BATCH_NORM_CELLS,
    BATCH_NORM_STREAM,
    measure_batch_norm,
)
from scvae.training.parallel import (
    SINGLE,
    Processes,
    evaluation_batches,
    evaluation_steps,
    number_of_steps,
    share_buffers,
    training_batches,
    wrap_module,
)
from scvae.training.priors import fit_library_prior, place_mixture, revive_components

EARLY_STOPPING_PATIENCE = 10
#: training steps between checks of the loss on a GPU (each check waits for the device)
DEVICE_CHECK_STEPS = 25
#: the stream of the per-epoch evaluation subsamples (mixed with the run seed and the set)
EVALUATION_SAMPLE_STREAM = 0x5EED_E7A1
#: the sample is made of runs of this many neighbouring examples (in store order): few
#: reads, and on a compressed file few chunks to decompress, for a sample spread over
#: hundreds of places in the set
EVALUATION_RUN = 64
RESUME_ADVICE = "train again from the start with --reset-training"


class TrainingDiverged(ScvaeError):
    """The loss became NaN or infinite."""


@dataclass
class LabelledSource:
    """A matrix source with optional labels (for the GMVAE's accuracy)."""

    source: RowSource
    labels: np.ndarray | None = None
    excluded_classes: Sequence[str] = ()
    superset_labels: np.ndarray | None = None
    excluded_superset_classes: Sequence[str] = ()


@dataclass
class EarlyStopping:
    """The original's early-stopping bookkeeping (reference §3.10); JSON-able."""

    reference: float = -math.inf
    counter: int = 0
    stopped: bool = False
    best: float = -math.inf
    best_epoch: int = 0

    def update(self, value: float) -> str | None:
        """Return ``"snapshot"`` (keep the previous epoch), ``"clear"`` or ``None``."""
        if self.stopped:
            return None
        if value < self.reference:
            action = "snapshot" if self.counter == 0 else None
            if self.counter == 0:
                self.reference = value
            self.counter += 1
            self.stopped = self.counter >= EARLY_STOPPING_PATIENCE
            return action
        self.counter, self.reference = 0, value
        return "clear"


@dataclass
class FitOptions:
    """What :func:`fit` needs besides the model and data."""

    number_of_epochs: int
    minibatch_size: int = 100
    learning_rate: float = 1e-3
    warm_up_epochs: int = 0
    kl_weight: float = 1.0
    training_samples: tuple[int, int] = (1, 1)
    seed: int = 0
    early_stopping: bool = False
    device: str = "cpu"
    progress: bool = True
    on_epoch_end: Callable[[int, list[dict]], None] | None = None
    #: prints a line about training (the main process only): moved components
    on_message: Callable[[str], None] | None = None
    terms: tuple[str, ...] = field(default=("lower_bound", "reconstruction_error", "kl_divergence"))
    processes: Processes = SINGLE
    #: a set of more than this many examples is evaluated after each epoch on a fixed
    #: random subsample of this many (0: every example, whatever the size)
    evaluation_cells: int = 0
    #: examples per evaluation minibatch (``None``: ``minibatch_size``, the fastest per
    #: example on the CPU, where larger minibatches were measured to be slower)
    evaluation_minibatch_size: int | None = None


@dataclass(frozen=True)
class EvaluatedSet:
    """A set as the per-epoch evaluation sees it: every example, or a fixed subsample."""

    kind: str
    data: LabelledSource
    #: examples of the whole set
    total: int
    #: the positions evaluated (sorted), or ``None`` for every example
    rows: np.ndarray | None = None

    @property
    def cells(self) -> int:
        """Examples evaluated each epoch."""
        return self.total if self.rows is None else len(self.rows)


def evaluation_sample(
    examples: int, cells: int, seed: int, kind: str, order: np.ndarray | None = None
) -> np.ndarray | None:
    """The positions a set of ``examples`` is evaluated on after each epoch (sorted).

    ``None`` (every example) when ``cells`` is 0 or the set has at most ``cells``
    examples. Otherwise ``order`` (the positions in store order; default ``0, 1, ...``)
    is cut into runs of :data:`EVALUATION_RUN` consecutive entries, the runs are taken
    in a random order until they hold ``cells`` positions, and the last one taken is
    shortened to give exactly ``cells``. The generator is seeded by the run seed and the
    set's kind, so every epoch, every process and a resumed run use the same positions.
    """
    if cells <= 0 or examples <= cells:
        return None
    order = np.arange(examples) if order is None else np.asarray(order, dtype=np.int64)
    stream = ("training", "validation").index(kind) if kind in ("training", "validation") else 2
    rng = np.random.default_rng([int(seed), EVALUATION_SAMPLE_STREAM, stream])
    runs = rng.permutation(-(-examples // EVALUATION_RUN))
    sizes = np.minimum(EVALUATION_RUN, examples - runs * EVALUATION_RUN)
    taken = int(np.searchsorted(np.cumsum(sizes), cells)) + 1
    pieces = [order[run * EVALUATION_RUN : (run + 1) * EVALUATION_RUN] for run in runs[:taken]]
    pieces[-1] = pieces[-1][: len(pieces[-1]) - (int(sizes[:taken].sum()) - cells)]
    return np.sort(np.concatenate(pieces))


def evaluated_sets(training, validation, options: FitOptions) -> list[EvaluatedSet]:
    """The sets evaluated after each epoch, each whole or as its fixed subsample."""
    cells = options.evaluation_cells
    if isinstance(cells, bool) or not isinstance(cells, (int, np.integer)) or cells < 0:
        raise ConfigError(
            "--epoch-evaluation-cells (epoch_evaluation_cells) must be a whole number of "
            f"cells, or 0 for every cell; got {cells!r}"
        )
    sets = []
    for kind, data in (("training", training), ("validation", validation)):
        if data is None:
            continue
        total = data.source.number_of_examples
        order = data.source.reading_order() if 0 < cells < total else None
        rows = evaluation_sample(total, int(cells), options.seed, kind, order)
        sets.append(EvaluatedSet(kind, data if rows is None else subset(data, rows), total, rows))
    return sets


def subset(data: LabelledSource, rows: np.ndarray) -> LabelledSource:
    """The examples at ``rows`` (positions) of ``data``, with their labels, as a set of their own.

    Each example's values, network input, library size, count sum and batch are those
    it has in ``data`` (the count sums are not normalised again), so evaluating the
    subset gives each example the terms it has when the whole set is evaluated.
    """

    def take(values):
        return None if values is None else np.asarray(values)[rows]

    return dataclasses.replace(
        data,
        source=subset_source(data.source, rows),
        labels=take(data.labels),
        superset_labels=take(data.superset_labels),
    )


def subset_source(source, rows: np.ndarray):
    """A minibatch source of the examples at ``rows`` (sorted positions) of ``source``.

    A :class:`RowSource` becomes a view of those rows read directly (no block cache: on
    disk, the store merges the reads of nearby rows), otherwise a thin wrapper.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if not isinstance(source, RowSource):
        return _SourceRows(source, rows)

    def take(values):
        return None if values is None else values[rows]

    return dataclasses.replace(
        source,
        matrix=source.matrix[rows],
        inputs=take(source.inputs),
        library_size=source.library_size[rows],
        count_sum=take(source.count_sum),
        batch_indices=take(source.batch_indices),
        order="permutation",
        _cache=OrderedDict(),
        _ranks=None,
    )


class _SourceRows:
    """The examples at ``rows`` of any minibatch source (read through it)."""

    def __init__(self, source, rows: np.ndarray) -> None:
        self.source, self.rows = source, rows

    def __getattr__(self, name: str):
        return getattr(self.source, name)  # e.g. ``noisy``

    @property
    def number_of_examples(self) -> int:
        return len(self.rows)

    def reading_order(self) -> np.ndarray:
        return np.arange(len(self.rows))

    def epoch_order(self, rng: np.random.Generator) -> np.ndarray:
        return rng.permutation(len(self.rows))

    def inputs_for(self, rows, device="cpu", noise=None):
        return self.source.inputs_for(self.rows[np.asarray(rows, dtype=np.int64)], device, noise)


def warm_up_weight(epoch: int, warm_up_epochs: int) -> float:
    """``min(epoch / W, 1)`` for the 0-based epoch (1 when there is no warm-up)."""
    return 1.0 if warm_up_epochs <= 0 else min(epoch / warm_up_epochs, 1.0)


def fit(
    module: torch.nn.Module,
    training: LabelledSource,
    validation: LabelledSource | None,
    run_directory: str | Path,
    options: FitOptions,
) -> list[dict]:
    """Train ``module`` up to ``options.number_of_epochs`` in total; return the curves.

    Resumes from ``run_directory/checkpoint.pt`` when present; a NaN/Inf loss raises
    :class:`TrainingDiverged` and leaves the last good checkpoint in place.
    """
    from scvae.distributions._common import unvalidated

    with unvalidated():
        return _fit(module, training, validation, Path(run_directory), options)


def _fit(module, training, validation, run_directory: Path, options: FitOptions) -> list[dict]:
    evaluated = evaluated_sets(training, validation, options)
    device = torch.device(options.device)
    module.to(device)
    optimiser = _adam(module, options.learning_rate)
    if options.processes.is_main:  # the others follow the main process's files
        recover(run_directory)  # an epoch interrupted while it was committed
    start, stopping, rows = _resume(module, optimiser, run_directory, device)
    if start == 0:
        fit_library_prior(module, training.source, 500, device, options.processes)
    trainer = wrap_module(module, options.processes, device)
    statistics_source = batch_norm_source(training.source, options.seed)
    bar = _run_bar(training, evaluated, start, options)
    try:
        for epoch in range(start, options.number_of_epochs):
            if options.early_stopping and stopping.stopped:
                break
            bar.set_description_str(_stage(epoch, options, "training"))
            seconds = _train_epoch(trainer, optimiser, training.source, epoch, options, device, bar)
            share_buffers(module, options.processes)
            _measure_statistics(module, statistics_source, epoch, options, device)
            if epoch + 1 == getattr(module, "mixture_initialisation_epoch", 0):
                bar.set_description_str(_stage(epoch, options, "placing the mixture components"))
                place_mixture(module, training.source, options.seed, 500, device, options.processes)
                # the placement trains q(y|x): its layers' statistics again
                _measure_statistics(module, statistics_source, epoch, options, device)
            moved = ()
            if _revival_due(module, epoch + 1, options.number_of_epochs):
                bar.set_description_str(_stage(epoch, options, "moving empty components"))
                moved = revive_components(
                    module, training.source, options.seed + epoch, 500, device, options.processes
                )
                if len(moved):
                    _measure_statistics(module, statistics_source, epoch, options, device)
            _seed_evaluation(options.seed, epoch)
            rows += _evaluate_sets(module, evaluated, epoch, seconds, options, bar)
            with bar.external_write_mode():  # epoch lines printed by the callback
                _after_epoch(module, optimiser, run_directory, epoch, rows, stopping, options)
                if len(moved) and options.on_message is not None and options.processes.is_main:
                    options.on_message(_moved_message(moved, epoch + 1))
    finally:
        bar.close()
    return rows


def _revival_due(module, done: int, total: int) -> bool:
    """Whether empty components are moved after ``done`` epochs of ``total``: every
    ``component_revival_interval`` epochs after the placement, while at least as many
    epochs remain to train the moved ones."""
    interval = getattr(module, "component_revival_interval", 0)
    placement = getattr(module, "mixture_initialisation_epoch", 0)
    if interval <= 0 or done <= placement or done + interval > total:
        return False
    return (done - placement) % interval == 0


def _moved_message(moved, epoch: int) -> str:
    """The line that says which empty components moved after ``epoch`` (printed after
    that epoch's line, whose bounds were evaluated after the move)."""
    names = ", ".join(str(int(k)) for k in moved)  # as the cluster IDs of the outputs
    plural = "s" if len(moved) > 1 else ""
    return (
        f"After epoch {epoch}: moved {len(moved)} empty component{plural} ({names}) "
        "onto halves of the widest clusters."
    )


def batch_norm_source(source, seed: int):
    """The training cells the inference batch-norm statistics are measured on.

    Every cell of a set of at most :data:`BATCH_NORM_CELLS`, otherwise a fixed random
    sample of that many, drawn from the run seed, cell by cell (not in runs of
    neighbours: files sorted by sample or cell type would give a biased sample).
    """
    total = source.number_of_examples
    if total <= BATCH_NORM_CELLS:
        return source
    rng = np.random.default_rng([int(seed), BATCH_NORM_STREAM])
    return subset_source(source, np.sort(rng.choice(total, BATCH_NORM_CELLS, replace=False)))


def _measure_statistics(module, source, epoch: int, options: FitOptions, device) -> None:
    measure_batch_norm(
        module,
        source,
        seed=options.seed,
        epoch=epoch,
        batch_size=options.minibatch_size,
        samples=options.training_samples,
        device=device,
        processes=options.processes,
    )


def _evaluate_sets(
    module, sets: Sequence[EvaluatedSet], epoch: int, seconds: float, options, bar
) -> list[dict]:
    """The epoch's rows: the terms of the training and validation sets, with their timings.

    ``seconds`` is the training pass; ``evaluation_seconds`` the evaluation of that set,
    made on ``evaluated_cells`` of its examples.
    """
    rows = []
    device = torch.device(options.device)
    for evaluated in sets:
        what = f"evaluating the {evaluated.kind} set"
        if evaluated.rows is not None:
            what += f" ({evaluated.cells:,} of {evaluated.total:,})"
        bar.set_description_str(_stage(epoch, options, what))
        started = time.perf_counter()
        terms = evaluate_terms(module, evaluated.data, options, device, bar)
        elapsed = time.perf_counter() - started
        rows.append(
            {"epoch": epoch + 1, "set": evaluated.kind, **terms, "seconds": seconds,
             "evaluation_seconds": elapsed, "evaluated_cells": evaluated.cells,
             "set_cells": evaluated.total}
        )  # fmt: skip
    return rows


def _resume(module, optimiser, run_directory: Path, device) -> tuple[int, EarlyStopping, list]:
    path = run_directory / CHECKPOINT_NAME
    if not path.exists():
        return 0, EarlyStopping(), []
    state = load_checkpoint(path, map_location=device, advice=RESUME_ADVICE)
    load_weights(module, state, path, RESUME_ADVICE)
    try:
        optimiser.load_state_dict(state["optimiser"])
        _match_state_to_parameters(optimiser)
        stopping = EarlyStopping(**state["early_stopping"])
    except (ValueError, TypeError, KeyError, RuntimeError) as error:
        raise CheckpointError(
            path, "has an invalid optimiser or early-stopping state", RESUME_ADVICE
        ) from error
    epoch = int(state["epoch"])
    rows = [row for row in read_curves(run_directory / CURVES_NAME) if row["epoch"] <= epoch]
    return epoch, stopping, rows


def _match_state_to_parameters(optimiser: torch.optim.Optimizer) -> None:
    """Transpose moment estimates saved for a parameter now stored transposed.

    A wide first layer's weight is held feature by feature (``in x out``); checkpoints
    written when it was held as ``out x in`` keep Adam's moments in that shape.
    """
    for group in optimiser.param_groups:
        for parameter in group["params"]:
            state = optimiser.state.get(parameter, {})
            for name, value in state.items():
                if (
                    torch.is_tensor(value)
                    and value.dim() == 2
                    and value.shape != parameter.shape
                    and value.shape == parameter.shape[::-1]
                ):
                    state[name] = value.t().contiguous()


def _adam(module: torch.nn.Module, learning_rate: float) -> torch.optim.Optimizer:
    """Adam with its fused kernel (one pass over all parameters) where the device has one."""
    try:
        return torch.optim.Adam(module.parameters(), lr=learning_rate, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(module.parameters(), lr=learning_rate)


def _seed_epoch(seed: int, epoch: int) -> np.random.Generator:
    torch.manual_seed(seed * 100_003 + epoch)
    return np.random.default_rng([seed, epoch])


def _seed_evaluation(seed: int, epoch: int) -> None:
    """Evaluation draws its own stream (the same whatever training drew, in any process)."""
    torch.manual_seed(seed * 100_003 + epoch + 50_021)


def _run_bar(
    training: LabelledSource, evaluated: Sequence[EvaluatedSet], start: int, options: FitOptions
):
    """One bar for the whole run: every training step and every evaluation minibatch.

    Its ETA covers the epochs still to train, with their evaluation passes of the
    training and validation sets (or their subsamples; a rate averaged over the run,
    not the last steps). Drawn by the main process only, and only where
    :func:`scvae.progress.wanted` says so.
    """
    processes = options.processes
    size = options.minibatch_size
    per_epoch = number_of_steps(training.source.number_of_examples, size, processes)
    for data in evaluated:
        per_epoch += evaluation_steps(data.cells, _evaluation_size(options), processes)
    return progress.bar(
        total=max(options.number_of_epochs - start, 0) * per_epoch,
        enabled=options.progress and processes.is_main,
        unit="step",
        smoothing=0.0,
        dynamic_ncols=True,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} steps "
        "[{elapsed}<{remaining}]{postfix}",
    )


def _evaluation_size(options: FitOptions) -> int:
    return options.evaluation_minibatch_size or options.minibatch_size


def _stage(epoch: int, options: FitOptions, what: str) -> str:
    return f"Epoch {epoch + 1}/{options.number_of_epochs}, {what}"


def _train_epoch(
    module, optimiser, source: RowSource, epoch: int, options, device, bar=None
) -> float:
    rng = _seed_epoch(options.seed, epoch)
    kl_scale = warm_up_weight(epoch, options.warm_up_epochs) * options.kl_weight
    module.train()
    started = time.perf_counter()
    processes = options.processes
    batches = training_batches(source, options.minibatch_size, rng, device, processes)
    parameters = [p for group in optimiser.param_groups for p in group["params"]]
    # Reading a value on the host waits for the device: off the CPU the losses are
    # checked (and the bar's ELBO read) every few steps, so the GPU is never idle.
    every = check_steps(device)
    finite = None
    for step, (inputs, weight) in enumerate(batches):
        output = module(inputs, kl_scale=kl_scale, samples=options.training_samples)
        loss_finite = torch.isfinite(output.loss.detach()).all()
        finite = loss_finite if finite is None else finite & loss_finite
        if (step + 1) % every == 0:
            _check_finite(finite, processes, epoch)
            finite = None
        optimiser.zero_grad(set_to_none=True)
        (output.loss * weight if weight != 1.0 else output.loss).backward()
        torch.nn.utils.clip_grad_value_(parameters, 1.0, foreach=True)
        optimiser.step()
        if bar is not None:
            bar.update()
            if step % (10 * every) == 0 and not bar.disable:
                elbo = float(output.lower_bound.detach().mean())
                bar.set_postfix_str(f"training ELBO {elbo:.1f}")
    if finite is not None:
        _check_finite(finite, processes, epoch)
    return time.perf_counter() - started


def check_steps(device) -> int:
    """Training steps between checks of the loss: 1 on the CPU, more on other devices."""
    return 1 if torch.device(device).type == "cpu" else DEVICE_CHECK_STEPS


def _check_finite(finite: torch.Tensor, processes: Processes, epoch: int) -> None:
    """Stop training if a loss since the last check was not finite (in any process)."""
    if not processes.all_finite(torch.where(finite, 0.0, math.inf)):
        raise TrainingDiverged(_diverged_message(f"the loss in epoch {epoch + 1}"))


def _diverged_message(what: str) -> str:
    return (
        f"{what} became NaN or infinite; the last completed epoch is kept."
        " Try a lower --learning-rate, KL warm-up (-w), or another likelihood "
        "(e.g. negative_binomial instead of a zero-inflated one)."
    )


@torch.no_grad()
def evaluate_terms(module, data: LabelledSource, options: FitOptions, device, bar=None) -> dict:
    """Exact per-cell means of the bound and its terms (and accuracy) over a data set.

    ``data`` is evaluated whole (pass :func:`subset` of it for some of its examples).
    With several processes each evaluates its part and the sums are shared; ``bar``
    (a progress bar) advances by one per minibatch.
    """
    module.eval()
    processes = options.processes
    sums: dict[str, float] = {}
    clusters, positions = [], []
    batches = evaluation_batches(data.source, _evaluation_size(options), device, processes)
    for inputs, rows in batches:
        output = module(inputs, kl_scale=1.0, samples=options.training_samples)
        terms = {
            "lower_bound": output.lower_bound,
            "reconstruction_error": output.reconstruction_error,
        }
        terms.update(output.kl)
        for name, values in terms.items():
            sums[name] = sums.get(name, 0.0) + float(values.double().sum())
        if output.y_probabilities is not None:
            clusters.append(output.y_probabilities.argmax(dim=1).cpu().numpy())
            positions.append(rows)
        if bar is not None:
            bar.update()
    names = list(sums) if processes.is_main else None
    names = processes.share(names)
    totals = processes.sum(np.array([sums.get(name, 0.0) for name in names]))
    count = max(data.source.number_of_examples, 1)
    means = {name: float(total) / count for name, total in zip(names, totals, strict=True)}
    if not all(math.isfinite(value) for value in means.values()):
        raise TrainingDiverged(_diverged_message("the evaluated ELBO"))
    if data.labels is not None and processes.share(bool(clusters)):
        cluster_ids = processes.gather(np.concatenate(clusters or [np.zeros(0, np.int64)]))
        rows = processes.gather(np.concatenate(positions or [np.zeros(0, np.int64)]))
        labels = np.asarray(data.labels)[rows]
        predicted = majority_labels(cluster_ids, labels, data.excluded_classes)
        means["accuracy"] = accuracy(predicted, labels, data.excluded_classes)
        if data.superset_labels is not None:
            superset = np.asarray(data.superset_labels)[rows]
            excluded = data.excluded_superset_classes
            voted = majority_labels(cluster_ids, superset, excluded)
            means["superset_accuracy"] = accuracy(voted, superset, excluded)
    return means


def _after_epoch(module, optimiser, run_directory: Path, epoch, rows, stopping, options) -> None:
    """Early-stopping bookkeeping in every process; files and the callback in the main one.

    The main process stages the epoch's files, runs the callback (whose epoch records
    are staged too) and commits them all in one step.
    """
    validation = [row for row in rows if row["epoch"] == epoch + 1 and row["set"] == "validation"]
    action = stopping.update(validation[0]["lower_bound"]) if validation else None
    improved = bool(validation) and validation[0]["lower_bound"] > stopping.best
    if improved:
        stopping.best, stopping.best_epoch = validation[0]["lower_bound"], epoch + 1
    if options.processes.is_main:
        commit = EpochCommit(run_directory).begin()
        _write_epoch(module, optimiser, commit, epoch, rows, stopping, options, action, improved)
        if options.on_epoch_end is not None:
            options.on_epoch_end(epoch, rows)
        commit.commit()


def _write_epoch(
    module, optimiser, commit: EpochCommit, epoch, rows, stopping, options, action, improved
) -> None:
    """Stage the checkpoint, ``best/``, ``early_stopping/`` and the curves of an epoch."""
    if action == "snapshot" and (commit.run / CHECKPOINT_NAME).exists():
        commit.copy_checkpoint(CHECKPOINT_NAME, f"{EARLY_STOPPING_DIRECTORY}/{CHECKPOINT_NAME}")
    elif action == "clear":
        commit.remove(EARLY_STOPPING_DIRECTORY)
    write_curves(commit.path(CURVES_NAME), rows, options.terms)
    state = {
        "model": module.state_dict(),
        "optimiser": optimiser.state_dict(),
        "epoch": epoch + 1,
        "early_stopping": asdict(stopping),
    }
    data = serialise_checkpoint(state)
    commit.checkpoint(CHECKPOINT_NAME, data)
    if improved:
        commit.checkpoint(f"{BEST_DIRECTORY}/{CHECKPOINT_NAME}", data)
