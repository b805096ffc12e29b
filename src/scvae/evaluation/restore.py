"""Rebuild a trained model from its run folder (``config.json``, ``model.json``, checkpoints)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from scvae.config import DataConfig, ModelConfig, TrainingConfig, load_configs
from scvae.errors import ConfigError, ScvaeError
from scvae.folders import CONFIG_NAME, VERSION_FOLDERS, version_checkpoint

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
    try:
        configs = load_configs(path)
    except (ValueError, TypeError, KeyError) as error:
        raise ModelNotFound(f'"{path}" is not a valid model configuration ({error})') from error
    return RunConfigs(configs["data"], configs["model"], configs["training"])


@dataclass
class TrainedModel:
    """A module restored at one model version."""

    module: torch.nn.Module
    version: str
    epoch: int


def load_version(
    run: str | Path, version: str, module: torch.nn.Module, device: torch.device
) -> TrainedModel | None:
    """Load the ``version`` checkpoint of ``run`` into ``module``; ``None`` if it is missing."""
    from scvae.training.checkpoints import load_checkpoint

    path = version_checkpoint(run, version)
    if not path.is_file():
        return None
    state = load_checkpoint(path, map_location=device)
    module.load_state_dict(state["model"])
    module.to(device).eval()
    return TrainedModel(module, version, int(state["epoch"]))
