"""One pass of a trained module over a data set: ELBO terms, latent values, reconstructions.

Everything per example that is small (latent means, q(y|x)) is kept for all examples;
reconstructions (dense, examples x features) are kept only for the rows asked for, so
evaluating a large set never holds a dense reconstruction of it in memory. Summary
statistics and per-example totals of the reconstructions of more rows (``statistics_rows``)
are accumulated minibatch by minibatch without keeping the reconstructions.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from scvae import progress as progress_bars
from scvae.data.batches import RowSource, minibatches
from scvae.distributions._common import unvalidated
from scvae.errors import ScvaeError

#: Seed of the Monte-Carlo draws of an evaluation pass (see :func:`evaluate_module`).
EVALUATION_SEED = 20_011

#: Reconstruction means this many times the largest observed count are reported.
RECONSTRUCTION_WARNING_FACTOR = 100.0


@dataclass
class Evaluation:
    """What :func:`evaluate_module` computes.

    ``terms`` holds per-example means of ``lower_bound``, ``reconstruction_error`` and the
    KL terms. ``z`` are posterior means ``(N, L)``; ``y`` is q(y|x) ``(N, K)`` for the GMVAE.
    ``reconstruction`` is E[x] for ``reconstruction_rows`` (``float32``); ``total_sd`` and
    ``explained_sd`` are given for ``profile_rows`` (both index the evaluated set).
    ``reconstruction_statistics`` (the summary statistics of
    :func:`scvae.analyses.metrics.summary_statistics`) and ``reconstruction_totals`` (each
    row's total E[x], ``float32``) describe the reconstructions of ``statistics_rows``,
    computed as they were produced (``None`` when no statistics rows were asked for).
    """

    terms: dict[str, float]
    z: np.ndarray
    y: np.ndarray | None = None
    kl_neurons: np.ndarray | None = None
    reconstruction_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    reconstruction: np.ndarray | None = None
    profile_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    total_sd: np.ndarray | None = None
    explained_sd: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    statistics_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    reconstruction_statistics: dict[str, float] | None = None
    reconstruction_totals: np.ndarray | None = None

    @property
    def cluster_ids(self) -> np.ndarray | None:
        """The GMVAE's own clusters: argmax q(y|x)."""
        return None if self.y is None else self.y.argmax(axis=1)


class SummaryAccumulator:
    """Mean, standard deviation (``ddof=1``), dispersion, minimum, maximum and sparsity
    (share of values below 0.5) of values that arrive in blocks, in one pass.

    The same statistics as :func:`scvae.analyses.metrics.summary_statistics` over all the
    blocks' values together (to rounding); each block's mean and squared deviations are
    merged into the running ones with Chan et al.'s pairwise update, in ``float64``, so
    only one block is held.
    """

    def __init__(self) -> None:
        self.count = 0
        self.mean = 0.0
        self.squares = 0.0
        self.below_half = 0
        self.minimum, self.maximum = np.inf, -np.inf

    def add(self, values: np.ndarray) -> None:
        block = np.asarray(values, dtype=np.float64).ravel()
        if not block.size:
            return
        mean = float(block.mean())
        squares = float(np.square(block - mean).sum())
        count = self.count + block.size
        delta = mean - self.mean
        self.squares += squares + delta * delta * self.count * block.size / count
        self.mean += delta * block.size / count
        self.count = count
        self.below_half += int(np.count_nonzero(block < 0.5))
        self.minimum = min(self.minimum, float(block.min()))
        self.maximum = max(self.maximum, float(block.max()))

    def result(self) -> dict[str, float]:
        nan = float("nan")
        total = self.count
        variance = self.squares / (total - 1) if total > 1 else nan
        return {
            "mean": float(self.mean) if total else nan,
            "standard deviation": float(np.sqrt(variance)),
            "dispersion": float(variance / self.mean) if total and self.mean else nan,
            "minimum": float(self.minimum) if total else nan,
            "maximum": float(self.maximum) if total else nan,
            "sparsity": float(self.below_half / total) if total else nan,
        }


class _Accumulator:
    """Sums of per-example terms and the per-example arrays, minibatch by minibatch.

    The kept reconstructions and standard deviations go straight into arrays allocated
    once at their final size (rows in ascending order), never into lists to be stacked.
    """

    def __init__(
        self, n: int, keep: np.ndarray, profile: np.ndarray, statistics: np.ndarray
    ) -> None:
        self.n = n
        self.sums: dict[str, float] = {}
        self.rows: list[np.ndarray] = []
        self.z: list[np.ndarray] = []
        self.y: list[np.ndarray] = []
        self.kl_neurons: list[np.ndarray] = []
        self.keep, self.profile, self.statistics = keep, profile, statistics
        self.reconstruction: np.ndarray | None = None
        self.total: np.ndarray | None = None
        self.explained: np.ndarray | None = None
        self.summary = SummaryAccumulator() if len(statistics) else None
        self.totals = np.zeros(len(statistics), np.float32) if len(statistics) else None
        self.largest_count = 0.0
        self.largest_mean = 0.0

    def place(self, name: str, rows: np.ndarray, values: np.ndarray, dtype) -> None:
        """Put ``values`` of ``rows`` (all in the ``name`` rows' set) at their positions."""
        wanted = {"reconstruction": self.keep, "total": self.profile, "explained": self.profile}
        target = getattr(self, name)
        if target is None:
            target = np.zeros((len(wanted[name]), values.shape[1]), dtype=dtype)
            setattr(self, name, target)
        target[np.searchsorted(wanted[name], rows)] = values

    def add_terms(self, output) -> None:
        terms = {
            "lower_bound": output.lower_bound,
            "reconstruction_error": output.reconstruction_error,
            **output.kl,
        }
        for name, values in terms.items():
            self.sums[name] = self.sums.get(name, 0.0) + float(values.double().sum())
        if output.kl_neurons is not None:
            self.kl_neurons.append(
                output.kl_neurons.double().cpu().numpy() * len(output.lower_bound)
            )

    def result(self) -> Evaluation:
        terms = {name: value / max(self.n, 1) for name, value in self.sums.items()}
        if not all(math.isfinite(value) for value in terms.values()):
            raise ScvaeError(
                "the evaluated ELBO is NaN or infinite; the model may have diverged "
                "(try another model version, e.g. --model-versions best_model)"
            )
        for name, values in (("latent values", self.z), ("reconstructions", [self.reconstruction])):
            check_finite(name, values)
        # sources may read in another order (backed data: file order); restore row order
        order = np.argsort(np.concatenate(self.rows), kind="stable") if self.rows else None
        return Evaluation(
            terms=terms,
            z=np.concatenate(self.z)[order] if self.z else np.zeros((0, 0)),
            y=np.concatenate(self.y)[order] if self.y else None,
            kl_neurons=sum(self.kl_neurons) / max(self.n, 1) if self.kl_neurons else None,
            reconstruction_rows=self.keep,
            reconstruction=self.reconstruction if len(self.keep) else None,
            profile_rows=self.profile,
            total_sd=self.total if len(self.profile) else None,
            explained_sd=self.explained if len(self.profile) else None,
            warnings=reconstruction_warnings(self.largest_mean, self.largest_count),
            statistics_rows=self.statistics,
            reconstruction_statistics=None if self.summary is None else self.summary.result(),
            reconstruction_totals=self.totals,
        )


def check_finite(what: str, arrays) -> None:
    """Stop with one clear error when a model gave NaN or infinite ``what``."""
    if all(array is None or np.isfinite(array).all() for array in arrays):
        return
    raise ScvaeError(
        f"the model gave NaN or infinite {what}: its weights or batch-norm statistics do "
        "not fit these cells. Try another model version (--model-versions best_model), "
        "train again with a lower --learning-rate, or without batch normalisation "
        "(--no-minibatch-normalisation)"
    )


def reconstruction_warnings(largest_mean: float, largest_count: float) -> list[str]:
    """A warning when reconstruction means exceed the largest observed count by far."""
    if not largest_mean > RECONSTRUCTION_WARNING_FACTOR * max(largest_count, 1.0):
        return []
    return [
        f"reconstruction means reach {largest_mean:.3g}, {largest_mean / max(largest_count, 1.0):.0f} "
        f"times the largest observed count ({largest_count:.0f}); the model extrapolates for "
        "some cells. Try --library-size observed, -p log (log-transformed network input), "
        "a lower --learning-rate or more epochs"
    ]


@torch.no_grad()
@unvalidated()  # values were checked on loading
def evaluate_module(
    module: torch.nn.Module,
    source: RowSource,
    *,
    samples: tuple[int, int] = (1, 1),
    minibatch_size: int = 250,
    device: torch.device | str = "cpu",
    reconstruction_rows: np.ndarray | None = None,
    profile_rows: np.ndarray | None = None,
    statistics_rows: np.ndarray | None = None,
    progress: bool = False,
    description: str = "Evaluating",
    seed: int = EVALUATION_SEED,
) -> Evaluation:
    """Evaluate ``module`` on every example of ``source`` in order (no shuffling).

    The Monte-Carlo draws come from torch's generator seeded with ``seed`` (the global
    state is restored afterwards), so the same model, data and order give the same
    results whatever ran before in the process.

    Parameters
    ----------
    samples
        ``(R, M)`` importance and Monte-Carlo samples for the bound and the moments.
    reconstruction_rows, profile_rows
        Rows whose reconstruction mean (and standard deviations, for profile rows) to keep.
    statistics_rows
        Rows whose reconstruction means are summarised as they are computed (summary
        statistics and each row's total), without being kept.
    """
    module.eval()
    keep = np.unique(np.asarray(reconstruction_rows if reconstruction_rows is not None else []))
    profile = np.unique(np.asarray(profile_rows if profile_rows is not None else []))
    statistics = np.unique(np.asarray(statistics_rows if statistics_rows is not None else []))
    statistics = statistics.astype(np.int64)
    wanted = np.union1d(np.union1d(keep, profile), statistics).astype(np.int64)
    accumulator = _Accumulator(
        source.number_of_examples, keep.astype(np.int64), profile.astype(np.int64), statistics
    )
    batches = minibatches(source, minibatch_size, device=device)
    total = math.ceil(source.number_of_examples / max(minibatch_size, 1))
    bar = progress_bars.bar(
        batches, total=total, desc=description, enabled=progress, leave=False, unit="batch"
    )
    with seeded_draws(seed, device):
        for inputs, rows in bar:
            output = module(inputs, kl_scale=1.0, samples=samples)
            accumulator.add_terms(output)
            accumulator.rows.append(np.asarray(rows))
            # the latent means and q(y|x) come from the bound's own encoder pass
            if output.y_probabilities is not None:
                accumulator.y.append(output.y_probabilities.cpu().numpy())
            accumulator.z.append(output.latent_mean.cpu().numpy())
            _keep_moments(module, inputs, rows, wanted, samples, accumulator)
    return accumulator.result()


@contextmanager
def seeded_draws(seed: int, device: torch.device | str = "cpu") -> Iterator[None]:
    """Draw from torch's generators seeded with ``seed``; restore their states after."""
    device = torch.device(device)
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _keep_moments(module, inputs, rows, wanted, samples, accumulator: _Accumulator) -> None:
    positions = np.flatnonzero(np.isin(rows, wanted))
    if not len(positions):
        return
    subset = inputs.select(torch.as_tensor(positions, device=inputs.x.device))
    mean, total, explained = module.reconstruction_moments(subset, samples)
    # E[x] in float32 (as kept); the variances only for the profile rows, in float64
    mean = mean.float().cpu().numpy()
    if mean.size:
        accumulator.largest_mean = max(accumulator.largest_mean, float(np.nanmax(mean)))
        accumulator.largest_count = max(accumulator.largest_count, float(subset.target.max()))
    chosen = np.asarray(rows)[positions]
    kept = np.flatnonzero(np.isin(chosen, accumulator.keep))
    if len(kept):
        accumulator.place("reconstruction", chosen[kept], mean[kept], np.float32)
    profiled = np.flatnonzero(np.isin(chosen, accumulator.profile))
    if len(profiled):
        index = torch.as_tensor(profiled, device=total.device)
        for name, values in (("total", total), ("explained", explained)):
            values = values.index_select(0, index).double().cpu().numpy()
            accumulator.place(name, chosen[profiled], np.sqrt(np.maximum(values, 0.0)), np.float64)
    summarised = np.flatnonzero(np.isin(chosen, accumulator.statistics))
    if len(summarised):
        block = mean[summarised]
        accumulator.summary.add(block)
        where = np.searchsorted(accumulator.statistics, chosen[summarised])
        accumulator.totals[where] = block.sum(axis=1)


@torch.no_grad()
def sample_model(
    module: torch.nn.Module, sample_size: int, minibatch_size: int = 250
) -> dict[str, np.ndarray]:
    """Draws from the generative model: ``{"x": E[x|z], "z": z[, "y": one-hot y]}``."""
    module.eval()
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, sample_size, minibatch_size):
        drawn = module.sample_prior(min(minibatch_size, sample_size - start))
        for name, value in zip(("x", "z", "y"), drawn, strict=False):
            parts.setdefault(name, []).append(value.cpu().numpy())
    return {name: np.concatenate(values) for name, values in parts.items()}


