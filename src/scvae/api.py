"""One function per command; the CLI only parses options and calls these.

Each is a thin call into :mod:`scvae.workflows`; :func:`train` also decides whether
to start several local processes (``--processes``).
"""

from __future__ import annotations

from pathlib import Path

from scvae.config import AnalysisConfig, DataConfig, EvaluationConfig, ModelConfig, TrainingConfig
from scvae.errors import ConfigError
from scvae.training.parallel import launched
from scvae.workflows import train as train_workflow
from scvae.workflows.data_sets import load_data_set, split_data_set
from scvae.workflows.launch import launch_training

__all__ = ["analyse", "evaluate", "load_data_set", "split_data_set", "train"]


def analyse(
    input_file_or_name: str,
    data_config: DataConfig | None = None,
    analysis_config: AnalysisConfig | None = None,
) -> list[Path]:
    """Load (and optionally split) a data set, analyse it, return the files written."""
    from scvae.workflows import analyse as analyse_workflow  # plotting loads only when needed

    return analyse_workflow.analyse(input_file_or_name, data_config, analysis_config)


def train(
    input_file_or_name: str,
    data_config: DataConfig | None = None,
    model_config: ModelConfig | None = None,
    training_config: TrainingConfig | None = None,
    *,
    progress: bool = True,
    log=print,
) -> Path:
    """Train a model on a data set (continuing up to the epoch total); return the run folder.

    With ``--split-data-set`` the model trains on the training set and is validated on the
    validation set (the best and early-stopping versions need a validation set). With
    ``--processes N`` (N > 1) N local worker processes train together.
    """
    data_config = data_config or DataConfig()
    model_config = model_config or ModelConfig()
    training_config = training_config or TrainingConfig()
    if training_config.processes < 1:
        raise ConfigError("--processes must be at least 1")
    if training_config.processes > 1 and not launched():
        configs = {"data": data_config, "model": model_config, "training": training_config}
        return launch_training(
            input_file_or_name, configs, training_config.processes, training_config.threads
        )
    return train_workflow.train(
        input_file_or_name,
        data_config,
        model_config,
        training_config,
        progress=progress,
        log=log,
    )


def evaluate(
    input_file_or_name: str | None,
    data_config: DataConfig | None = None,
    model_config: ModelConfig | None = None,
    training_config: TrainingConfig | None = None,
    evaluation_config: EvaluationConfig | None = None,
    analysis_config: AnalysisConfig | None = None,
    *,
    progress: bool = True,
    log=print,
) -> list[Path]:
    """Evaluate a trained model (found from the options, or ``--model-directory``).

    Returns the result folder of each evaluated model version.
    """
    from scvae.workflows import evaluate as evaluate_workflow  # plotting loads only when needed

    return evaluate_workflow.evaluate(
        input_file_or_name,
        data_config,
        model_config,
        training_config,
        evaluation_config,
        analysis_config,
        progress=progress,
        log=log,
    )
