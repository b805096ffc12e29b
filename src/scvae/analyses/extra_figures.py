"""Figures of the ``all`` analysis group: accuracies, heat maps, distances, KL per dimension."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scvae.data.matrix import read_rows
from scvae.training.records import read_records

#: heat maps and distances use at most this many examples (a seeded subset)
HEAT_MAP_EXAMPLES = 1_000
#: value heat maps show at most this many features (the most variable ones)
HEAT_MAP_FEATURES = 500


def extra_figures(
    folder: Path, *, chosen, context, data_set, evaluation, predictions, save
) -> list[Path]:
    """The analyses of ``--included-analyses all`` beyond the standard ones."""
    written: list[Path] = []
    if "accuracies" in chosen:
        written += _accuracies(folder, context, save)
    rows = _subset(len(evaluation.z))
    labels = None if data_set.labels is None else np.asarray(data_set.labels).astype(str)[rows]
    if "heat_maps" in chosen:
        written += _heat_maps(
            folder / "heat_maps", data_set, evaluation, predictions, rows, labels, save
        )
    if "distances" in chosen:
        written += _distances(folder / "distances", evaluation.z[rows], labels, save)
    records = read_records(context.run)
    if "kl_heat_maps" in chosen:
        written += _kl_evolution(folder, records, evaluation, save)
    if "latent_distributions" in chosen and "prior_weights" in records:
        written += _centroid_evolution(folder / "centroids_evolution", records, save)
    return written


def _kl_evolution(folder: Path, records, evaluation, save) -> list[Path]:
    from scvae.plotting import plot_kl_heat_map

    if "kl_neurons" in records:
        figure = plot_kl_heat_map(records["kl_neurons"], epochs=records["epoch"])
    elif evaluation.kl_neurons is not None:
        figure = plot_kl_heat_map(np.atleast_2d(evaluation.kl_neurons))
    else:
        return []
    return [save(figure, folder / "kl_divergence_evolution.png")]


def _centroid_evolution(folder: Path, records, save) -> list[Path]:
    from scvae.plotting import plot_centroid_evolution

    epochs = records["epoch"]
    weights, means = records["prior_weights"], records["prior_means"]  # (E, K), (E, K, L)
    written = [
        save(
            plot_centroid_evolution(weights, epochs=epochs, quantity="Prior probability"),
            folder / "centroids_evolution-prior-probabilities.png",
        )
    ]
    if means.shape[1] > 1:
        flat = means.reshape(-1, means.shape[-1])
        if flat.shape[1] > 2:
            from sklearn.decomposition import PCA

            flat = PCA(2).fit_transform(flat)
        projected = flat[:, :2].reshape(means.shape[0], means.shape[1], 2)
        written.append(
            save(plot_centroid_evolution(projected), folder / "centroids_evolution-prior-means.png")
        )
    return written


def _subset(n: int) -> np.ndarray:
    if n <= HEAT_MAP_EXAMPLES:
        return np.arange(n)
    return np.sort(np.random.default_rng(57).choice(n, HEAT_MAP_EXAMPLES, replace=False))


def _accuracies(folder: Path, context, save) -> list[Path]:
    import pandas as pd

    from scvae.folders import CURVES_NAME
    from scvae.plotting import plot_accuracies

    path = Path(context.run) / CURVES_NAME
    if not path.is_file():
        return []
    curves = pd.read_csv(path)
    if "accuracy" not in curves or curves["accuracy"].isna().all():
        return []
    return [save(plot_accuracies(curves), folder / "accuracies.png")]


def _heat_maps(folder, data_set, evaluation, predictions, rows, labels, save) -> list[Path]:
    import pandas as pd

    from scvae.plotting import plot_heat_map

    written = []
    values = read_rows(data_set.values, rows)
    variances = np.asarray(values.power(2).mean(axis=0)).ravel() - np.square(
        np.asarray(values.mean(axis=0)).ravel()
    )
    features = np.sort(np.argsort(-variances)[:HEAT_MAP_FEATURES])
    order = np.argsort(labels, kind="stable") if labels is not None else np.arange(len(rows))
    matrix = values[:, features].toarray()[order]
    figure = plot_heat_map(
        matrix,
        row_classes=None if labels is None else labels[order],
        palette=data_set.class_palette,
        log=True,
        x_label="Features (most variable)",
        y_label="Examples",
        colour_label="Counts",
    )
    kind = "labels" if labels is not None else "unsorted"
    written.append(save(figure, folder / f"heat_maps-original-{kind}.png"))
    latent = evaluation.z[rows][order]
    figure = plot_heat_map(
        latent,
        row_classes=None if labels is None else labels[order],
        centre=0.0,
        x_label="Latent dimensions",
        y_label="Examples",
    )
    written.append(save(figure, folder / f"heat_maps-latent-z-{kind}.png"))
    if data_set.labels is not None:
        truth = np.asarray(data_set.labels).astype(str)
        for prediction, _ in predictions:
            table = pd.crosstab(
                pd.Series(truth, name="Label"), pd.Series(prediction.cluster_ids, name="Cluster")
            )
            figure = plot_heat_map(table, annotate=table.size <= 400)
            written.append(
                save(figure, folder / f"confusion-labels-{prediction.specification}.png")
            )
    return written


def _distances(folder: Path, latent: np.ndarray, labels, save) -> list[Path]:
    from scipy.spatial.distance import pdist, squareform

    from scvae.plotting import plot_distance_histogram

    written = []
    for metric in ("euclidean", "cosine"):
        distances = squareform(pdist(latent, metric=metric))
        figure = plot_distance_histogram(
            distances, labels=labels, x_label=f"{metric.capitalize()} distance"
        )
        written.append(save(figure, folder / f"distances-latent-z-{metric}.png"))
    return written
