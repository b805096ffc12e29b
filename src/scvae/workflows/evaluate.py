"""Evaluation: find the trained model, evaluate each model version, write the results.

The model is found either from the same data/model options as training (as in scVAE)
or from its run folder alone (``--model-directory``), whose ``config.json`` and
``model.json`` rebuild it without repeating options. For each version (end of
training, best, early stopping) the evaluation set is evaluated, the model sampled,
the clusters predicted, and the analyses write the files, figures and report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from scvae.analyses.evaluation import ANNDATA_NAME, analyse_results
from scvae.analyses.exports import (
    CLUSTER_KEY,
    LATENT_KEY,
    PROBABILITIES_KEY,
    CellResults,
    write_anndata,
    write_into_h5ad,
)
from scvae.analyses.model import analyse_model
from scvae.config import AnalysisConfig, DataConfig, EvaluationConfig, ModelConfig, TrainingConfig
from scvae.data.data_set import DataSet
from scvae.errors import ConfigError
from scvae.evaluation.evaluate import (
    Evaluation,
    evaluate_module,
    latent_means,
    latent_minibatch_size,
    sample_model,
)
from scvae.evaluation.metrics import prediction_metrics
from scvae.evaluation.predict import canonical_method, kmeans_clusters, predict
from scvae.evaluation.restore import (
    ModelNotFound,
    TrainedModel,
    check_data_fits,
    check_evaluated_data,
    check_model_size,
    find_run,
    identity_of,
    load_version,
    model_directory_configs,
    read_model_facts,
    resolve_versions,
)
from scvae.folders import (
    analyses_folder,
    corrected_batches,
    data_path,
    features_mapped,
    model_directory,
    version_folder_name,
)
from scvae.models.build import ModelFacts, build_module_from, samples_for
from scvae.models.naming import model_name
from scvae.runs import data_identity
from scvae.runtime import keep_freed_memory, resolve_device
from scvae.workflows.data_sets import (
    labelled,
    load_data_set,
    mixture_components,
    named_subsets,
)

#: at most this many examples are reconstructed for the statistics and plots
RECONSTRUCTION_LIMIT = 10_000
#: ... and of those, the plots keep dense reconstructions of at most this many values
#: (examples x features; 10,000 examples up to 5,000 features, 1,785 at 27,998)
RECONSTRUCTION_VALUES = 50_000_000
PROFILE_SEED = 80
PROFILES_PER_CLASS = 3
PROFILES_UNLABELLED = 25
#: per-cell columns of ``scvae.h5ad`` besides the GMVAE's clusters
KMEANS_KEY = "scvae_kmeans_cluster"
SUBSET_KEY = "scvae_set"
REPORT_NAME = "index.html"
#: the data set name a model trained on an in-memory AnnData records (scvae.VAE/GMVAE)
IN_MEMORY_ANNDATA = "anndata"


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
        log,
    )
    versions = resolve_versions(evaluation_config.model_versions)
    analyse_model(context.run, context.analyses_folder, context.analysis, context.model)
    log(_results_header(context, versions))
    module = _build(context)
    context.module = module
    device = resolve_device(context.training.device)
    folders, results = [], []
    for group in version_groups(context.run, versions, module, device):
        trained = load_version(context.run, group[0], module, device)
        if len(group) > 1:
            log(_same_versions_line(group, trained.epoch))
        folder, cells = evaluate_version(
            context, trained, progress=progress, log=log, versions=group
        )
        folders.append(folder)
        results.append((trained, cells))
    if not folders:
        raise ModelNotFound(f'no checkpoint of the asked model versions in "{context.run}"')
    target = getattr(evaluation_config, "write_into", None)
    if target:
        trained, cells = results[0]
        write_into_h5ad(target, target, cells)
        log(
            f"Wrote the {trained.version.replace('_', ' ')} results (epoch {trained.epoch}) "
            f'for all cells into "{target}"'
        )
    return folders


def version_groups(
    run: Path, versions: list[str], module: torch.nn.Module, device
) -> list[list[str]]:
    """The asked model versions that exist, those with identical parameters in one group.

    The best model and the early-stopping model are often the model at the end of
    training (the same epoch, the same weights); each group is evaluated once, under its
    first version's name.
    """
    groups: list[tuple[int, dict[str, torch.Tensor], list[str]]] = []
    for version in versions:
        trained = load_version(run, version, module, device)
        if trained is None:
            continue
        state = {name: value.detach().clone() for name, value in module.state_dict().items()}
        for epoch, saved, group in groups:
            if epoch == trained.epoch and _same_state(saved, state):
                group.append(version)
                break
        else:
            groups.append((trained.epoch, state, [version]))
    return [group for _, _, group in groups]


def _same_state(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> bool:
    return first.keys() == second.keys() and all(
        torch.equal(first[name], second[name]) for name in first
    )


def _same_versions_line(group: list[str], epoch: int) -> str:
    """E.g. "Best model and early stopping are the same model as the end of training
    (epoch 60): evaluated once"."""
    names = [version.replace("_", " ") for version in group]
    others = " and ".join(names[1:]).capitalize()
    verb = "are" if len(names) > 2 else "is"
    return f"{others} {verb} the same model as the {names[0]} (epoch {epoch}): evaluated once."


