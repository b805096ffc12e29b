"""``scvae train DATA``: train a VAE or GMVAE on a data set."""

from __future__ import annotations

import argparse

from scvae.cli.common import new_command_parser
from scvae.cli.options import add_config_options
from scvae.config import ModelConfig, TrainingConfig
from scvae.errors import NotSupportedYet


def add_parser(subparsers) -> None:
    parser = new_command_parser(subparsers, "train", "Train a model on a data set.")
    add_config_options(parser, ModelConfig, title="model options")
    add_config_options(parser, TrainingConfig, title="training options")
    parser.set_defaults(run=run)


def run(namespace: argparse.Namespace) -> int:
    raise NotSupportedYet("scvae train")
