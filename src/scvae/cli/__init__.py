"""Command line: ``scvae analyse|train|evaluate DATA [options]``, ``scvae data ...``, ``scvae info``.

Each sub-command lives in its own module with ``add_parser(subparsers)`` and
``run(namespace) -> int``. Known errors, bad option values included, become one
line on stderr (plus a one-line usage hint for options) and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from scvae import __version__, progress
from scvae.cli.common import add_quiet_option
from scvae.cli.parser import Parser, UsageError
from scvae.config import DEFAULTS_PROFILES, profile_defaults
from scvae.errors import ScvaeError

COMMANDS = ("analyse", "train", "evaluate", "cross_analyse", "info", "data")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per command."""
    parser = Parser(
        prog="scvae",
        description="Variational auto-encoders for single-cell transcript counts.",
        short_usage="scvae COMMAND [options]",
    )
    parser.add_argument("-V", "--version", action="version", version=f"scvae {__version__}")
    add_quiet_option(parser, default=False)
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, prog="scvae"
    )
    for name in COMMANDS:
        importlib.import_module(f"scvae.cli.{name}").add_parser(subparsers)
    return parser


def apply_defaults_profile(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """With ``--defaults PROFILE`` in ``argv``, make that profile's values the defaults.

    Options given on the command line still win: the profile only replaces the defaults
    of the sub-commands that have the ``--defaults`` option.
    """
    tokens = list(argv)
    profile = None
    for index, token in enumerate(tokens):
        if token == "--defaults" and index + 1 < len(tokens):
            profile = tokens[index + 1]
        elif token.startswith("--defaults="):
            profile = token.split("=", 1)[1]
    if profile not in DEFAULTS_PROFILES or profile == "current":
        return
    values = {**profile_defaults("model", profile), **profile_defaults("training", profile)}
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        for command in action.choices.values():
            dests = {option.dest for option in command._actions}
            if "defaults" in dests:
                command.set_defaults(**{k: v for k, v in values.items() if k in dests})


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    apply_defaults_profile(parser, sys.argv[1:] if argv is None else argv)
    try:
        namespace, extras = parser.parse_known_args(argv)
        if extras:
            getattr(namespace, "parser", parser).unknown_arguments(extras)
    except UsageError as error:
        print(f"scvae: error: {error}\n{error.hint}", file=sys.stderr)
        return 2
    except SystemExit as done:  # --help and --version
        return done.code if isinstance(done.code, int) else 0
    progress.configure(quiet=namespace.quiet, terminal_only=True)
    try:
        return int(namespace.run(namespace) or 0)
    except ScvaeError as error:
        print(f"scvae: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("scvae: interrupted", file=sys.stderr)
        return 130
    finally:
        progress.configure()