#: the latent pass over every cell (no draws, no decoder) reads this many values per minibatch
LATENT_MINIBATCH_VALUES = 8_000_000


def latent_minibatch_size(features: int, minimum: int) -> int:
    """Cells per minibatch of :func:`latent_means`: about :data:`LATENT_MINIBATCH_VALUES`
    dense input values (1,000 at 8,000 features, 285 at 27,998), never below ``minimum``
    (the training minibatch size) nor above 4,096."""
    return int(min(max(LATENT_MINIBATCH_VALUES // max(int(features), 1), int(minimum), 1), 4096))


@torch.no_grad()
@unvalidated()  # values were checked on loading
def latent_means(
    module: torch.nn.Module,
    source: RowSource,
    *,
    minibatch_size: int = 250,
    device: torch.device | str = "cpu",
    progress: bool = False,
    description: str = "Latent values",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Latent means ``(N, L)`` (``float32``) and, for the GMVAE, q(y|x) ``(N, K)`` of every
    example of ``source``, in its row order: the encoder alone, no draws.

    Only the small per-example arrays are kept; a progress bar counts the minibatches.
    """
    module.eval()
    n = source.number_of_examples
    total = math.ceil(n / max(minibatch_size, 1))
    batches = minibatches(source, max(int(minibatch_size), 1), device=device)
    bar = progress_bars.bar(
        batches, total=total, desc=description, enabled=progress, leave=False, unit="batch"
    )
    z: np.ndarray | None = None
    y: np.ndarray | None = None
    for inputs, rows in bar:
        latent = module.latent_mean(inputs)
        means, probabilities = latent if isinstance(latent, tuple) else (latent, None)
        if z is None:
            z = np.zeros((n, means.shape[1]), np.float32)
            if probabilities is not None:
                y = np.zeros((n, probabilities.shape[1]), np.float32)
        rows = np.asarray(rows)
        z[rows] = means.float().cpu().numpy()  # sources may read in another order
        if y is not None:
            y[rows] = probabilities.float().cpu().numpy()
    check_finite("latent values", [z, y])
    return (np.zeros((0, 0), np.float32) if z is None else z), y
