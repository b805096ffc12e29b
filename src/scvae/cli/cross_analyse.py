"""``scvae cross-analyse ANALYSES_DIRECTORY``: compare every model evaluated on a test set."""

from __future__ import annotations

import argparse

from scvae.analyses.cross import CrossAnalysisConfig
from scvae.cli.common import add_leaf_options
from scvae.cli.options import add_config_options, build_config

HELP = "Compare the models evaluated under an analyses folder."


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "cross-analyse",
        help=HELP,
        description=HELP
        + " Reads every test-set evaluation (metrics.json) that scvae evaluate wrote, prints "
        "one table per data set and writes figures to ANALYSES_DIRECTORY/cross_analysis/.",
        short_usage="scvae cross-analyse ANALYSES_DIRECTORY [options]",
    )
    parser.add_argument(
        "analyses_directory",
        metavar="ANALYSES_DIRECTORY",
        help="the analyses folder of scvae evaluate (its -A, by default 'analyses')",
    )
    add_leaf_options(parser)
    add_config_options(parser, CrossAnalysisConfig, title="cross-analysis options")
    parser.set_defaults(run=run)


def run(namespace: argparse.Namespace) -> int:
    from scvae.analyses.cross import cross_analyse

    config = build_config(namespace, CrossAnalysisConfig)
    written = cross_analyse(namespace.analyses_directory, config)
    folders = sorted({str(path.parent) for path in written})
    print(f"Wrote {len(written)} files in {', '.join(folders) or '-'}")
    return 0
