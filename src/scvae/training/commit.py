"""Crash-consistent epochs: all of an epoch's files become visible together.

An epoch's files (``checkpoint.pt`` and its digest, ``best/`` and ``early_stopping/``,
``learning_curves.csv``, ``epoch_records.npz``) are first written to a staging folder
inside the run folder (:data:`~scvae.folders.STAGING_DIRECTORY`). Writing the staging
folder's manifest (atomically) is the commit point; the staged files are then moved
into place one by one. :func:`recover`, called before a run is resumed or evaluated,
finishes a committed epoch whose moves were interrupted and discards an uncommitted
one, so a process killed at any point leaves either the previous epoch or the new one.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

from scvae.errors import DataError, ScvaeError
from scvae.folders import STAGING_DIRECTORY
from scvae.io import atomic_write_text
from scvae.training.checkpoints import (
    DIGEST_SUFFIX,
    current_digest,
    digest_path,
    digest_text,
    verified_bytes,
    write_synced,
)

MANIFEST_NAME = "manifest.json"
#: staged files carry this suffix (no staged file is mistaken for a run file)
STAGED_SUFFIX = ".staged"
#: a manifest lists a handful of names; anything much larger is not one
MAXIMUM_MANIFEST_BYTES = 65_536


class RunFolderError(ScvaeError):
    """A run folder that cannot be written (read-only, full)."""


class RunFileError(DataError):
    """A damaged or implausible file in a run folder (named first in the message)."""


def staging_folder(run: str | Path) -> Path:
    """The staging folder of ``run``."""
    return Path(run) / STAGING_DIRECTORY


def pending_path(run: str | Path, name: str) -> Path:
    """Where an epoch file goes now: the staging folder during a commit, else ``run/name``."""
    staging = staging_folder(run)
    if staging.is_dir() and not (staging / MANIFEST_NAME).exists():
        return staging / (name + STAGED_SUFFIX)
    return Path(run) / name


class EpochCommit:
    """One epoch's files, staged and then committed in one step.

    Parameters
    ----------
    run
        The run folder.
    """

    def __init__(self, run: str | Path) -> None:
        self.run = Path(run)
        self.staging = staging_folder(run)
        self.moves: list[str] = []  # filled in by commit()
        self.removals: list[str] = []

    def begin(self) -> EpochCommit:
        """Start with an empty staging folder (an uncommitted leftover is discarded)."""
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(parents=True)
        return self

    def path(self, name: str) -> Path:
        """The staged path of ``name`` (relative to the run folder); it will be moved."""
        target = self.staging / (name + STAGED_SUFFIX)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def checkpoint(self, name: str, data: bytes) -> None:
        """Stage checkpoint bytes and their digest file under ``name``."""
        write_synced(self.path(name), data)
        record = digest_text(data, current_digest(self.run / name))
        write_synced(self.path(str(digest_path(name))), record.encode())

    def copy_checkpoint(self, source: str, name: str) -> None:
        """Stage a verified copy of the committed checkpoint ``source`` under ``name``."""
        self.checkpoint(name, verified_bytes(self.run / source))

    def remove(self, name: str) -> None:
        """Delete the folder or file ``name`` when the epoch is committed."""
        self.removals.append(name)

    def commit(self) -> None:
        """Write the manifest (the commit point), then move the staged files into place."""
        # every staged file moves (also those written through pending_path); digest files
        # first, so a checkpoint is always covered by its digest file
        self.moves = sorted(
            (
                path.relative_to(self.staging).as_posix()[: -len(STAGED_SUFFIX)]
                for path in self.staging.rglob("*" + STAGED_SUFFIX)
                if path.is_file() and not path.name.startswith(".")
            ),
            key=lambda name: (not name.endswith(DIGEST_SUFFIX), name),
        )
        manifest = {"moves": self.moves, "removals": self.removals}
        _sync_tree(self.staging)
        atomic_write_text(self.staging / MANIFEST_NAME, json.dumps(manifest) + "\n")
        apply(self.run)


def _sync_tree(folder: Path) -> None:
    """Flush the staged files to disk before the manifest names them."""
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_dir():
            _sync_directory(path)
    _sync_directory(folder)


def _sync_directory(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _read_manifest(run: Path) -> dict[str, list[str]] | None:
    """The manifest of a committed epoch, or ``None`` when it is absent or unreadable."""
    path = staging_folder(run) / MANIFEST_NAME
    if not path.is_file() or path.stat().st_size > MAXIMUM_MANIFEST_BYTES:
        return None
    try:
        manifest = json.loads(path.read_text())
        moves, removals = manifest["moves"], manifest["removals"]
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        return None
    names = [*moves, *removals] if isinstance(moves, list) and isinstance(removals, list) else None
    if names is None or not all(_safe_name(name) for name in names):
        return None
    return {"moves": moves, "removals": removals}


def _safe_name(name: object) -> bool:
    """A relative name inside the run folder (no ``..``, not absolute)."""
    if not isinstance(name, str) or not name:
        return False
    parts = Path(name).parts
    return not Path(name).is_absolute() and ".." not in parts and STAGING_DIRECTORY not in parts


def apply(run: str | Path) -> None:
    """Finish a committed epoch (idempotent): removals, moves, then drop the staging folder."""
    run = Path(run)
    manifest = _read_manifest(run)
    if manifest is None:
        return
    staging = staging_folder(run)
    for name in manifest["removals"]:
        target = run / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    for name in manifest["moves"]:
        source = staging / (name + STAGED_SUFFIX)
        if source.exists():
            (run / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, run / name)
    _sync_directory(run)
    shutil.rmtree(staging, ignore_errors=True)


def recover(run: str | Path) -> bool:
    """Finish or discard an interrupted epoch in ``run``; return whether there was one."""
    staging = staging_folder(run)
    if not staging.exists():
        return False
    if _read_manifest(Path(run)) is not None:
        apply(run)
    else:
        shutil.rmtree(staging, ignore_errors=True)
    return True


#: errors of a folder that cannot be written, reported in one line
WRITE_ERRORS = {
    *(errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG),
    *(errno.ENOTDIR, errno.ENAMETOOLONG),
}


def write_problem(error: OSError, folder: str | Path) -> RunFolderError | None:
    """A one-line error for a failed write in ``folder`` (``None`` for other errors)."""
    if error.errno not in WRITE_ERRORS:
        return None
    where = error.filename or folder
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return RunFolderError(
            f'cannot write "{where}": {error.strerror}; free some space or choose another '
            "--models-directory"
        )
    verb = "write" if error.errno == errno.EROFS else "access"
    return RunFolderError(
        f'cannot {verb} "{where}": {error.strerror}; check its permissions or choose a '
        "writable --models-directory"
    )
