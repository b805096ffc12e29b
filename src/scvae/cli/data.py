"""``scvae data list|download``: show the built-in data sets, or fetch one ahead of time."""

from __future__ import annotations

import argparse

from scvae import progress
from scvae.cli.common import add_leaf_options
from scvae.cli.options import add_config_options
from scvae.config import DataConfig

_COLUMNS = (("name", "NAME"), ("title", "TITLE"), ("size", "SIZE"), ("status", "STATUS"))


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "data",
        help="List or download built-in data sets.",
        description="List the built-in data sets, or download one ahead of time.",
        short_usage="scvae data list|download [NAME] [options]",
    )
    actions = parser.add_subparsers(
        dest="data_command", metavar="ACTION", required=True, prog="scvae data"
    )
    listing = actions.add_parser(
        "list",
        help="list the built-in data sets and their status",
        short_usage="scvae data list [options]",
    )
    add_leaf_options(listing)
    add_config_options(listing, DataConfig, only=["data_directory"], title="data options")
    listing.set_defaults(run=run_list)
    fetching = actions.add_parser(
        "download",
        help="download a built-in data set's files",
        short_usage="scvae data download NAME [options]",
    )
    fetching.add_argument("name", metavar="NAME", help="built-in data set name (see 'list')")
    add_leaf_options(fetching)
    add_config_options(fetching, DataConfig, only=["data_directory"], title="data options")
    fetching.set_defaults(run=run_download)


def run_list(namespace: argparse.Namespace) -> int:
    from scvae.data.catalogue import describe

    rows = describe(namespace.data_directory)
    widths = {key: max(len(head), *(len(row[key]) for row in rows)) for key, head in _COLUMNS}
    print("  ".join(head.ljust(widths[key]) for key, head in _COLUMNS).rstrip())
    for row in rows:
        print("  ".join(row[key].ljust(widths[key]) for key, _ in _COLUMNS).rstrip())
    print(f"\nFiles go in {namespace.data_directory}/<name>/original/.")
    return 0


def run_download(namespace: argparse.Namespace) -> int:
    from scvae.data.catalogue import CATALOGUE, find_built_in
    from scvae.errors import DataError

    entry = find_built_in(namespace.name)
    if entry is None:
        titles = ", ".join(built_in.title for built_in in CATALOGUE.values())
        raise DataError(namespace.name, f"is not a built-in data set (built-in: {titles})")
    paths = entry[1].fetch(namespace.data_directory, progress=not progress.is_quiet())
    for path in paths.values():
        print(f"Have {path}")
    if not paths:
        print(f"{entry[1].title} is generated offline; nothing to download.")
    return 0
