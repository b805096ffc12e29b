"""``scvae train DATA``: train a VAE or GMVAE on a data set."""

from __future__ import annotations

import argparse

from scvae import progress
from scvae.cli.common import new_command_parser, say
from scvae.cli.options import add_config_options, build_config
from scvae.config import DataConfig, ModelConfig, TrainingConfig


def add_parser(subparsers) -> None:
    parser = new_command_parser(subparsers, "train", "Train a model on a data set.")
    add_config_options(parser, ModelConfig, title="model options")
    add_config_options(parser, TrainingConfig, title="training options")
    parser.set_defaults(run=run)


def run(namespace: argparse.Namespace) -> int:
    from scvae import api

    data_config = build_config(namespace, DataConfig)
    model_config = build_config(namespace, ModelConfig)
    training_config = build_config(namespace, TrainingConfig)
    run_directory = api.train(
        namespace.data_set_file_or_name,
        data_config,
        model_config,
        training_config,
        progress=progress.wanted(),
        log=say(),
    )
    print(f"Model saved in {run_directory}")
    return 0
