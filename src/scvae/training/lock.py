"""One training process per run folder: an exclusive ``flock`` on the run's lock file.

:func:`lock_run` takes the lock (or refuses in one line, naming the process that holds
it) and keeps it until the end of the function decorated with :func:`holds_run_locks`
(``train_session``), or until the process ends. The lock file holds the owner's process
ID; it is ignored by evaluation and kept by ``--reset-training``.
"""

from __future__ import annotations

import contextvars
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from scvae.errors import ScvaeError
from scvae.folders import LOCK_NAME
from scvae.training.commit import write_problem

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no locking
    fcntl = None  # type: ignore[assignment]

F = TypeVar("F", bound=Callable[..., Any])
_held: contextvars.ContextVar[list[RunLock] | None] = contextvars.ContextVar(
    "scvae_run_locks", default=None
)
_process_locks: list[RunLock] = []
_owned: dict[str, RunLock] = {}


class RunFolderBusy(ScvaeError):
    """Another process is training in the same run folder."""


class RunLock:
    """An exclusive lock on ``<run>/.lock`` (released by :meth:`release` or at exit)."""

    def __init__(self, run: str | Path) -> None:
        self.run = Path(run)
        self.path = self.run / LOCK_NAME
        self.handle: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock; raise :class:`RunFolderBusy` if another process has it."""
        try:
            self.run.mkdir(parents=True, exist_ok=True)
            handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            problem = write_problem(error, self.run)
            if problem is None:
                raise
            raise problem from error
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _read_owner(handle)
                os.close(handle)
                raise RunFolderBusy(
                    f'another scvae process{owner} is training in "{self.run}"; wait for it to '
                    "finish (or stop it), or train elsewhere with --new-run or --run-id"
                ) from None
        os.ftruncate(handle, 0)
        os.write(handle, f"{os.getpid()}\n".encode())
        self.handle = handle
        return self

    def release(self) -> None:
        """Let other processes train here again."""
        if self.handle is not None:
            os.close(self.handle)  # closing the descriptor drops the flock
            self.handle = None
        if _owned.get(os.path.realpath(self.run)) is self:
            del _owned[os.path.realpath(self.run)]


def _read_owner(handle: int) -> str:
    try:
        text = os.pread(handle, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (pid {int(text)})" if text.isdigit() else ""


def lock_run(run: str | Path) -> RunLock:
    """Lock ``run`` until the enclosing :func:`holds_run_locks` call returns (or exit).

    A run this process already holds is not locked twice (it is its own owner).
    """
    key = os.path.realpath(run)
    owned = _owned.get(key)
    if owned is not None and owned.handle is not None:
        return owned
    lock = RunLock(run).acquire()
    _owned[key] = lock
    held = _held.get()
    (held if held is not None else _process_locks).append(lock)
    return lock


def holds_run_locks(function: F) -> F:
    """Release the run locks taken during a call of ``function`` when it returns.

    A write refused by the file system (read-only, full) becomes one
    :class:`~scvae.training.commit.RunFolderError` line.
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = _held.set([])
        try:
            return function(*args, **kwargs)
        except OSError as error:  # a read-only or full run folder: one line
            problem = write_problem(error, "the run folder")
            if problem is None:
                raise
            raise problem from error
        finally:
            for lock in _held.get() or []:
                lock.release()
            _held.reset(token)

    return wrapper  # type: ignore[return-value]


def settle_run(run: str | Path) -> None:
    """Finish an interrupted epoch commit in ``run`` if no process is training there.

    Best effort for readers (evaluation): a read-only folder or a busy run is left as is.
    """
    from scvae.training.commit import recover, staging_folder

    if not staging_folder(run).exists():
        return
    try:
        lock = RunLock(run).acquire()
    except (ScvaeError, OSError):
        return
    try:
        recover(run)
    except OSError:
        pass
    finally:
        lock.release()
