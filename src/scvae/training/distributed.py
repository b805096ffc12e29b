"""Former name of :mod:`scvae.training.parallel` (the process launcher is now
:mod:`scvae.workflows.launch`); kept for one release so that old imports keep working."""

from __future__ import annotations

from scvae.training.parallel import (
    SINGLE,
    Processes,
    current,
    distributed_session,
    evaluation_batches,
    launched,
    number_of_steps,
    shard,
    share_buffers,
    training_batches,
    wrap_module,
)

__all__ = [
    "SINGLE",
    "Processes",
    "current",
    "distributed_session",
    "evaluation_batches",
    "launched",
    "number_of_steps",
    "share_buffers",
    "shard",
    "training_batches",
    "wrap_module",
]
