"""Checkpoints: verified by a SHA-256 digest, loaded without executing pickled code.

Each ``checkpoint.pt`` has a small JSON file beside it (``checkpoint.pt.sha256``) with
the size and SHA-256 digest of its bytes. Every load checks both before anything is
unpickled, so a flipped bit, a truncated or empty file, or a checkpoint without its
digest is refused with one line (a :class:`CheckpointError`) instead of being trained
on or evaluated. The pair is written inside an epoch's commit (see
:mod:`scvae.training.commit`), so the two always change together.

Checkpoints written before digests existed have none: ``scvae info RUN --record-digests``
reads each such checkpoint (without running pickled code, and only if it holds a valid
scvae state) and records its digest, after which it loads like any other.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from scvae.errors import ScvaeError
from scvae.folders import CHECKPOINT_NAME
from scvae.io import atomic_path

__all__ = [
    "CHECKPOINT_NAME",
    "CheckpointError",
    "checkpoint_status",
    "copy_checkpoint",
    "digest_path",
    "load_checkpoint",
    "load_weights",
    "record_digest",
    "save_checkpoint",
    "serialise_checkpoint",
    "trained_epochs",
    "write_checkpoint_bytes",
]

DIGEST_SUFFIX = ".sha256"
#: a digest file is a few dozen bytes; anything much larger is not one
MAXIMUM_DIGEST_BYTES = 4096
ADVICE = "train again with --reset-training, or evaluate another version with --model-versions"
#: said when a checkpoint has no digest file at all (written by an earlier scvae)
RECORD_ADVICE = (
    "if an earlier scvae wrote it, record its digest with 'scvae info RUN --record-digests'"
)


class CheckpointError(ScvaeError):
    """A checkpoint that is missing its digest, damaged, or not a scvae checkpoint."""

    def __init__(self, path: Path, problem: str, advice: str = ADVICE) -> None:
        super().__init__(f'"{path}" {problem}; {advice}')


def digest_path(path: str | Path) -> Path:
    """The digest file beside a checkpoint: ``<name>.sha256``."""
    path = Path(path)
    return path.with_name(path.name + DIGEST_SUFFIX)


def serialise_checkpoint(state: dict[str, Any]) -> bytes:
    """The bytes :func:`torch.save` writes for ``state``."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def digest_text(data: bytes, previous: dict[str, Any] | None = None) -> str:
    """The digest file's JSON for ``data`` (with the replaced checkpoint's record)."""
    record: dict[str, Any] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    if previous is not None:
        record["previous"] = previous
    return json.dumps(record, sort_keys=True) + "\n"


