"""Command line: ``scvae analyse|train|evaluate DATA [options]`` and ``scvae data ...``.

Each sub-command lives in its own module with ``add_parser(subparsers)`` and
``run(namespace) -> int``; known errors become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from scvae import __version__
from scvae.errors import ScvaeError

COMMANDS = ("analyse", "train", "evaluate", "data")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per command."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="scvae",
        description="Variational auto-encoders for single-cell transcript counts.",
    )
    parser.add_argument("-V", "--version", action="version", version=f"scvae {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"scvae.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    namespace = parser.parse_args(argv)
    try:
        return int(namespace.run(namespace) or 0)
    except ScvaeError as error:
        print(f"scvae: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("scvae: interrupted", file=sys.stderr)
        return 130
