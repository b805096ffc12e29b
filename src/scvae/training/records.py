"""Per-epoch records for the ``all`` analyses: KL per latent dimension, GMVAE prior centroids.

Kept in ``epoch_records.npz`` in the run folder (rewritten atomically each epoch; rows
beyond the last completed epoch are dropped when a run resumes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from scvae.folders import RECORDS_NAME
from scvae.io import atomic_path

#: the KL per dimension is estimated on at most this many examples, this many at a time
KL_EXAMPLES = 1_000
KL_BATCH = 100


def _per_dimension(module) -> bool:
    """Whether ``module`` reports a KL per latent dimension (the VAE does)."""
    from scvae.models.vae import VAEModule

    return isinstance(module, VAEModule)


def read_records(run: str | Path) -> dict[str, np.ndarray]:
    """The saved records (``epoch``, ``kl_neurons``, ``prior_weights``, ``prior_means``)."""
    path = Path(run) / RECORDS_NAME
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as records:
        return {name: records[name] for name in records.files}


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
            weights, means, _ = self.module.prior_centroids()
            record["prior_weights"] = weights.cpu().numpy()
            record["prior_means"] = means.cpu().numpy()
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
        with atomic_path(self.run / RECORDS_NAME) as temporary:
            with open(temporary, "wb") as file:
                np.savez(file, **merged)


def _kl_per_dimension(module, source, device) -> np.ndarray:
    """Per-cell mean KL per latent dimension over the first :data:`KL_EXAMPLES` cells."""
    from scvae.data.loader import minibatches

    total, seen = 0.0, 0
    for inputs, _ in minibatches(source, KL_BATCH, device=device):
        total = total + module(inputs).kl_neurons.double().cpu().numpy() * inputs.size
        seen += inputs.size
        if seen >= KL_EXAMPLES:
            break
    return total / max(seen, 1)
