"""Evaluate one model version: evaluate, sample, predict, write results (reference §4.3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scvae.errors import ConfigError
from scvae.evaluation.evaluate import Evaluation, evaluate_module, sample_model
from scvae.evaluation.metrics import clustering_metrics
from scvae.evaluation.predict import canonical_method, kmeans_clusters, predict
from scvae.evaluation.restore import TrainedModel
from scvae.folders import version_folder_name


def version_folder(context, trained: TrainedModel) -> Path:
    """``e_<epochs>[-best_model|-early_stopping]-mc_<M>-iw_<R>[/<kind> if not test]``."""
    from scvae.training.session import samples_for

    r, m = samples_for(context.model)[1]
    name = version_folder_name(trained.epoch, trained.version, m, r)
    folder = context.analyses_folder / name
    kind = context.evaluation.evaluation_set_kind
    return folder if kind == "test" else folder / kind


def _evaluate_set(
    context, trained: TrainedModel, data_set, *, rows=None, profile=None, progress=False
):
    from scvae.training.session import labelled, samples_for

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


def evaluate_version(context, trained: TrainedModel, *, progress: bool = True, log=print) -> Path:
    """Evaluate ``trained`` on the evaluation set and write everything; return its folder."""
    from scvae.evaluation.session import pick_set, profile_rows, reconstruction_rows

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
    from scvae.analyses.evaluation import analyse_results

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
    return folder


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
            from scvae.evaluation.session import pick_set

            training_z = _evaluate_set(context, trained, pick_set(context, training_kind)).z
        ids = kmeans_clusters(training_z, evaluation.z, k, seed=context.facts.seed)
        predictions.append(
            predict("kmeans", ids, number_of_clusters=k, training_set_kind=training_kind, **common)
        )
    return [(prediction, _metrics(prediction, data_set, evaluation)) for prediction in predictions]


def _kmeans_clusters_wanted(context, data_set) -> int:
    from scvae.training.session import number_of_classes

    if context.model.number_of_classes is None and not data_set.has_labels:
        raise ConfigError("k-means needs a number of clusters for unlabelled data: give -K")
    return number_of_classes(context.model, data_set)


def _metrics(prediction, data_set, evaluation: Evaluation) -> dict:
    return clustering_metrics(
        data_set.labels,
        prediction.cluster_ids,
        prediction.labels,
        evaluation.z,
        tuple(data_set.excluded_classes),
    )