def _context(
    input_file_or_name, data_config, model_config, training_config, evaluation, analysis, log=print
) -> EvaluationContext:
    if evaluation.model_directory:
        run = Path(evaluation.model_directory)
        saved, saved_input = model_directory_configs(run, data_config, training_config)
        data_config, model_config, training_config = saved.data, saved.model, saved.training
        if not input_file_or_name and saved_input == IN_MEMORY_ANNDATA:
            raise ConfigError(
                f'the model in "{run}" was trained in Python on an in-memory AnnData; give '
                "its .h5ad file as DATA"
            )
        input_file_or_name = input_file_or_name or saved_input
    if not input_file_or_name:
        raise ConfigError("give the data set (DATA) or --model-directory")
    data_set = load_data_set(
        data_config,
        input_file_or_name,
        reconstruction_distribution=model_config.reconstruction_distribution,
    )
    sets = named_subsets(data_set, data_config)
    mapped = features_mapped(data_config, data_set)
    path = data_path(
        data_set.name, data_config, data_set.split_indices is not None, features_mapped=mapped
    )
    shape = (data_set.number_of_examples, data_set.number_of_features)
    wanted = identity_of(input_file_or_name, shape, data_config, model_config, training_config)
    if not evaluation.model_directory:
        k = mixture_components(model_config, sets.get("training", sets["full"]))
        batches = corrected_batches(model_config, data_set)
        directory = model_directory(path, model_config, training_config, k, batches)
        run = find_run(directory, training_config, wanted, log)  # the run training chose
    else:
        check_evaluated_data(run, wanted.data, log)
    facts = _facts(run)
    check_data_fits(facts, data_set.number_of_features, run)
    check_model_size(model_config, facts, run)  # before anything is allocated
    name = model_name(model_config, facts.number_of_classes, facts.number_of_batches)
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
    if kind not in context.sets:  # no split: the whole data set is evaluated
        kind = "full"
    names = [version.replace("_", " ") for version in versions]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    lines = ["Results", f"Evaluation set: {kind} set.", f"Model versions: {listed}."]
    method = context.evaluation.prediction_method
    if method:
        if canonical_method(method) == "kmeans":
            k = _kmeans_clusters_wanted(context, pick_set(context, kind))
        else:
            k = context.facts.number_of_classes
        lines.append(f"Prediction method: {method}.")
        lines.append(f"Number of clusters: {k}.")
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


def dense_rows(rows: np.ndarray, features: int, seed: int = 0) -> np.ndarray:
    """``rows``, or a seeded subset of them whose dense reconstructions (``rows x
    features``) hold at most :data:`RECONSTRUCTION_VALUES` values (at least one row)."""
    limit = max(RECONSTRUCTION_VALUES // max(int(features), 1), 1)
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) <= limit:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, limit, replace=False))


