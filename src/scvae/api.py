"""One function per command; the CLI only parses options and calls these."""

from __future__ import annotations

from pathlib import Path

from scvae.config import AnalysisConfig, DataConfig, ModelConfig, TrainingConfig
from scvae.data.data_set import DataSet


def load_data_set(config: DataConfig, input_file_or_name: str, **kwargs) -> DataSet:
    """Build and load the DataSet described by ``config`` (values left on disk if backed)."""
    from scvae.data.backed_loading import configured_data_set, open_backed, use_backed

    if use_backed(config, input_file_or_name):
        return open_backed(config, input_file_or_name, **kwargs)
    return configured_data_set(config, input_file_or_name, **kwargs).load()


def split_data_set(data_set: DataSet, config: DataConfig) -> list[DataSet]:
    """``[full]``, or ``[full, training, validation, test]`` when splitting."""
    if not config.split_data_set:
        return [data_set]
    return [data_set, *data_set.split(config.splitting_method, config.splitting_fraction)]


def analyse(
    input_file_or_name: str,
    data_config: DataConfig | None = None,
    analysis_config: AnalysisConfig | None = None,
) -> list[Path]:
    """Load (and optionally split) a data set, analyse it, return the files written."""
    from scvae.analyses.data import analyse_data
    from scvae.folders import data_path

    data_config = data_config or DataConfig()
    analysis_config = analysis_config or AnalysisConfig()
    data_set = load_data_set(data_config, input_file_or_name)
    data_sets = split_data_set(data_set, data_config)
    folder = data_path(
        data_set.name,
        data_config,
        data_set.split_indices is not None,
        include_preprocessing=False,
    )
    return analyse_data(
        data_sets, Path(analysis_config.analyses_directory) / folder / "data", analysis_config
    )


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
    validation set (the best and early-stopping versions need a validation set).
    """
    from scvae.errors import ConfigError
    from scvae.folders import data_path
    from scvae.training import distributed
    from scvae.training.session import train_session

    data_config = data_config or DataConfig()
    model_config = model_config or ModelConfig()
    training_config = training_config or TrainingConfig()
    if training_config.processes < 1:
        raise ConfigError("--processes must be at least 1")
    if training_config.processes > 1 and not distributed.launched():
        configs = {"data": data_config, "model": model_config, "training": training_config}
        return distributed.launch_training(
            input_file_or_name, configs, training_config.processes, training_config.threads
        )
    with distributed.distributed_session(training_config.device) as processes:
        with processes.main_first():  # one process builds the caches
            data_set = load_data_set(
                data_config,
                input_file_or_name,
                reconstruction_distribution=model_config.reconstruction_distribution,
            )
        sets = split_data_set(data_set, data_config)
        training_set, validation_set = (sets[1], sets[2]) if len(sets) > 1 else (sets[0], None)
        folder = data_path(data_set.name, data_config, data_set.split_indices is not None)
        return train_session(
            training_set,
            validation_set,
            folder,
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
    evaluation_config=None,
    analysis_config: AnalysisConfig | None = None,
    *,
    progress: bool = True,
    log=print,
) -> list[Path]:
    """Evaluate a trained model (found from the options, or ``--model-directory``).

    Returns the result folder of each evaluated model version.
    """
    from scvae.evaluation.session import evaluate as evaluate_session

    return evaluate_session(
        input_file_or_name,
        data_config,
        model_config,
        training_config,
        evaluation_config,
        analysis_config,
        progress=progress,
        log=log,
    )
