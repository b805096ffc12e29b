"""``scvae evaluate DATA``: evaluate a trained model and analyse the results."""

from __future__ import annotations

import argparse

from scvae.cli.common import new_command_parser
from scvae.cli.options import add_config_options
from scvae.config import AnalysisConfig, EvaluationConfig, ModelConfig, TrainingConfig
from scvae.errors import NotSupportedYet

#: training options that also identify a model or steer evaluation
SHARED_TRAINING_OPTIONS = (
    "minibatch_size",
    "run_id",
    "models_directory",
    "device",
    "threads",
    "seed",
)


def add_parser(subparsers) -> None:
    parser = new_command_parser(subparsers, "evaluate", "Evaluate a trained model.")
    add_config_options(parser, ModelConfig, title="model options")
    add_config_options(
        parser, TrainingConfig, only=SHARED_TRAINING_OPTIONS, title="training options"
    )
    add_config_options(parser, EvaluationConfig, title="evaluation options")
    add_config_options(parser, AnalysisConfig, title="analysis options")
    parser.set_defaults(run=run)


def run(namespace: argparse.Namespace) -> int:
    raise NotSupportedYet("scvae evaluate")
