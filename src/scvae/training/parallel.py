"""Training with several processes: torch.distributed and DistributedDataParallel (DDP).

Launch with ``torchrun --nproc_per_node=N -m scvae train ...`` (any machine or
cluster node), or ``scvae train --processes N ...``, which starts N local workers
(:mod:`scvae.workflows.launch`) with the same environment variables torchrun sets.
The process group uses gloo on the CPU and NCCL on CUDA (one GPU per process,
``cuda:LOCAL_RANK``).

Each epoch every process computes the same order of the examples (the epoch seed is
shared) and cuts the same global minibatches of ``--minibatch-size`` examples; process
``r`` takes the ``r``-th of ``N`` near-equal parts of each (:func:`shard`). DDP
averages the gradients over the processes, and each process's loss (a mean over its
part) is weighted by ``N * part / minibatch``, so the update is that of the mean over
the whole minibatch: one process and N processes take the same steps (up to the random
draws of the models and, on the CPU, batch normalisation, which sees each part alone;
on CUDA it is synchronised). A final minibatch smaller than N is skipped.

Evaluation splits the examples into N contiguous parts and sums the terms across the
processes. Only the main process (rank 0) writes checkpoints, curves and logs, so a
run resumes the same way whatever launched it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

#: torchrun's variables that mark a worker process
ENVIRONMENT = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")

#: seconds between checks that the launcher is still alive
PARENT_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Processes:
    """This process's place among the training processes (one process by default)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and logs (rank 0)."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    def device(self, device: torch.device) -> torch.device:
        """The device of this process: ``cuda:LOCAL_RANK`` for CUDA with several processes."""
        if self.is_distributed and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    def barrier(self) -> None:
        if self.is_distributed:
            dist.barrier()

    def share(self, value: Any) -> Any:
        """``value`` as the main process has it (a picklable object)."""
        if not self.is_distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Element-wise sum over the processes (``float64``)."""
        if not self.is_distributed:
            return np.asarray(values, dtype=np.float64)
        tensor = torch.as_tensor(np.asarray(values, dtype=np.float64), device=_collective_device())
        dist.all_reduce(tensor)
        return tensor.cpu().numpy()

    def gather(self, array: np.ndarray) -> np.ndarray:
        """The arrays of all processes, concatenated in rank order."""
        if not self.is_distributed:
            return np.asarray(array)
        parts: list[Any] = [None] * self.world_size
        dist.all_gather_object(parts, np.asarray(array))
        return np.concatenate(parts)

    def all_finite(self, value: torch.Tensor) -> bool:
        """Whether ``value`` is finite in every process (all agree on the answer)."""
        finite = bool(torch.isfinite(value.detach()).all())
        if not self.is_distributed:
            return finite
        return bool(self.sum(np.array([0.0 if finite else 1.0]))[0] == 0)

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Run the block in the main process first, then in the others (e.g. to build caches)."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()


SINGLE = Processes()


def launched() -> bool:
    """Whether this process was started by torchrun (or ``--processes``) as a worker."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def current() -> Processes:
    """This process's place: from the initialised process group, else :data:`SINGLE`."""
    if not (dist.is_available() and dist.is_initialized()):
        return SINGLE
    local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    return Processes(dist.get_rank(), dist.get_world_size(), local)


@contextlib.contextmanager
def distributed_session(device: str = "auto") -> Iterator[Processes]:
    """Join the process group that torchrun's variables describe, for the block.

    Does nothing (yields :func:`current`) outside torchrun, with one process, or
    when the group is already initialised (then the caller owns it). The group is
    left at the end of the block; a worker whose launcher dies exits too.
    """
    world = int(os.environ.get("WORLD_SIZE", "1")) if launched() else 1
    if world <= 1 or dist.is_initialized():
        yield current()
        return
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device in ("auto", "cuda") and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if cuda else "gloo")
    _exit_with_parent()
    processes = current()
    failed = False
    try:
        yield processes
    except BaseException:
        failed = True
        raise
    finally:
        if not failed:
            processes.barrier()
        dist.destroy_process_group()


def shard(rows: np.ndarray, processes: Processes = SINGLE) -> tuple[np.ndarray, float] | None:
    """This process's part of a global minibatch and the weight of its (mean) loss.

    ``rows`` is split into ``world_size`` near-equal parts in order; the weight
    ``world_size * len(part) / len(rows)`` makes DDP's average of the weighted part
    means the mean over ``rows``. ``None`` when ``rows`` is smaller than the number
    of processes (every process then skips this minibatch).
    """
    if len(rows) < processes.world_size:
        return None
    part = np.array_split(rows, processes.world_size)[processes.rank]
    return part, processes.world_size * len(part) / len(rows)


def training_batches(
    source: Any,
    batch_size: int,
    rng: np.random.Generator,
    device: torch.device,
    processes: Processes = SINGLE,
) -> Iterator[tuple[Any, float]]:
    """``(inputs, loss weight)`` of this process for each global minibatch of an epoch."""
    order = source.epoch_order(rng)
    for start in range(0, len(order), batch_size):
        piece = shard(np.sort(order[start : start + batch_size]), processes)
        if piece is not None:
            rows, weight = piece
            yield source.inputs_for(rows, device, rng), weight


def evaluation_batches(
    source: Any, batch_size: int, device: torch.device, processes: Processes = SINGLE
) -> Iterator[tuple[Any, np.ndarray]]:
    """``(inputs, rows)`` over this process's contiguous part of the examples."""
    from scvae.data.batches import noise_generator

    order = np.array_split(source.reading_order(), processes.world_size)[processes.rank]
    noise = noise_generator(source, None)
    for start in range(0, len(order), batch_size):
        rows = np.sort(order[start : start + batch_size])
        yield source.inputs_for(rows, device, noise), rows


def evaluation_steps(examples: int, batch_size: int, processes: Processes = SINGLE) -> int:
    """Minibatches of this process's part in :func:`evaluation_batches`."""
    parts = max(processes.world_size, 1)
    part = examples // parts + (1 if processes.rank < examples % parts else 0)
    return -(-part // max(batch_size, 1))


def number_of_steps(examples: int, batch_size: int, processes: Processes = SINGLE) -> int:
    """Minibatches per epoch (a last one smaller than the number of processes is skipped)."""
    steps, last = divmod(examples, batch_size)
    return steps + (1 if last >= max(processes.world_size, 1) else 0)


def wrap_module(
    module: torch.nn.Module, processes: Processes, device: torch.device
) -> torch.nn.Module:
    """``module`` in DDP when there are several processes (batch norm synchronised on CUDA)."""
    if not processes.is_distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
        return DistributedDataParallel(module, device_ids=[device.index])
    return DistributedDataParallel(module)


def share_buffers(module: torch.nn.Module, processes: Processes) -> None:
    """Give every process the main process's buffers (batch-norm statistics)."""
    if not processes.is_distributed:
        return
    for buffer in module.buffers():
        dist.broadcast(buffer.data, src=0)


def _exit_with_parent() -> None:
    """Kill this worker when its launcher goes away (no orphans writing checkpoints)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="scvae-parent-watch", daemon=True).start()


def _collective_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
