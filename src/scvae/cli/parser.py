"""The argument parser: one-line errors with suggestions, and help that lists choices.

:class:`Parser` turns every argparse error into :class:`UsageError` (shown by
:func:`scvae.cli.main` as ``scvae: error: ...`` and a one-line usage hint, exit 2)
and adds "did you mean" to invalid choices, sub-commands included.
:class:`HelpFormatter` lists the accepted names of options with :class:`Choices` and
prints defaults as a person writes them (``standard``, ``100``, ``on``), once.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import Any, NoReturn

from scvae.cli.choices import Choices, suggestion
from scvae.errors import ScvaeError


class UsageError(ScvaeError):
    """A command line that does not parse; ``hint`` is a one-line usage reminder."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors raise :class:`UsageError` instead of exiting.

    ``short_usage`` (keyword) is the usage shown after an error, e.g. ``scvae train
    DATA [options]``; sub-parsers made by ``add_subparsers`` are ``Parser`` too.
    """

    def __init__(self, *args: Any, short_usage: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        if short_usage:
            kwargs.setdefault("usage", short_usage)
        super().__init__(*args, **kwargs)
        self.short_usage = short_usage or f"{self.prog} [options]"

    def error(self, message: str) -> NoReturn:
        hint = f"usage: {self.short_usage}; see {self.prog} --help"
        # "argument -B/--minibatch-size: must be at least 1" reads "-B/... must be at least 1"
        message = re.sub(r"^argument (\S+): (must be )", r"\1 \2", message)
        raise UsageError(message, hint)

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if choices is None or value in choices:
            return
        name = argparse._get_action_name(action) or action.dest
        if isinstance(choices, Choices):
            listed = choices.describe()
        else:
            listed = ", ".join(map(str, choices))
        raise argparse.ArgumentError(
            None,
            f"argument {name}: invalid choice {value!r}{suggestion(value, choices)} "
            f"(choose from {listed})",
        )

    def unknown_arguments(self, extras: Sequence[str]) -> NoReturn:
        """Refuse arguments no option took, suggesting a close option name."""
        options = [flag for action in self._actions for flag in action.option_strings]
        first = next((extra for extra in extras if extra.startswith("-")), None)
        near = suggestion(first.partition("=")[0], options, cutoff=0.75) if first else ""
        self.error(f"unrecognised arguments: {' '.join(extras)}{near}")


class MethodAndParameters(argparse.Action):
    """``-F METHOD [PARAMETER ...]``: checks (and normalises) the method, keeps the rest."""

    def __init__(self, *args: Any, methods: Choices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.methods = methods

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        method, *parameters = values
        if method not in self.methods:
            name = argparse._get_action_name(self)
            raise argparse.ArgumentError(
                None,
                f"argument {name}: unknown method {method!r}{suggestion(method, self.methods)} "
                f"(choose from {self.methods.describe()})",
            )
        setattr(namespace, self.dest, [self.methods.canonical(method), *parameters])


class HelpFormatter(argparse.HelpFormatter):
    """Help with each option's accepted names and its default, as a person reads them."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = (action.help or "").replace(" (default: %(default)s)", "")
        choices = getattr(action, "methods", None) or action.choices
        if isinstance(choices, Choices):
            listed = f"; choose from {choices.describe()}".replace("%", "%%")
            head, marker, tail = text.partition(" (default:")
            text = head + listed + marker + tail
        default = human_default(action)
        if default and "(default:" not in text:
            text += f" (default: {default})".replace("%", "%%")
        return text


def human_default(action: argparse.Action) -> str | None:
    """The default as a person writes it on the command line, or ``None`` to show none."""
    value = action.default
    if value is None or value is argparse.SUPPRESS or action.help is argparse.SUPPRESS:
        return None
    if isinstance(action, argparse.BooleanOptionalAction):
        return "on" if value else "off"
    if isinstance(value, bool):
        return None  # a plain flag: off unless given
    if isinstance(value, (tuple, list)):
        return " ".join(_human(item) for item in value) or None
    return _human(value) or None


def _human(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
