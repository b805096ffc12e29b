"""``scvae analyse DATA``: load a data set and write its summary analyses."""

from __future__ import annotations

import argparse

from scvae.cli.common import check_optional_packages, new_command_parser, say
from scvae.cli.options import add_config_options, build_config
from scvae.config import AnalysisConfig, DataConfig


def add_parser(subparsers) -> None:
    parser = new_command_parser(subparsers, "analyse", "Analyse a data set.")
    add_config_options(parser, AnalysisConfig, title="analysis options")
    parser.set_defaults(run=run)


def run(namespace: argparse.Namespace) -> int:
    from scvae import api

    data_config = build_config(namespace, DataConfig)
    analysis_config = build_config(namespace, AnalysisConfig)
    check_optional_packages(analysis_config)
    paths = api.analyse(namespace.data_set_file_or_name, data_config, analysis_config)
    metrics = next((path for path in paths if path.suffix == ".log"), None)
    if metrics is not None:
        say()(metrics.read_text())
    folders = sorted({path.parent for path in paths})
    report = next((path for path in paths if path.name == "index.html"), None)
    print(
        f"Wrote {len(paths)} files in {len(folders)} folders under {paths[0].parent if paths else '-'}"
    )
    if report is not None:
        print(f"Report: {report}")
    return 0
