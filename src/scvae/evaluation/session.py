"""An evaluation session: find the trained model, evaluate each version, write the results.

The model is found either from the same data/model options as training (as in scVAE)
or from its run folder alone (``--model-directory``), whose ``config.json`` and
``model.json`` rebuild it without repeating options.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from scvae.config import AnalysisConfig, DataConfig, EvaluationConfig, ModelConfig, TrainingConfig
from scvae.data.data_set import DataSet
from scvae.errors import ConfigError
from scvae.evaluation.restore import ModelNotFound, load_version, read_run_configs, resolve_versions

#: at most this many examples keep a dense reconstruction (for plots and statistics)
RECONSTRUCTION_LIMIT = 10_000
PROFILE_SEED = 80
PROFILES_PER_CLASS = 3
PROFILES_UNLABELLED = 25


@dataclass
class EvaluationContext:
    """Everything that is fixed across model versions."""

    run: Path
    data: DataConfig
    model: ModelConfig
    training: TrainingConfig
    evaluation: EvaluationConfig
    analysis: AnalysisConfig
    facts: object
    sets: dict[str, DataSet]
    data_path: str
    analyses_folder: Path
    module: object | None = None


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
    """Evaluate a trained model and analyse the results; return the result folders."""
    from scvae.evaluation.versions import evaluate_version

    evaluation_config = evaluation_config or EvaluationConfig()
    analysis_config = analysis_config or AnalysisConfig()
    context = _context(
        input_file_or_name,
        data_config or DataConfig(),
        model_config or ModelConfig(),
        training_config or TrainingConfig(),
        evaluation_config,
        analysis_config,
    )
    versions = resolve_versions(evaluation_config.model_versions)
    _model_analyses(context, log)
    log(_results_header(context, versions))
    module = _build(context)
    context.module = module
    folders = []
    for version in versions:
        trained = load_version(context.run, version, module, _device(context))
        if trained is None:
            continue
        folders.append(evaluate_version(context, trained, progress=progress, log=log))
    if not folders:
        raise ModelNotFound(f'no checkpoint of the asked model versions in "{context.run}"')
    return folders


def _context(
    input_file_or_name, data_config, model_config, training_config, evaluation, analysis
) -> EvaluationContext:
    from scvae.api import load_data_set, split_data_set
    from scvae.folders import CONFIG_NAME, data_path, model_directory, run_directory
    from scvae.training.session import number_of_classes

    if evaluation.model_directory:
        run = Path(evaluation.model_directory)
        saved = read_run_configs(run)
        data_config, model_config = saved.data, saved.model
        training_config = replace(
            saved.training,
            device=training_config.device,
            threads=training_config.threads,
            minibatch_size=training_config.minibatch_size,
        )
        input_file_or_name = input_file_or_name or _facts(run).data_set
    if not input_file_or_name:
        raise ConfigError("give the data set (DATA) or --model-directory")
    data_set = load_data_set(
        data_config,
        input_file_or_name,
        reconstruction_distribution=model_config.reconstruction_distribution,
    )
    subsets = split_data_set(data_set, data_config)
    sets = {"full": subsets[0]}
    if len(subsets) > 1:
        sets.update(zip(("training", "validation", "test"), subsets[1:], strict=False))
    path = data_path(data_set.name, data_config, data_set.split_indices is not None)
    if not evaluation.model_directory:
        k = number_of_classes(model_config, sets.get("training", sets["full"]))
        directory = model_directory(path, model_config, training_config, k)
        run = run_directory(directory, training_config.run_id)
        if not (run / CONFIG_NAME).is_file():
            raise ModelNotFound(
                "Model not found; train it first with the same data and model options. "
                f'The model directory resulting from the model specification is: "{run}"'
            )
    facts = _facts(run)
    from scvae.folders import analyses_folder
    from scvae.models.naming import model_name

    name = model_name(model_config, facts.number_of_classes)
    folder = analyses_folder(analysis.analyses_directory, path, name, run)
    return EvaluationContext(
        run,
        data_config,
        model_config,
        training_config,
        evaluation,
        analysis,
        facts,
        sets,
        path,
        folder,
    )


def _facts(run: Path):
    from scvae.folders import MODEL_FACTS
    from scvae.training.session import ModelFacts

    path = run / MODEL_FACTS
    if not path.is_file():
        raise ModelNotFound(f'no trained model in "{run}" (it has no {MODEL_FACTS})')
    return ModelFacts.from_dict(json.loads(path.read_text()))


def _build(context: EvaluationContext):
    import torch

    from scvae.runtime import keep_freed_memory
    from scvae.training.session import build_module_from

    if context.training.threads:
        torch.set_num_threads(context.training.threads)
    keep_freed_memory()
    return build_module_from(context.model, context.facts)


def _device(context: EvaluationContext):
    from scvae.runtime import resolve_device

    return resolve_device(context.training.device)


def pick_set(context: EvaluationContext, kind: str) -> DataSet:
    """The subset of that kind (the full set when the data are not split)."""
    if kind == "full" or kind not in context.sets:
        return context.sets["full"]
    return context.sets[kind]


def profile_rows(data_set: DataSet, seed: int = PROFILE_SEED) -> np.ndarray:
    """Up to three examples per class (or 25 random ones without labels), sorted."""
    rng = np.random.RandomState(seed)
    n = data_set.number_of_examples
    if data_set.labels is None:
        return np.sort(rng.choice(n, size=min(PROFILES_UNLABELLED, n), replace=False))
    labels = np.asarray(data_set.labels).astype(str)
    chosen = []
    for name in data_set.class_names:
        members = np.flatnonzero(labels == name)
        chosen.extend(
            rng.choice(members, size=min(PROFILES_PER_CLASS, len(members)), replace=False)
        )
    return np.sort(np.asarray(chosen, dtype=np.int64))


def reconstruction_rows(n: int, seed: int = 0) -> np.ndarray:
    """All rows, or a seeded subset of :data:`RECONSTRUCTION_LIMIT` for large sets."""
    if n <= RECONSTRUCTION_LIMIT:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, RECONSTRUCTION_LIMIT, replace=False))


def _model_analyses(context: EvaluationContext, log) -> None:
    from scvae.analyses.model import analyse_model

    analyse_model(context.run, context.analyses_folder, context.analysis, context.model)


def _results_header(context: EvaluationContext, versions: list[str]) -> str:
    kind = context.evaluation.evaluation_set_kind
    names = [version.replace("_", " ") for version in versions]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    lines = ["Results", f"Evaluation set: {kind} set.", f"Model versions: {listed}."]
    if context.evaluation.prediction_method:
        lines.append(f"Prediction method: {context.evaluation.prediction_method}.")
        lines.append(
            f"Prediction training set: {context.evaluation.prediction_training_set_kind} set."
        )
    return "\n".join(lines)
