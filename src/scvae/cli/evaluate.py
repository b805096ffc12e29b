"""``scvae evaluate [DATA]``: evaluate a trained model and analyse the results.

Give the same data and model options as for training, or only ``--model-directory``
(a model's run folder), from which everything else is read.
"""

from __future__ import annotations

import argparse

from scvae.cli.common import new_command_parser
from scvae.cli.options import add_config_options, build_config, refuse_unsupported
from scvae.config import AnalysisConfig, DataConfig, EvaluationConfig, ModelConfig, TrainingConfig
from scvae.errors import ConfigError

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
    parser = new_command_parser(
        subparsers,
        "evaluate",
        "Evaluate a trained model: give the training options again, or --model-directory.",
        data_optional=True,
    )
    add_config_options(parser, ModelConfig, title="model options")
    add_config_options(
        parser, TrainingConfig, only=SHARED_TRAINING_OPTIONS, title="training options"
    )
    add_config_options(parser, EvaluationConfig, title="evaluation options")
    add_config_options(parser, AnalysisConfig, title="analysis options")
    parser.set_defaults(run=run)


def run(namespace: argparse.Namespace) -> int:
    from scvae import api

    data_config = build_config(namespace, DataConfig)
    model_config = build_config(namespace, ModelConfig)
    training_config = build_config(namespace, TrainingConfig)
    evaluation_config = build_config(namespace, EvaluationConfig)
    analysis_config = build_config(namespace, AnalysisConfig)
    refuse_unsupported(data_config)
    if namespace.data_set_file_or_name is None and not evaluation_config.model_directory:
        raise ConfigError("give the data set (DATA) or --model-directory DIR")
    folders = api.evaluate(
        namespace.data_set_file_or_name,
        data_config,
        model_config,
        training_config,
        evaluation_config,
        analysis_config,
    )
    for folder in folders:
        print(f"Results written to {folder}")
    return 0