# ------------------------------------------------------ one model version
def version_folder(context: EvaluationContext, trained: TrainedModel) -> Path:
    """``e_<epochs>[-best_model|-early_stopping]-mc_<M>-iw_<R>[/<kind> if not test]``."""
    r, m = samples_for(context.model)[1]
    folder = context.analyses_folder / version_folder_name(trained.epoch, trained.version, m, r)
    kind = context.evaluation.evaluation_set_kind
    return folder if kind == "test" else folder / kind


def evaluate_version(
    context: EvaluationContext,
    trained: TrainedModel,
    *,
    progress: bool = True,
    log=print,
    versions: list[str] | None = None,
) -> tuple[Path, CellResults]:
    """Evaluate ``trained`` and write everything; return its folder and the per-cell results.

    The metrics use the evaluation set; the latent values (and the GMVAE's clusters) go
    to ``scvae.h5ad`` for every cell of the data set. ``versions`` are the model versions
    these parameters stand for (default: ``trained.version`` alone).
    """
    kind = context.evaluation.evaluation_set_kind
    data_set = pick_set(context, kind)
    profiles = profile_rows(data_set)
    # statistics over up to 10,000 reconstructed rows, dense values of a bounded part of them
    summarised = reconstruction_rows(data_set.number_of_examples)
    kept = dense_rows(summarised, data_set.number_of_features)
    evaluation = _evaluate_set(
        context,
        trained,
        data_set,
        rows=np.union1d(kept, profiles),
        profile=profiles,
        statistics=np.union1d(summarised, profiles),
        progress=progress,
    )
    full = context.sets["full"]
    if data_set is full:
        z, y = evaluation.z, evaluation.y
    else:
        z, y = _all_latent_values(context, trained, full, progress)
    samples = _samples(context, trained, log)
    predictions, extra = _predictions(context, trained, data_set, evaluation, z)
    folder = version_folder(context, trained)
    cells = _cell_results(context, trained, folder, z, y, extra, versions or [trained.version])
    anndata_path = _write_cells(context, folder / ANNDATA_NAME, cells)
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
    log(f"AnnData with all {full.number_of_examples:,} cells: {anndata_path}")
    report = folder / REPORT_NAME
    if report.is_file():
        log(f"Report: {report}")
    return folder, cells


def _cell_results(context, trained, folder, z, y, extra, versions) -> CellResults:
    full = context.sets["full"]
    subsets = _subset_column(context)
    if subsets is not None:
        extra = {**extra, SUBSET_KEY: subsets}
    uns = {
        "model_type": context.model.model_type,
        "model": context.model.to_dict(),
        "training": context.training.to_dict(),
        "data": context.data.to_dict(),
        "number_of_classes": context.facts.number_of_classes,
        "number_of_batches": context.facts.number_of_batches,
        "seed": context.facts.seed,
        "run": str(Path(context.run).resolve()),
        "results": str(Path(folder).resolve()),
        "model_version": trained.version,
        "model_versions": list(versions),
        "epoch": trained.epoch,
        "metrics_set": context.evaluation.evaluation_set_kind,
        "data_fingerprint": data_fingerprint(full),
        "keys": {
            "latent": f"obsm/{LATENT_KEY}",
            **({"clusters": f"obs/{CLUSTER_KEY}"} if y is not None else {}),
            **({"probabilities": f"obsm/{PROBABILITIES_KEY}"} if y is not None else {}),
            **{name: f"obs/{name}" for name in extra},
        },
    }
    return CellResults(full.example_names, z, y, obs=extra, uns=uns)


def _write_cells(context: EvaluationContext, path: Path, cells: CellResults) -> Path:
    """The user's own AnnData with the results (an h5ad input), else a new one."""
    full = context.sets["full"]
    source = h5ad_input(full)
    if source is not None:
        return write_into_h5ad(source, path, cells)
    return write_anndata(
        path, full, cells, label_key=context.data.label_key, batch_key=context.data.batch_key
    )


