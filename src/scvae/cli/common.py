"""Parser pieces shared by the sub-commands."""

from __future__ import annotations

import argparse

from scvae.cli.options import add_config_options
from scvae.config import DataConfig


def new_command_parser(
    subparsers, name: str, help_text: str, *, data_optional: bool = False
) -> argparse.ArgumentParser:
    """A sub-parser that shows defaults in ``--help`` (``DATA`` optional if asked)."""
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description=help_text,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "data_set_file_or_name",
        metavar="DATA",
        nargs="?" if data_optional else None,
        help="a data file or folder (10x, Loom, h5ad, HDF5, TSV/CSV, GCT, JSON spec) "
        "or a built-in data set name",
    )
    add_config_options(parser, DataConfig, title="data options")
    return parser
