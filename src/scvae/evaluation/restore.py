"""Rebuild a trained model from its run folder (``config.json``, ``model.json``, checkpoints)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

import torch

from scvae.config import (
    DataConfig,
    ModelConfig,
    TrainingConfig,
    check_loaded_config,
    load_configs,
)
from scvae.errors import ConfigError, ScvaeError
from scvae.folders import (
    CONFIG_NAME,
    MODEL_FACTS,
    VERSION_FOLDERS,
    run_directory,
    version_checkpoint,
)
from scvae.models.build import MAXIMUM_PARAMETERS, ModelFacts, parameter_estimate
from scvae.runs import (
    LEGACY_NOTE,
    DataIdentity,
    RunIdentity,
    data_identity,
    describe_differences,
    differences,
    read_identity,
    run_identity,
    runs_in,
    training_differences,
)
from scvae.training.commit import RunFileError

#: saved JSON files larger than this are refused (real ones hold a few kilobytes)
MAXIMUM_JSON_BYTES = 64 << 20
EVALUATION_ADVICE = (
    "evaluate another version with --model-versions, or train again with --reset-training"
)

VERSION_ALIASES = {
    "end_of_training": ("end_of_training", "eot", "end", "finish", "finished"),
    "best_model": ("best_model", "bm", "best", "optimal_parameters", "op", "optimal"),
    "early_stopping": ("early_stopping", "es", "early", "stop", "stopped"),
}


class ModelNotFound(ScvaeError):
    """No trained model where one was expected."""


def resolve_versions(names: Iterable[str]) -> list[str]:
    """Canonical version names (in the original's order) for the given names and aliases."""
    wanted: set[str] = set()
    for name in names:
        key = str(name).lower().replace("-", "_").replace(" ", "_")
        if key == "all":
            wanted.update(VERSION_FOLDERS)
            continue
        matches = [version for version, aliases in VERSION_ALIASES.items() if key in aliases]
        if not matches:
            raise ConfigError(
                f"unknown model version {name!r}; choose end_of_training, best_model, "
                "early_stopping or all"
            )
        wanted.add(matches[0])
    return [version for version in VERSION_FOLDERS if version in wanted]


@dataclass
class RunConfigs:
    """The configurations a run was trained with."""

    data: DataConfig
    model: ModelConfig
    training: TrainingConfig


def read_run_configs(run: str | Path) -> RunConfigs:
    """The data, model and training configurations saved in ``run/config.json``."""
    path = Path(run) / CONFIG_NAME
    if not path.is_file():
        raise ModelNotFound(
            f'no trained model in "{run}" (it has no {CONFIG_NAME}); give the run folder '
            "that `scvae train` printed"
        )
    _check_file_size(path)
    try:
        configs = load_configs(path)
        sections = [configs["data"], configs["model"], configs["training"]]
        for config in sections:
            check_loaded_config(config)
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as error:
        raise RunFileError(path, f"is not a valid model configuration ({error})") from error
    return RunConfigs(*sections)


def _check_file_size(path: Path) -> None:
    if path.stat().st_size > MAXIMUM_JSON_BYTES:
        raise RunFileError(path, f"is larger than {MAXIMUM_JSON_BYTES:,} bytes")


def read_model_facts(run: str | Path) -> ModelFacts:
    """The shape facts saved in ``run/model.json``, checked."""
    path = Path(run) / MODEL_FACTS
    if not path.is_file():
        raise ModelNotFound(f'no trained model in "{run}" (it has no {MODEL_FACTS})')
    _check_file_size(path)
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
        problem = _facts_problem(values)
        facts = None if problem else ModelFacts.from_dict(values)
    except (ValueError, TypeError, UnicodeDecodeError) as error:
        problem = str(error)
    if problem or facts is None:
        raise RunFileError(path, f"is not a valid model description ({problem})")
    return facts


def _facts_problem(values: object) -> str | None:
    """What is wrong with the values of a ``model.json`` (``None`` if nothing)."""
    if not isinstance(values, dict):
        return "not a JSON object"
    known = {item.name for item in fields(ModelFacts)}
    unknown = set(values) - known
    if unknown:
        return f"unknown keys: {', '.join(sorted(map(str, unknown)))[:200]}"
    checks = {
        "feature_size": lambda v: type(v) is int and v >= 1,
        "number_of_classes": lambda v: type(v) is int and v >= 1,
        "number_of_batches": lambda v: type(v) is int and v >= 0,
        "seed": lambda v: type(v) is int,
        "data_set": lambda v: isinstance(v, str),
        "prior_probabilities": lambda v: v is None or _probabilities(v),
        "feature_names_sample": lambda v: (
            isinstance(v, list) and all(isinstance(item, str) for item in v)
        ),
    }
    for name, check in checks.items():
        if name not in values and name != "feature_names_sample":
            return f"{name} is missing"
        if name in values and not check(values[name]):
            return f"{name} has an invalid value"
    return None


def _probabilities(values: object) -> bool:
    return (
        isinstance(values, list)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        and all(math.isfinite(v) and v >= 0 for v in values)
    )


def check_model_size(config: ModelConfig, facts: ModelFacts, run: str | Path) -> None:
    """Refuse a saved model too large to build before anything is allocated."""
    estimate = parameter_estimate(
        config, facts.feature_size, facts.number_of_classes, facts.number_of_batches
    )
    if estimate > MAXIMUM_PARAMETERS:
        raise RunFileError(
            Path(run) / MODEL_FACTS,
            f"describes a model of about {estimate:.3g} parameters (more than "
            f"{MAXIMUM_PARAMETERS:.3g}); its saved sizes are implausible",
        )


def check_data_fits(facts: ModelFacts, number_of_features: int, run: str | Path) -> None:
    """Refuse data whose number of features differs from the model's."""
    if number_of_features != facts.feature_size:
        raise ConfigError(
            f'the model in "{run}" was trained on {facts.feature_size} features, but these data '
            f"have {number_of_features}; evaluate it on the data (and feature selection) it "
            "was trained with"
        )


@dataclass
class TrainedModel:
    """A module restored at one model version."""

    module: torch.nn.Module
    version: str
    epoch: int


def load_version(
    run: str | Path, version: str, module: torch.nn.Module, device: torch.device
) -> TrainedModel | None:
    """Load the ``version`` checkpoint of ``run`` into ``module``; ``None`` if it is missing.

    The checkpoint is verified against its digest first; an interrupted epoch commit is
    finished when no training holds the run.
    """
    from scvae.training.checkpoints import load_checkpoint, load_weights
    from scvae.training.lock import settle_run

    settle_run(run)
    path = version_checkpoint(run, version)
    if not path.is_file():
        return None
    advice = EVALUATION_ADVICE
    state = load_checkpoint(path, map_location=device, advice=advice)
    load_weights(module, state, path, advice)
    module.to(device).eval()
    return TrainedModel(module, version, int(state["epoch"]))


def find_run(directory: Path, training: TrainingConfig, wanted: RunIdentity, log=print) -> Path:
    """The run an evaluation with these data and options uses (the one training chose).

    Candidates are the model folder's own run and its automatic runs (``--run-id``: that
    run only). A run must match the data, every data and model option and, when given,
    the seed; of several, the learning rate and minibatch size choose, then the model
    folder's own run. A run of an earlier version (no record) is taken as matching.

    Raises
    ------
    ModelNotFound
        When no candidate exists, or none matches (naming what differs).
    """
    if training.run_id is not None:
        candidates = [run_directory(directory, training.run_id)]
    else:
        candidates = [directory, *runs_in(directory)]
    existing = [run for run in candidates if (run / CONFIG_NAME).is_file()]
    if not existing:
        raise ModelNotFound(
            "Model not found; train it first with the same data and model options. "
            f'The model directory resulting from the model specification is: "{candidates[0]}"'
        )
    matching, closest = [], None
    for run in existing:
        saved = read_identity(run)
        if saved is None:
            log(LEGACY_NOTE.format(run=run))
            return run
        found = differences(saved, wanted, training=False)
        if not found:
            matching.append((run, saved))
        elif closest is None or len(found) < len(closest[1]):
            closest = (run, found)
    if not matching:
        assert closest is not None
        run, found = closest
        others = [f"--run-id {path.name[4:]}" for path in existing if path != directory]
        choose = f" ({', '.join(others)})" if others else ""
        raise ModelNotFound(
            f'no run in "{directory}" was trained with these data and options; the closest, '
            f'"{run}", differs: {describe_differences(found)}; give the training command\'s '
            f"options, --run-id ID{choose}, or --model-directory RUN"
        )
    return _pick(matching, directory, wanted, log)


def _pick(matching: list, directory: Path, wanted: RunIdentity, log) -> Path:
    """One of the matching runs; a note when the choice is not fully determined."""
    if len(matching) > 1:  # the training options decide, as they decided in training
        same = [item for item in matching if not training_differences(item[1], wanted)]
        matching = same or matching
    run, saved = next((item for item in matching if item[0] == directory), matching[0])
    if len(matching) > 1:
        others = ", ".join(path.name[4:] for path, _ in matching if path != run)
        log(
            f'Note: evaluating the run in "{run}"; other runs match these options too '
            f"(--run-id {others}); give --seed or --run-id to choose one."
        )
    elif training_differences(saved, wanted):  # the only run, trained otherwise
        log(
            f'Note: evaluating the run in "{run}", trained with '
            f"{describe_differences(training_differences(saved, wanted))}."
        )
    return run


def model_directory_configs(
    run: Path, data: DataConfig, training: TrainingConfig
) -> tuple[RunConfigs, str]:
    """The saved configurations of ``run`` for ``--model-directory``, and its data input.

    The data folder given on the command line (``-D``, when it is not the default)
    replaces the saved one; the device, threads and minibatch size are the command's.
    """
    saved = read_run_configs(run)
    data_config = saved.data
    if data.data_directory != DataConfig().data_directory:
        data_config = data_config.replace(data_directory=data.data_directory)
    training_config = saved.training.replace(
        device=training.device, threads=training.threads, minibatch_size=training.minibatch_size
    )
    return RunConfigs(data_config, saved.model, training_config), read_model_facts(run).data_set


def check_evaluated_data(run: Path, data: DataIdentity, log=print) -> None:
    """Note (once) when ``--model-directory`` evaluates other data than the run's."""
    saved = read_identity(run)
    if saved is not None and (saved.data.input, saved.data.shape) != (data.input, data.shape):
        log(
            f'Note: the run in "{run}" was trained on {saved.data.describe()}; evaluating it '
            f"on {data.describe()}."
        )


def identity_of(
    input_file_or_name: str,
    shape: tuple[int, int],
    data: DataConfig,
    model: ModelConfig,
    training: TrainingConfig,
) -> RunIdentity:
    """The identity an evaluation asks for (the seed only when given)."""
    return run_identity(
        data_identity(input_file_or_name, shape), data, model, training, training.seed
    )