def write_synced(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and flush it to disk."""
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())


def write_checkpoint_bytes(
    path: str | Path, data: bytes, previous: dict[str, Any] | None = None
) -> Path:
    """Write checkpoint bytes and their digest file (each atomically).

    ``previous`` (the digest record of the checkpoint this one replaces) is kept in the
    digest file, so a reader between the two renames of a commit (the digest file is
    moved first) still finds the older checkpoint valid.
    """
    path = Path(path)
    write_synced(path, data)
    write_synced(digest_path(path), digest_text(data, previous).encode())
    return path


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) and its digest to ``path``."""
    return write_checkpoint_bytes(path, serialise_checkpoint(state))


def _valid_record(record: Any) -> bool:
    return (
        isinstance(record, dict)
        and isinstance(record.get("sha256"), str)
        and len(record["sha256"]) == 64
        and type(record.get("size")) is int
        and record["size"] >= 0
    )


def current_digest(path: str | Path) -> dict[str, Any] | None:
    """The digest record (``sha256``, ``size``) of the checkpoint at ``path``, if valid."""
    try:
        records = _expected(Path(path), ADVICE)
    except CheckpointError:
        return None
    return records[0]


def _expected(path: Path, advice: str) -> list[dict[str, Any]]:
    """The digest records beside ``path``: the current one, then the one it replaced."""
    sidecar = digest_path(path)
    if not sidecar.is_file():
        raise CheckpointError(
            path,
            f"has no digest file ({sidecar.name}), so it cannot be verified",
            f"{RECORD_ADVICE}; or {advice}",
        )
    if sidecar.stat().st_size > MAXIMUM_DIGEST_BYTES:
        raise CheckpointError(path, f"has a malformed digest file ({sidecar.name})", advice)
    try:
        record = json.loads(sidecar.read_bytes())
    except (ValueError, UnicodeDecodeError):
        record = None
    if not _valid_record(record):
        raise CheckpointError(path, f"has a malformed digest file ({sidecar.name})", advice)
    previous = record.get("previous")
    current = {"sha256": record["sha256"], "size": record["size"]}
    return [current, previous] if _valid_record(previous) else [current]


def verified_bytes(path: str | Path, advice: str = ADVICE) -> bytes:
    """The bytes of a checkpoint whose size and SHA-256 match its digest file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "is missing", advice)
    records = _expected(path, advice)
    actual = path.stat().st_size
    if all(actual != record["size"] for record in records):
        size = records[0]["size"]
        what = "is empty" if actual == 0 else f"has {actual} bytes instead of {size} (truncated?)"
        raise CheckpointError(path, f"is damaged: it {what}", advice)
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() not in {record["sha256"] for record in records}:
        raise CheckpointError(path, "is damaged: its SHA-256 digest does not match", advice)
    return data


def load_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu", advice: str = ADVICE
) -> dict[str, Any]:
    """Read a verified checkpoint with ``weights_only=True`` (no pickled code is run).

    Raises
    ------
    CheckpointError
        When the digest does not match, or the content is not a scvae checkpoint.
    """
    path = Path(path)
    return _unpickled(path, verified_bytes(path, advice), map_location, advice)


def _unpickled(path: Path, data: bytes, map_location: Any, advice: str) -> dict[str, Any]:
    """The checked scvae state in checkpoint bytes, read with ``weights_only=True``."""
    try:
        state = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            path, "holds objects other than tensors and numbers, which are never loaded", advice
        ) from error
    except (RuntimeError, ValueError, EOFError, OSError) as error:
        raise CheckpointError(path, "is not a readable checkpoint", advice) from error
    _check_state(path, state, advice)
    return state


def _check_state(path: Path, state: Any, advice: str) -> None:
    valid = (
        isinstance(state, dict)
        and isinstance(state.get("model"), dict)
        and all(isinstance(value, torch.Tensor) for value in state["model"].values())
        and type(state.get("epoch")) is int
        and state["epoch"] >= 0
        and isinstance(state.get("optimiser", {}), dict)
        and isinstance(state.get("early_stopping", {}), dict)
    )
    if not valid:
        raise CheckpointError(path, "is not a scvae checkpoint (missing or invalid fields)", advice)


def checkpoint_status(path: str | Path) -> str:
    """How a checkpoint stands: ``verified``, ``no digest`` or ``damaged (...)``.

    Only sizes and digests are compared; nothing is unpickled.
    """
    path = Path(path)
    if not digest_path(path).exists():
        return "no digest"
    try:
        verified_bytes(path)
    except CheckpointError as error:
        reason = str(error).split('" ', 1)[-1].split(";", 1)[0]
        return f"damaged ({reason})"
    return "verified"


def record_digest(path: str | Path) -> bool:
    """Write the missing digest file of a checkpoint from an earlier scvae.

    The checkpoint is read first, with ``weights_only=True``, and must hold a valid scvae
    state; a damaged or foreign file raises :class:`CheckpointError` and nothing is
    written. Returns False (and writes nothing) when the digest file already exists.
    """
    path = Path(path)
    if digest_path(path).exists():
        return False
    if not path.is_file():
        raise CheckpointError(path, "is missing")
    data = path.read_bytes()
    _unpickled(path, data, "cpu", "it cannot be given a digest")
    write_synced(digest_path(path), digest_text(data).encode())
    return True


def load_weights(
    module: torch.nn.Module, state: dict[str, Any], path: str | Path, advice: str = ADVICE
) -> None:
    """Load a checkpoint's weights into ``module``; a mismatch is one line, not a traceback."""
    try:
        module.load_state_dict(state["model"])
    except (RuntimeError, KeyError, TypeError) as error:
        first = str(error).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else (first[0] if first else "")
        raise CheckpointError(
            Path(path),
            f"does not fit this model (it was trained with other options or data: {detail})",
            advice,
        ) from error


def trained_epochs(run: str | Path, advice: str = ADVICE) -> int:
    """The epochs completed in ``run`` (0 without a checkpoint); the checkpoint is verified."""
    path = Path(run) / CHECKPOINT_NAME
    if not path.exists():
        return 0
    return int(load_checkpoint(path, advice=advice)["epoch"])


def copy_checkpoint(source: str | Path, target: str | Path) -> Path:
    """Copy a verified checkpoint and its digest (the best and early-stopping versions)."""
    return write_checkpoint_bytes(target, verified_bytes(source))
