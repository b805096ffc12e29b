"""One pass of a trained module over a data set: ELBO terms, latent values, reconstructions.

Everything per example that is small (latent means, q(y|x)) is kept for all examples;
reconstructions (dense, examples x features) are kept only for the rows asked for, so
evaluating a large set never holds a dense reconstruction of it in memory.
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
    ``reconstruction`` is E[x] for ``reconstruction_rows``; ``total_sd`` and
    ``explained_sd`` are given for ``profile_rows`` (both index the evaluated set).
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

    @property
    def cluster_ids(self) -> np.ndarray | None:
        """The GMVAE's own clusters: argmax q(y|x)."""
        return None if self.y is None else self.y.argmax(axis=1)


class _Accumulator:
    """Sums of per-example terms and the per-example arrays, minibatch by minibatch."""

    def __init__(self, n: int, keep: np.ndarray, profile: np.ndarray) -> None:
        self.n = n
        self.sums: dict[str, float] = {}
        self.rows: list[np.ndarray] = []
        self.z: list[np.ndarray] = []
        self.y: list[np.ndarray] = []
        self.kl_neurons: list[np.ndarray] = []
        self.keep, self.profile = keep, profile
        self.reconstruction: dict[int, np.ndarray] = {}
        self.total: dict[int, np.ndarray] = {}
        self.explained: dict[int, np.ndarray] = {}
        self.largest_count = 0.0
        self.largest_mean = 0.0

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
        stacked = {
            "reconstruction": (self.keep, self.reconstruction),
            "total_sd": (self.profile, self.total),
            "explained_sd": (self.profile, self.explained),
        }
        arrays = {
            name: np.stack([values[int(row)] for row in rows]) if len(rows) else None
            for name, (rows, values) in stacked.items()
        }
        # sources may read in another order (backed data: file order); restore row order
        order = np.argsort(np.concatenate(self.rows), kind="stable") if self.rows else None
        return Evaluation(
            terms=terms,
            z=np.concatenate(self.z)[order] if self.z else np.zeros((0, 0)),
            y=np.concatenate(self.y)[order] if self.y else None,
            kl_neurons=sum(self.kl_neurons) / max(self.n, 1) if self.kl_neurons else None,
            reconstruction_rows=self.keep,
            profile_rows=self.profile,
            warnings=reconstruction_warnings(self.largest_mean, self.largest_count),
            **arrays,
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
    """
    module.eval()
    keep = np.unique(np.asarray(reconstruction_rows if reconstruction_rows is not None else []))
    profile = np.unique(np.asarray(profile_rows if profile_rows is not None else []))
    wanted = np.union1d(keep, profile).astype(np.int64)
    accumulator = _Accumulator(source.number_of_examples, keep.astype(np.int64), profile)
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
            latent = module.latent_mean(inputs)
            if isinstance(latent, tuple):
                accumulator.y.append(latent[1].cpu().numpy())
                latent = latent[0]
            accumulator.z.append(latent.cpu().numpy())
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
    mean, total, explained = (t.double().cpu().numpy() for t in (mean, total, explained))
    if mean.size:
        accumulator.largest_mean = max(accumulator.largest_mean, float(np.nanmax(mean)))
        accumulator.largest_count = max(accumulator.largest_count, float(subset.target.max()))
    chosen = np.asarray(rows)[positions]
    for index in np.flatnonzero(np.isin(chosen, accumulator.keep)):
        accumulator.reconstruction[int(chosen[index])] = mean[index].astype(np.float32)
    for index in np.flatnonzero(np.isin(chosen, accumulator.profile)):
        row = int(chosen[index])
        accumulator.total[row] = np.sqrt(np.maximum(total[index], 0.0))
        accumulator.explained[row] = np.sqrt(np.maximum(explained[index], 0.0))


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
