"""``scvae evaluate [DATA]``: evaluate a trained model and analyse the results.

Give the same data and model options as for training, or only ``--model-directory``
(a model's run folder), from which everything else is read. The training-only options
(``-e``, ``--early-stopping``, ...) are accepted, so a training command line can be
repeated, and ignored with a note: the run does not depend on them. The seed, learning
rate and minibatch size choose between runs of one model folder as they did in
training (see docs/runs.md).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from scvae import progress
from scvae.cli.common import check_optional_packages, new_command_parser, note, say
from scvae.cli.options import add_config_options, build_config
from scvae.config import AnalysisConfig, DataConfig, EvaluationConfig, ModelConfig, TrainingConfig
from scvae.errors import ConfigError

#: training options that also identify a model or steer evaluation (``--defaults`` picks
#: the model options' defaults, so the model folder depends on it; the learning rate
#: tells runs of one model folder apart)
SHARED_TRAINING_OPTIONS = (
    "minibatch_size",
    "learning_rate",
    "run_id",
    "models_directory",
    "defaults",
    "device",
    "threads",
    "seed",
)

#: training options accepted and ignored (``-A`` is the analyses folder here)
IGNORED_TRAINING_OPTIONS = tuple(
    field.name
    for field in dataclasses.fields(TrainingConfig)
    if field.name not in SHARED_TRAINING_OPTIONS and field.name != "analyses_directory"
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
    add_config_options(
        parser,
        TrainingConfig,
        only=IGNORED_TRAINING_OPTIONS,
        title="training-only options",
        description="accepted so that a training command line can be repeated, and ignored",
        suppress_defaults=True,
    )
    add_config_options(parser, EvaluationConfig, title="evaluation options")
    add_config_options(parser, AnalysisConfig, title="analysis options")
    # a -D not given is told apart from one given (even as "data"): with --model-directory
    # only a given one replaces the data folder saved in the run
    parser.set_defaults(run=run, data_directory=_NotGiven(DataConfig().data_directory))
    for action in parser._actions:
        if action.dest == "data_directory":  # argparse passes a default through its type
            action.type = _keep_not_given


def run(namespace: argparse.Namespace) -> int:
    from scvae import api

    _drop_training_only(namespace)
    if not isinstance(namespace.data_directory, _NotGiven):
        namespace.data_directory = str(Path(namespace.data_directory).absolute())
    else:
        namespace.data_directory = str(namespace.data_directory)
    data_config = build_config(namespace, DataConfig)
    model_config = build_config(namespace, ModelConfig)
    training_config = build_config(namespace, TrainingConfig)
    evaluation_config = build_config(namespace, EvaluationConfig)
    analysis_config = build_config(namespace, AnalysisConfig)
    check_optional_packages(analysis_config)
    if namespace.data_set_file_or_name is None and not evaluation_config.model_directory:
        raise ConfigError("give the data set (DATA) or --model-directory DIR")
    folders = api.evaluate(
        namespace.data_set_file_or_name,
        data_config,
        model_config,
        training_config,
        evaluation_config,
        analysis_config,
        progress=progress.wanted(),
        log=say(),
    )
    for folder in folders:
        print(f"Results written to {folder}")
    return 0


class _NotGiven(str):
    """The default of an option, marked as not given on the command line."""


def _keep_not_given(value: str) -> str:
    return value if isinstance(value, _NotGiven) else str(value)


def _drop_training_only(namespace: argparse.Namespace) -> None:
    """Remove the given training-only options from ``namespace``, with a note naming them."""
    flags = {field.name: field.metadata["flags"][0] for field in dataclasses.fields(TrainingConfig)}
    parser = getattr(namespace, "parser", None)
    present = [name for name in IGNORED_TRAINING_OPTIONS if hasattr(namespace, name)]
    given = [  # a default set on the parser (a defaults profile) was not given by the user
        name
        for name in present
        if parser is None or getattr(namespace, name) != parser.get_default(name)
    ]
    for name in present:
        delattr(namespace, name)
    if given:
        listed = ", ".join(flags[name] for name in given)
        hint = "; give --run-id ID to find a --new-run model" if "new_run" in given else ""
        note(f"evaluate ignores the training-only options {listed}{hint}")
