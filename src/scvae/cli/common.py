"""Parser pieces shared by the sub-commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from scvae import progress
from scvae.cli.choices import OPTIONAL_PACKAGES
from scvae.cli.options import add_config_options
from scvae.config import DataConfig


def new_command_parser(
    subparsers, name: str, help_text: str, *, data_optional: bool = False
) -> argparse.ArgumentParser:
    """A sub-parser with ``DATA`` (optional if asked), the data options and ``--quiet``."""
    data = "[DATA]" if data_optional else "DATA"
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description=help_text,
        short_usage=f"scvae {name} {data} [options]",
    )
    parser.add_argument(
        "data_set_file_or_name",
        metavar="DATA",
        nargs="?" if data_optional else None,
        help="a data file or folder (10x, Loom, h5ad, HDF5, TSV/CSV, GCT, JSON spec) "
        "or a built-in data set name",
    )
    add_leaf_options(parser)
    add_config_options(parser, DataConfig, title="data options")
    return parser


def add_leaf_options(parser: argparse.ArgumentParser) -> None:
    """``--quiet``, and the parser itself on the namespace (for errors found after parsing)."""
    add_quiet_option(parser)
    parser.set_defaults(parser=parser)


def add_quiet_option(parser: argparse.ArgumentParser, *, default: Any = argparse.SUPPRESS) -> None:
    """``--quiet``: no progress bars and no per-epoch lines (results and errors still show)."""
    parser.add_argument(
        "--quiet",
        action="store_true",
        default=default,
        help="no progress bars or per-epoch lines; only results, warnings and errors",
    )


def say() -> Callable[..., None]:
    """``print`` to stdout, or a function that prints nothing under ``--quiet``."""
    if progress.is_quiet():
        return _silent
    return print


def _silent(*_: Any, **__: Any) -> None:
    return None


def note(message: str) -> None:
    """One ``scvae: note: ...`` line on stderr (shown under ``--quiet`` too)."""
    print(f"scvae: note: {message}", file=sys.stderr)


def check_optional_packages(analysis_config: Any) -> None:
    """Refuse decomposition methods whose optional package is not installed (one line)."""
    import importlib.util

    from scvae.errors import ConfigError

    for method in analysis_config.decomposition_methods:
        module, package = OPTIONAL_PACKAGES.get(method, (None, None))
        if module and importlib.util.find_spec(module) is None:
            raise ConfigError(
                f"--decomposition-methods {method} needs the {package} package, which is "
                f"not installed (pip install {package}); or leave {method} out"
            )
