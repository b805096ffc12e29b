"""Per-epoch records for the ``all`` analyses: KL per latent dimension, GMVAE prior and
posterior centroids.

Kept in ``epoch_records.npz`` in the run folder (rewritten each epoch as part of the
epoch's commit; rows beyond the last completed epoch are dropped when a run resumes).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from scvae.folders import RECORDS_NAME
from scvae.io import atomic_path
from scvae.training.commit import RunFileError, pending_path

#: the KL per dimension is estimated on at most this many examples, this many at a time
KL_EXAMPLES = 1_000
KL_BATCH = 100
#: a record file unpacking to more than this is refused (real ones hold kilobytes)
MAXIMUM_RECORDS_BYTES = 1 << 30


def _per_dimension(module) -> bool:
    """Whether ``module`` reports a KL per latent dimension (the VAE does)."""
    from scvae.models.vae import VAEModule

    return isinstance(module, VAEModule)


def read_records(run: str | Path) -> dict[str, np.ndarray]:
    """The saved records (``epoch``, ``kl_neurons``, ``prior_weights``, ``prior_means``).

    Raises
    ------
    RunFileError
        When the file is not a readable ``.npz`` of such records, or would unpack to more
        than :data:`MAXIMUM_RECORDS_BYTES`.
    """
    path = Path(run) / RECORDS_NAME
    if not path.is_file():
        return {}
    try:
        _check_unpacked_size(path)
        with np.load(path, allow_pickle=False) as records:
            loaded = {name: records[name] for name in records.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise RunFileError(path, f"is not a readable record file ({_first_line(error)})") from error
    _check_records(path, loaded)
    return loaded


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def _check_unpacked_size(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        size = sum(member.file_size for member in archive.infolist())
    if size > MAXIMUM_RECORDS_BYTES:
        raise RunFileError(
            path, f"would unpack to {size:,} bytes (more than {MAXIMUM_RECORDS_BYTES:,})"
        )


def _check_records(path: Path, records: dict[str, np.ndarray]) -> None:
    """Numeric arrays with one row per epoch in each."""
    epochs = records.get("epoch")
    problem = None
    if epochs is None or epochs.ndim != 1 or not np.issubdtype(epochs.dtype, np.integer):
        problem = "has no one-dimensional integer epoch record"
    elif any(not np.issubdtype(value.dtype, np.number) for value in records.values()):
        problem = "has non-numeric records"
    elif any(value.ndim < 1 or len(value) != len(epochs) for value in records.values()):
        problem = "has records of different lengths"
    if problem:
        raise RunFileError(path, problem)


class EpochRecorder:
    """An ``on_epoch_end`` helper appending this epoch's records to the run's file."""

    def __init__(self, run: Path, module, data) -> None:
        self.run = Path(run)
        self.module = module
        self.data = data  # a LabelledSource

    @torch.no_grad()
    def __call__(self, epoch: int, rows: list[dict]) -> None:
        was_training = self.module.training
        self.module.eval()
        record: dict[str, np.ndarray] = {"epoch": np.array(epoch + 1)}
        device = next(self.module.parameters()).device
        if _per_dimension(self.module):  # the GMVAE has no such term: it is not run at all
            record["kl_neurons"] = _kl_per_dimension(self.module, self.data.source, device)
        if hasattr(self.module, "prior_centroids"):
            weights, means, covariances = self.module.prior_centroids()
            record["prior_weights"] = weights.cpu().numpy()
            record["prior_means"] = means.cpu().numpy()
            record["prior_covariances"] = covariances.cpu().numpy()
            record.update(_posterior_centroids(self.module, self.data.source, device))
        self.module.train(was_training)
        self._append(record)

    def _append(self, record: dict[str, np.ndarray]) -> None:
        saved = read_records(self.run)
        keep = saved.get("epoch", np.zeros(0)) < record["epoch"]
        merged = {}
        for name, value in record.items():
            previous = saved.get(name)
            rows = previous[keep] if previous is not None and len(previous) == len(keep) else None
            value = np.asarray(value)[None]
            merged[name] = value if rows is None else np.concatenate([rows, value])
        with atomic_path(pending_path(self.run, RECORDS_NAME)) as temporary:
            with open(temporary, "wb") as file:
                np.savez(file, **merged)


def _kl_per_dimension(module, source, device) -> np.ndarray:
    """Per-cell mean KL per latent dimension over the first :data:`KL_EXAMPLES` cells."""
    from scvae.data.batches import minibatches

    total, seen = 0.0, 0
    for inputs, _ in minibatches(source, KL_BATCH, device=device):
        total = total + module(inputs).kl_neurons.double().cpu().numpy() * inputs.size
        seen += inputs.size
        if seen >= KL_EXAMPLES:
            break
    return total / max(seen, 1)


def _posterior_centroids(module, source, device) -> dict[str, np.ndarray]:
    """The mixture as the data see it: mean q(y|x), and the q(y|x)-weighted mean and
    covariance of the posterior means per component (first :data:`KL_EXAMPLES` cells)."""
    from scvae.data.batches import minibatches

    latent, probabilities, seen = [], [], 0
    for inputs, _ in minibatches(source, KL_BATCH, device=device):
        z, y = module.latent_mean(inputs)
        latent.append(z.double().cpu().numpy())
        probabilities.append(y.double().cpu().numpy())
        seen += inputs.size
        if seen >= KL_EXAMPLES:
            break
    z, y = np.concatenate(latent), np.concatenate(probabilities)
    totals = np.maximum(y.sum(axis=0), 1e-12)
    means = (y.T @ z) / totals[:, None]
    centred = z[None, :, :] - means[:, None, :]
    covariances = np.einsum("nk,kni,knj->kij", y, centred, centred) / totals[:, None, None]
    return {
        "posterior_weights": y.mean(axis=0),
        "posterior_means": means,
        "posterior_covariances": covariances,
    }