def h5ad_input(data_set: DataSet) -> Path | None:
    """The ``.h5ad`` file a data set was read from (``None`` for other inputs)."""
    path = Path(data_set.input)
    named = data_set.data_format in ("h5ad", "anndata") or (
        data_set.data_format in (None, "infer") and path.suffix.lower() == ".h5ad"
    )
    return path if named and path.is_file() else None


def data_fingerprint(data_set: DataSet) -> dict:
    """What identifies the data (as a run records it): absolute path, total bytes and
    latest modification time (ns) of its files, and (examples, features)."""
    identity = data_identity(
        data_set.input, (data_set.number_of_examples, data_set.number_of_features)
    )
    return {
        "input": identity.input,
        "bytes": identity.size,
        "modified_ns": None if identity.modified is None else str(identity.modified),
        "examples": identity.shape[0],
        "features": identity.shape[1],
    }


def _subset_column(context: EvaluationContext) -> np.ndarray | None:
    """Each cell's subset (training, validation, test) when the data are split."""
    full = context.sets["full"]
    if len(context.sets) == 1:
        return None
    index = pd.Index(np.asarray(full.example_names).astype(str))
    if not index.is_unique:
        return None
    column = np.full(full.number_of_examples, "", dtype=object)
    for kind, subset in context.sets.items():
        if kind != "full":
            column[index.get_indexer(np.asarray(subset.example_names).astype(str))] = kind
    return column


def _evaluate_set(
    context,
    trained: TrainedModel,
    data_set,
    *,
    rows=None,
    profile=None,
    statistics=None,
    progress=False,
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
        statistics_rows=statistics,
        progress=progress,
        description=f"Evaluating {trained.version.replace('_', ' ')}",
    )


def _all_latent_values(
    context, trained: TrainedModel, data_set, progress: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Latent means (and q(y|x)) of every cell, for ``scvae.h5ad``: the encoder alone, in
    minibatches of about 8 M input values (no draws, so their size changes nothing)."""
    source = labelled(data_set, context.model, context.facts).source
    size = latent_minibatch_size(data_set.number_of_features, context.training.minibatch_size)
    return latent_means(
        trained.module,
        source,
        minibatch_size=size,
        device=next(trained.module.parameters()).device,
        progress=progress,
        description=f"Latent values of all {data_set.number_of_examples:,} cells",
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


def _predictions(
    context, trained: TrainedModel, data_set, evaluation: Evaluation, all_z: np.ndarray
) -> tuple[list, dict[str, np.ndarray]]:
    """The GMVAE's own clusters (always) and k-means on latent means (with ``-P kmeans``).

    Returns the predictions of the evaluation set with their metrics, and the per-cell
    columns for every cell of the data set (k-means clusters).
    """
    labels = data_set.labels
    common = {
        "labels": labels,
        "superset_labels": data_set.superset_labels,
        "excluded_classes": tuple(data_set.excluded_classes),
    }
    predictions, columns = [], {}
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
            training_z = _all_latent_values(context, trained, pick_set(context, training_kind))[0]
        n = len(evaluation.z)
        ids = kmeans_clusters(
            training_z, np.concatenate([evaluation.z, all_z]), k, seed=context.facts.seed
        )
        predictions.append(
            predict(
                "kmeans", ids[:n], number_of_clusters=k, training_set_kind=training_kind, **common
            )
        )
        columns[KMEANS_KEY] = ids[n:]
    pairs = [(prediction, _metrics(prediction, data_set, evaluation)) for prediction in predictions]
    return pairs, columns


def _kmeans_clusters_wanted(context, data_set) -> int:
    if context.model.number_of_classes is None and not data_set.has_labels:
        raise ConfigError("k-means needs a number of clusters for unlabelled data: give -K")
    return mixture_components(context.model, data_set)


def _metrics(prediction, data_set, evaluation: Evaluation) -> dict:
    return prediction_metrics(prediction, data_set, evaluation.z)
