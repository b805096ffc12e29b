"""Whether progress is shown: the command line's ``--quiet`` and progress only on a terminal.

Library use keeps every progress bar a caller asks for. The command line calls
:func:`configure` once per run: with ``quiet`` nothing is drawn, and with
``terminal_only`` bars are drawn only when stderr is a terminal, so a log piped to a
file holds no ``\\r`` frames. Code that draws a bar uses :func:`bar` (a ``tqdm`` on
stderr) or asks :func:`wanted` whether to pass ``progress=True`` on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TextIO

__all__ = ["bar", "configure", "interactive", "is_quiet", "wanted"]


@dataclass
class _Settings:
    quiet: bool = False
    terminal_only: bool = False


#: carries the settings to child processes: "quiet", "terminal_only" or both, comma-separated
ENVIRONMENT_VARIABLE = "SCVAE_PROGRESS"


def _from_environment() -> _Settings:
    words = set(os.environ.get(ENVIRONMENT_VARIABLE, "").split(","))
    return _Settings(quiet="quiet" in words, terminal_only="terminal_only" in words)


_settings = _from_environment()


def configure(*, quiet: bool = False, terminal_only: bool = False) -> None:
    """Set the process-wide progress preference (the command line calls this per run).

    Child processes started afterwards inherit it (see ``SCVAE_PROGRESS``).
    """
    _settings.quiet = bool(quiet)
    _settings.terminal_only = bool(terminal_only)
    words = [name for name, on in (("quiet", quiet), ("terminal_only", terminal_only)) if on]
    if words:
        os.environ[ENVIRONMENT_VARIABLE] = ",".join(words)
    else:
        os.environ.pop(ENVIRONMENT_VARIABLE, None)


def is_quiet() -> bool:
    """Whether ``--quiet`` is in force (no progress bars, no per-epoch lines)."""
    return _settings.quiet


def wanted(requested: bool = True, stream: TextIO | None = None) -> bool:
    """Whether to draw progress that the caller ``requested`` on ``stream`` (stderr).

    False when quiet, or when only terminals get progress and ``stream`` is not one.
    """
    if not requested or _settings.quiet:
        return False
    if not _settings.terminal_only:
        return True
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def interactive(stream: TextIO | None = None) -> bool:
    """Whether someone watches ``stream`` (stderr) as it is written: a terminal, or a
    Jupyter kernel (whose bars ``tqdm`` draws as widgets). A script's log piped to a file
    is neither, and would get every ``\\r`` frame of a bar."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    if isatty and isatty():
        return True
    shell = sys.modules.get("IPython")
    get_ipython = getattr(shell, "get_ipython", None)
    return bool(get_ipython and get_ipython() is not None and "ipykernel" in sys.modules)


def bar(iterable: Iterable | None = None, *, enabled: bool = True, **options: Any):
    """A ``tqdm`` progress bar on stderr, drawn only when :func:`wanted` says so.

    ``options`` go to ``tqdm`` (``total``, ``desc``, ``leave``, ...); ``disable`` is
    decided here from ``enabled`` and the settings.
    """
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not wanted(enabled, options.get("file")), **options)
