"""Evaluation: find the trained model, evaluate each model version, write the results.

The model is found either from the same data/model options as training (as in scVAE)
or from its run folder alone (``--model-directory``), whose ``config.json`` and
``model.json`` rebuild it without repeating options. For each version (end of
training, best, early stopping) the evaluation set is evaluated, the model sampled,
the clusters predicted, and the analyses write the files, figures and report.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from scvae.analyses.evaluation import analyse_results
from scvae.analyses.model import analyse_model
from scvae.config import AnalysisConfig, DataConfig, EvaluationConfig, ModelConfig, TrainingConfig
from scvae.data.data_set import DataSet
from scvae.errors import ConfigError
from scvae.evaluation.evaluate import Evaluation, evaluate_module, sample_model
from scvae.evaluation.metrics import excluded_superset_classes, prediction_metrics
from scvae.evaluation.predict import canonical_method, kmeans_clusters, predict
from scvae.evaluation.restore import (
    ModelNotFound,
    TrainedModel,
    check_data_fits,
    check_model_size,
    load_version,
    read_model_facts,
    read_run_configs,
    resolve_versions,
)
from scvae.folders import (
    CONFIG_NAME,
    analyses_folder,
    data_path,
    model_directory,
    run_directory,
    version_folder_name,
)
from scvae.models.build import ModelFacts, build_module_from, samples_for
from scvae.models.naming import model_name
from scvae.runtime import keep_freed_memory, resolve_device
from scvae.workflows.data_sets import labelled, load_data_set, mixture_components, named_subsets

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
    facts: ModelFacts
    sets: dict[str, DataSet]
    data_path: str
    analyses_folder: Path
    module: torch.nn.Module | None = None


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
    analyse_model(context.run, context.analyses_folder, context.analysis, context.model)
    log(_results_header(context, versions))
    module = _build(context)
    context.module = module
    folders = []
    for version in versions:
        trained = load_version(
            context.run, version, module, resolve_device(context.training.device)
        )
        if trained is None:
            continue
        folders.append(evaluate_version(context, trained, progress=progress, log=log))
    if not folders:
        raise ModelNotFound(f'no checkpoint of the asked model versions in "{context.run}"')
    return folders


def _context(
    input_file_or_name, data_config, model_config, training_config, evaluation, analysis
) -> EvaluationContext:
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
    sets = named_subsets(data_set, data_config)
    path = data_path(data_set.name, data_config, data_set.split_indices is not None)
    if not evaluation.model_directory:
        k = mixture_components(model_config, sets.get("training", sets["full"]))
        directory = model_directory(path, model_config, training_config, k)
        run = run_directory(directory, training_config.run_id)
        if not (run / CONFIG_NAME).is_file():
            raise ModelNotFound(
                "Model not found; train it first with the same data and model options. "
                f'The model directory resulting from the model specification is: "{run}"'
            )
    facts = _facts(run)
    check_data_fits(facts, data_set.number_of_features, run)
    check_model_size(model_config, facts, run)  # before anything is allocated
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


def _facts(run: Path) -> ModelFacts:
    return read_model_facts(run)


def _build(context: EvaluationContext) -> torch.nn.Module:
    if context.training.threads:
        torch.set_num_threads(context.training.threads)
    keep_freed_memory()
    return build_module_from(context.model, context.facts)


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


# ------------------------------------------------------------ the rows kept
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


# ------------------------------------------------------ one model version
def version_folder(context: EvaluationContext, trained: TrainedModel) -> Path:
    """``e_<epochs>[-best_model|-early_stopping]-mc_<M>-iw_<R>[/<kind> if not test]``."""
    r, m = samples_for(context.model)[1]
    folder = context.analyses_folder / version_folder_name(trained.epoch, trained.version, m, r)
    kind = context.evaluation.evaluation_set_kind
    return folder if kind == "test" else folder / kind


def evaluate_version(
    context: EvaluationContext, trained: TrainedModel, *, progress: bool = True, log=print
) -> Path:
    """Evaluate ``trained`` on the evaluation set and write everything; return its folder."""
    kind = context.evaluation.evaluation_set_kind
    data_set = pick_set(context, kind)
    profiles = profile_rows(data_set)
    evaluation = _evaluate_set(
        context,
        trained,
        data_set,
        rows=np.union1d(reconstruction_rows(data_set.number_of_examples), profiles),
        profile=profiles,
        progress=progress,
    )
    samples = _samples(context, trained, log)
    predictions = _predictions(context, trained, data_set, evaluation)
    folder = version_folder(context, trained)
    log(f"\n{trained.version.replace('_', ' ').capitalize()} evaluation (epoch {trained.epoch}):")
    text = analyse_results(
        folder,
        context=context,
        trained=trained,
        data_set=data_set,
        evaluation=evaluation,
        predictions=predictions,
        samples=samples,
    )
    log(text)
    for warning in evaluation.warnings:
        log(f"Warning: {warning}.")
    return folder


def _evaluate_set(
    context, trained: TrainedModel, data_set, *, rows=None, profile=None, progress=False
) -> Evaluation:
    source = labelled(data_set, context.model, context.facts).source
    return evaluate_module(
        trained.module,
        source,
        samples=samples_for(context.model)[1],
        minibatch_size=context.training.minibatch_size,
        device=next(trained.module.parameters()).device,
        reconstruction_rows=rows,
        profile_rows=profile,
        progress=progress,
        description=f"Evaluating {trained.version.replace('_', ' ')}",
    )


def _samples(context, trained: TrainedModel, log) -> dict[str, np.ndarray] | None:
    size = context.evaluation.sample_size
    if size <= 0:
        return None
    try:
        return sample_model(trained.module, size, context.training.minibatch_size)
    except NotImplementedError as error:
        log(f"Skipping sampling: {error}")
        return None


def _predictions(context, trained: TrainedModel, data_set, evaluation: Evaluation) -> list:
    """The GMVAE's own clusters (always) and k-means on latent means (with ``-P kmeans``)."""
    labels = data_set.labels
    common = {
        "labels": labels,
        "superset_labels": data_set.superset_labels,
        "excluded_classes": tuple(data_set.excluded_classes),
        "excluded_superset_classes": excluded_superset_classes(data_set),
    }
    predictions = []
    if evaluation.y is not None:
        k = evaluation.y.shape[1]
        predictions.append(predict("model", evaluation.cluster_ids, number_of_clusters=k, **common))
    method = context.evaluation.prediction_method
    if method and canonical_method(method) == "kmeans":
        training_kind = context.evaluation.prediction_training_set_kind
        k = _kmeans_clusters_wanted(context, data_set)
        if training_kind == context.evaluation.evaluation_set_kind:
            training_z = evaluation.z
        else:
            training_z = _evaluate_set(context, trained, pick_set(context, training_kind)).z
        ids = kmeans_clusters(training_z, evaluation.z, k, seed=context.facts.seed)
        predictions.append(
            predict("kmeans", ids, number_of_clusters=k, training_set_kind=training_kind, **common)
        )
    return [(prediction, _metrics(prediction, data_set, evaluation)) for prediction in predictions]


def _kmeans_clusters_wanted(context, data_set) -> int:
    if context.model.number_of_classes is None and not data_set.has_labels:
        raise ConfigError("k-means needs a number of clusters for unlabelled data: give -K")
    return mixture_components(context.model, data_set)


def _metrics(prediction, data_set, evaluation: Evaluation) -> dict:
    return prediction_metrics(prediction, data_set, evaluation.z)
