"""Checkpoints: written atomically, loaded without executing pickled code."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from scvae.folders import CHECKPOINT_NAME
from scvae.io import atomic_path

__all__ = ["CHECKPOINT_NAME", "copy_checkpoint", "load_checkpoint", "save_checkpoint"]


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as temporary:
        torch.save(state, temporary)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` (no pickled code is run)."""
    return torch.load(Path(path), map_location=map_location, weights_only=True)


def copy_checkpoint(source: str | Path, target: str | Path) -> Path:
    """Copy a checkpoint file atomically (used for the best and early-stopping versions)."""
    target = Path(target)
    with atomic_path(target) as temporary:
        shutil.copyfile(source, temporary)
    return target
