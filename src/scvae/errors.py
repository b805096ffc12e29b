"""Exceptions that the command line turns into one-line messages."""

from __future__ import annotations


class ScvaeError(Exception):
    """Base class for errors that are the user's to fix (shown without a traceback)."""


class DataError(ScvaeError):
    """Bad or unreadable input data.

    Parameters
    ----------
    path
        The file or folder concerned (named first in the message), or ``None``.
    problem
        What is wrong, in one sentence.
    """

    def __init__(self, path: object, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class NotCountsError(DataError):
    """Values are not counts but the chosen likelihood needs counts."""


class NotSupportedYet(ScvaeError):
    """An option whose feature has not landed yet."""

    def __init__(self, option: str) -> None:
        super().__init__(f"{option} is not supported yet in this version of scvae.")


class ConfigError(ScvaeError):
    """Invalid option values or combinations."""
