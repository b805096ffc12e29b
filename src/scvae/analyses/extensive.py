"""The analyses of ``--included-analyses all`` and of ``--analysis-level extensive`` that the
standard figures leave out.

For a data set (``scvae analyse``): heat maps (by labels and by average-linkage
clustering with a dendrogram), pairwise distance matrices, per-feature standard
deviations, image examples, and per-class count histograms at the extensive level.

For an evaluated model version (``scvae evaluate``): the same heat maps and distances of
the original, reconstructed and latent sets, feature standard deviations, latent
correlations and latent features, the posterior and covariance centroid evolution,
superset accuracies, image comparisons, and at the extensive level per-class histograms,
the reconstructions projected into the originals' decomposition, and the |difference| and
|log-ratio| statistics.

An analysis that cannot apply (images of a count matrix, predictions without a
prediction method) gives one line saying so instead of writing nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from scvae.analyses import common
from scvae.data.matrix import as_matrix, read_rows

#: heat maps and distance matrices use at most this many examples (a seeded subset)
HEAT_MAP_EXAMPLES = 1_000
#: value heat maps show at most this many features (the most variable ones)
HEAT_MAP_FEATURES = 2_000
#: heat maps of values are skipped above this many values (examples x features)
HEAT_MAP_VALUE_LIMIT = 5_000 * 25_000
DISTANCE_METRICS = ("euclidean", "cosine")
SUBSET_SEED = 57
#: latent correlations: this many most correlated pairs, a pair grid up to this many variables
CORRELATED_PAIRS = 25
PAIR_GRID_LIMIT = 10
SCATTER_EXAMPLES = 2_000
IMAGE_EXAMPLES = 100
IMAGE_SEED = 13


# ------------------------------------------------------------ shared pieces
def subset(n: int, limit: int = HEAT_MAP_EXAMPLES, seed: int = SUBSET_SEED) -> np.ndarray:
    """All rows, or a seeded sorted subset of ``limit`` rows."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def feature_standard_deviations(values) -> np.ndarray:
    """Per-feature standard deviation (ddof 1) of a dense, sparse or backed matrix, in chunks."""
    if isinstance(values, np.ndarray):
        return values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1])
    matrix = as_matrix(values)
    n, f = matrix.shape
    sums, squares = np.zeros(f), np.zeros(f)
    for _, chunk in matrix.iter_chunks():
        sums += np.asarray(chunk.sum(axis=0)).ravel()
        squares += np.asarray(chunk.multiply(chunk).sum(axis=0)).ravel()
    if n < 2:
        return np.zeros(f)
    variance = (squares - sums**2 / n) / (n - 1)
    return np.sqrt(np.maximum(variance, 0.0))


#: |difference| statistics read the originals this many rows at a time
DIFFERENCE_ROWS = 256


class _DenseChunks:
    """Row blocks of a function's dense values as CSR chunks (what the chunked summary
    statistics of :mod:`scvae.data.statistics` walk); each block is computed when read."""

    def __init__(self, shape: tuple[int, int], block: Callable[[int, int], np.ndarray]) -> None:
        self.shape, self._block = shape, block

    def iter_chunks(self):
        import scipy.sparse as sp

        for start in range(0, self.shape[0], DIFFERENCE_ROWS):
            stop = min(start + DIFFERENCE_ROWS, self.shape[0])
            yield np.arange(start, stop), sp.csr_matrix(self._block(start, stop))


def difference_statistics(original, reconstruction) -> dict[str, dict[str, float]]:
    """Summary statistics of |reconstruction - original| and |log-ratio| (log(x + 1)).

    ``original`` is a matrix (sparse or dense) or a function of ``(start, stop)`` giving
    those rows of it; the differences are computed :data:`DIFFERENCE_ROWS` rows at a
    time, so no dense copy of the whole set is made.
    """
    from scvae.data.statistics import summary_statistics

    read = original if callable(original) else _row_reader(original)

    def difference(start: int, stop: int) -> np.ndarray:
        block = np.asarray(reconstruction[start:stop], dtype=np.float64)
        return np.abs(block - read(start, stop))

    def log_ratio(start: int, stop: int) -> np.ndarray:
        block = np.asarray(reconstruction[start:stop], dtype=np.float64)
        counts = read(start, stop)
        return np.abs(np.log1p(np.maximum(block, 0)) - np.log1p(np.maximum(counts, 0)))

    shape = np.shape(reconstruction)
    return {
        "|difference|": summary_statistics(_DenseChunks(shape, difference)),
        "|log-ratio|": summary_statistics(_DenseChunks(shape, log_ratio)),
    }


def _row_reader(values) -> Callable[[int, int], np.ndarray]:
    def read(start: int, stop: int) -> np.ndarray:
        block = values[start:stop]
        block = block.toarray() if hasattr(block, "toarray") else np.asarray(block)
        return block.astype(np.float64)

    return read


def extensive_statistics(analysis, chosen, data_set, evaluation) -> dict | None:
    """The |difference| and |log-ratio| rows of the metrics at the extensive level, over
    the rows with dense reconstructions (the originals read a block of rows at a time)."""
    if (
        analysis.analysis_level != "extensive"
        or "metrics" not in chosen
        or evaluation.reconstruction is None
    ):
        return None
    rows = np.asarray(evaluation.reconstruction_rows)

    def originals(start: int, stop: int) -> np.ndarray:
        return read_rows(data_set.values, rows[start:stop]).toarray().astype(np.float64)

    return difference_statistics(originals, evaluation.reconstruction)


def _dense(values) -> np.ndarray:
    return values.toarray() if hasattr(values, "toarray") else np.asarray(values, dtype=float)


def _most_variable(values: np.ndarray, limit: int = HEAT_MAP_FEATURES) -> np.ndarray:
    if values.shape[1] <= limit:
        return values
    return values[:, np.sort(np.argsort(-values.var(axis=0))[:limit])]


def heat_maps_and_distances(
    folder: Path,
    name: str,
    values,
    labels,
    palette,
    save: Callable,
    *,
    heat_maps: bool,
    distances: bool,
    by_labels: bool = True,
    log: bool = True,
) -> list[Path]:
    """``heat_maps/heat_maps-<name>-{labels,<metric>-hierarchical_clustering}.png`` and
    ``distances/distances-<name>-<metric>-{labels,hierarchical_clustering}.png``."""
    from scipy.spatial.distance import pdist, squareform

    from scvae.plotting import plot_heat_map
    from scvae.plotting.extensive import hierarchical_order, plot_clustered_heat_map

    values = _dense(values)
    if len(values) < 3 or values.size > HEAT_MAP_VALUE_LIMIT:
        return []
    shown = _most_variable(values)
    labels = None if labels is None else np.asarray(labels).astype(str)
    by_label = np.argsort(labels, kind="stable") if labels is not None else None
    log = log and bool((values >= 0).all())
    written = []
    if heat_maps and by_labels and by_label is not None:
        figure = plot_heat_map(
            shown[by_label], row_classes=labels[by_label], palette=palette, log=log,
            annotate=False, x_label="Features", y_label="Examples",
        )  # fmt: skip
        written.append(save(figure, folder / "heat_maps" / f"heat_maps-{name}-labels.png"))
    for metric in DISTANCE_METRICS:
        order, tree = hierarchical_order(values, metric)
        stem = f"{name}-{metric}-hierarchical_clustering"
        if heat_maps:
            figure = plot_clustered_heat_map(
                shown, tree, row_classes=labels, palette=palette, log=log, x_label="Features"
            )
            written.append(save(figure, folder / "heat_maps" / f"heat_maps-{stem}.png"))
        if not distances:
            continue
        matrix = np.nan_to_num(squareform(pdist(values, metric=metric)))
        orders = {"hierarchical_clustering": order}
        if by_label is not None:
            orders["labels"] = by_label
        for kind, rows in orders.items():
            figure = plot_heat_map(
                matrix[np.ix_(rows, rows)],
                row_classes=None if labels is None else labels[rows],
                palette=palette,
                annotate=False,
                colour_label=f"{metric.capitalize()} distance",
            )
            path = folder / "distances" / f"distances-{name}-{metric}-{kind}.png"
            written.append(save(figure, path))
    return written


def standard_deviation_figures(folder: Path, name: str, values, save) -> list[Path]:
    """``feature_value_standard_deviations/feature_value_standard_deviations-<name>-{sorted,histogram}.png``."""
    from scvae.plotting import plot_histogram, plot_sorted_values

    deviations = feature_standard_deviations(values)
    target = folder / "feature_value_standard_deviations"
    stem = f"feature_value_standard_deviations-{name}"
    return [
        save(
            plot_sorted_values(deviations, y_label="Standard deviation"),
            target / f"{stem}-sorted.png",
        ),
        save(
            plot_histogram(deviations, discrete=False, x_label="Standard deviation"),
            target / f"{stem}-histogram.png",
        ),
    ]


def image_shape(data_set) -> tuple[int, ...] | None:
    """The image shape of image data (``None`` for other data)."""
    if getattr(data_set, "example_type", None) != "images":
        return None
    shape = (getattr(data_set, "specifications", None) or {}).get("feature dimensions")
    if not shape:
        side = int(round(np.sqrt(data_set.number_of_features)))
        shape = (side, side) if side * side == data_set.number_of_features else None
    return tuple(int(size) for size in shape) if shape else None


def asked_for(name: str, analysis) -> bool:
    """Whether ``name`` was asked for by name or through ``all``: the default groups include
    ``images`` and ``predictions``, which say nothing when they do not apply."""
    return name in analysis.included_analyses or "all" in analysis.included_analyses


def not_images_line(data_set) -> str:
    kind = getattr(data_set, "example_type", "unknown")
    return f"images: not drawn; the data are not images (example type: {kind})"


def class_histograms(folder: Path, stem: str, values, labels, classes, save) -> list[Path]:
    """One count and one count-sum histogram per class (``histograms-classes/``)."""
    from scvae.plotting import plot_histogram

    labels = np.asarray(labels).astype(str)
    written = []
    for name in classes:
        rows = np.flatnonzero(labels == str(name))
        if not len(rows):
            continue
        chunk = values[rows] if isinstance(values, np.ndarray) else read_rows(values, rows)
        dense = _dense(chunk)
        part = common.token(name)
        written.append(
            save(
                plot_histogram(dense.ravel(), x_label="Counts", title=str(name)),
                folder / f"histogram-normed-counts-{stem}{part}.png",
            )
        )
        written.append(
            save(
                plot_histogram(
                    dense.sum(axis=1), log_y=False, x_label="Count sum", title=str(name)
                ),
                folder / f"histogram-normed-count_sum-{stem}{part}.png",
            )
        )
    return written


# -------------------------------------------------------------- data sets
def extensive_data(data_sets, directory: str | Path, analysis, chosen) -> list[Path]:
    """The ``all`` and extensive analyses of ``scvae analyse``; return the files written."""
    directory = Path(directory)
    save = common.saver(analysis)
    written: list[Path] = []
    for data_set in data_sets:
        kind = data_set.kind
        rows = subset(data_set.number_of_examples)
        labels = None if data_set.labels is None else np.asarray(data_set.labels)[rows]
        if "heat_maps" in chosen or "distances" in chosen:
            written += heat_maps_and_distances(
                directory, f"{kind}-original", read_rows(data_set.values, rows), labels,
                data_set.class_palette, save,
                heat_maps="heat_maps" in chosen, distances="distances" in chosen,
            )  # fmt: skip
        if "feature_value_standard_deviations" in chosen:
            written += standard_deviation_figures(directory, kind, data_set.values, save)
        if "images" in chosen:
            written += _image_examples(directory, data_set, analysis, save)
        classes = data_set.class_names or []
        if (
            "distributions" in chosen
            and analysis.analysis_level == "extensive"
            and data_set.labels is not None
            and len(classes) <= common.EXTENSIVE_CLASSES
        ):
            written += class_histograms(
                directory / "histograms-classes", f"{kind}-", data_set.values,
                data_set.labels, classes, save,
            )  # fmt: skip
    return written


def _image_examples(directory: Path, data_set, analysis, save) -> list[Path]:
    from scvae.plotting.extensive import plot_images

    shape = image_shape(data_set)
    if shape is None:
        if data_set.kind == "full" and asked_for("images", analysis):
            print(not_images_line(data_set))
        return []
    rows = np.sort(
        np.random.RandomState(IMAGE_SEED).permutation(data_set.number_of_examples)[:IMAGE_EXAMPLES]
    )
    images = read_rows(data_set.values, rows).toarray()
    figure = plot_images(images, shape)
    return [save(figure, directory / f"image_examples-{data_set.kind}.png")]


# ----------------------------------------------------------- model versions
def extensive_results(
    folder: str | Path, *, chosen, context, data_set, evaluation, predictions
) -> str:
    """The ``all`` and extensive analyses of one evaluated version.

    Returns the lines to print (an analysis that does not apply says so), or ``""``.
    """
    folder = Path(folder)
    analysis = context.analysis
    save = common.saver(analysis)
    notes: list[str] = []
    written: list[Path] = []
    rows = evaluation.reconstruction_rows
    labels = None if data_set.labels is None else np.asarray(data_set.labels).astype(str)
    palette = data_set.class_palette
    if evaluation.reconstruction is not None and ("heat_maps" in chosen or "distances" in chosen):
        picked = subset(len(rows))
        sets = {
            "original": read_rows(data_set.values, rows[picked]),
            "reconstructed": evaluation.reconstruction[picked],
            "latent-z": evaluation.z[rows[picked]],
        }
        for name, values in sets.items():
            written += heat_maps_and_distances(
                folder, name, values, None if labels is None else labels[rows[picked]], palette,
                save, heat_maps="heat_maps" in chosen, distances="distances" in chosen,
                by_labels=name == "reconstructed", log=name != "latent-z",
            )  # fmt: skip
    if "feature_value_standard_deviations" in chosen and evaluation.reconstruction is not None:
        written += standard_deviation_figures(
            folder, "original", read_rows(data_set.values, rows), save
        )
        written += standard_deviation_figures(
            folder, "reconstructed", evaluation.reconstruction, save
        )
    if "latent_correlations" in chosen:
        written += _latent_correlations(folder, evaluation, labels, palette, save)
    if "latent_features" in chosen:
        written += _latent_features(folder, evaluation, labels, palette, save)
    if "latent_distributions" in chosen:
        written += _centroid_evolution(folder / "centroids_evolution", context.run, save)
    if "accuracies" in chosen:
        written += _superset_accuracies(folder, context.run, save)
    if "images" in chosen:
        shape = image_shape(data_set)
        if shape is None:
            if asked_for("images", analysis):
                notes.append(not_images_line(data_set))
        elif evaluation.reconstruction is not None:
            written += _image_comparisons(folder, data_set, evaluation, shape, save)
    if "predictions" in chosen and not predictions and asked_for("predictions", analysis):
        notes.append("predictions: none to write; the model has no clusters (give -P kmeans)")
    notes += _missing(folder, chosen, evaluation)
    if analysis.analysis_level == "extensive" and evaluation.reconstruction is not None:
        written += _extensive_level(folder, chosen, context, data_set, evaluation, predictions)
    return "\n".join(notes)


#: analysis name -> (a file it writes, why it can be missing)
_EXPECTED = {
    "kl_heat_maps": (
        "kl_divergence_evolution.png",
        "no KL per latent dimension is recorded for this model (the GMVAE has none)",
    ),
    "accuracies": (
        "accuracies.png",
        "the model has no clusters of its own (a VAE), or the data have no labels",
    ),
    "latent_distributions": (
        "centroids_evolution",
        "the model has no mixture components (a VAE)",
    ),
    "latent_correlations": ("latent_correlations", "the latent space has one dimension"),
}


def _missing(folder: Path, chosen, evaluation) -> list[str]:
    """One line for each chosen analysis that wrote nothing, saying why."""
    return [
        f"{name}: not drawn; {reason}"
        for name, (written, reason) in _EXPECTED.items()
        if name in chosen and not (folder / written).exists()
    ]


def _extensive_level(folder, chosen, context, data_set, evaluation, predictions) -> list[Path]:
    save = common.saver(context.analysis)
    rows = evaluation.reconstruction_rows
    written: list[Path] = []
    classes = data_set.class_names or []
    if (
        "distributions" in chosen
        and data_set.labels is not None
        and len(classes) <= common.EXTENSIVE_CLASSES
    ):
        labels = np.asarray(data_set.labels).astype(str)[rows]
        written += class_histograms(
            folder / "histograms-classes", "", evaluation.reconstruction, labels, classes, save
        )
    if "decompositions" in chosen:
        written += _reconstructed_originals(folder, context, data_set, evaluation, predictions)
    return written


def _reconstructed_originals(folder, context, data_set, evaluation, predictions) -> list[Path]:
    """Reconstructions projected into the decomposition of the originals."""
    from scvae.analyses.decompositions import decompose
    from scvae.analyses.exports import write_table
    from scvae.plotting import plot_scatter

    save = common.saver(context.analysis)
    rows = evaluation.reconstruction_rows
    original = read_rows(data_set.values, rows)
    names = np.asarray(data_set.example_names)[rows]
    colourings = common.colourings(data_set, rows, predictions, context.analysis)
    target = folder / "reconstructed-originals"
    written = []
    for method in context.analysis.decomposition_methods:
        decomposition = decompose(original, method)
        projected = None if decomposition is None else decomposition.transform(
            evaluation.reconstruction
        )  # fmt: skip
        if projected is None:  # t-SNE cannot place other values
            continue
        stem = f"reconstructed-originals-{decomposition.method}"
        written.append(
            write_table(target / f"{stem}.tsv.gz", projected, names, decomposition.columns)
        )
        for suffix, options in colourings.items():
            figure = plot_scatter(
                projected, axis_labels=decomposition.columns,
                title=f"reconstructions in the originals' {decomposition.method}", **options,
            )  # fmt: skip
            written.append(save(figure, target / f"{stem}{suffix}.png"))
    return written


def _latent_correlations(folder: Path, evaluation, labels, palette, save) -> list[Path]:
    from scvae.plotting import plot_heat_map
    from scvae.plotting.extensive import plot_pair_grid, plot_pairs, plot_values_by_class

    target = folder / "latent_correlations"
    written = []
    shown = subset(len(evaluation.z), SCATTER_EXAMPLES)
    for variable, values in (("z", evaluation.z), ("y", evaluation.y)):
        if values is None or values.shape[1] < 2:
            continue
        names = [f"{variable} {i + 1}" for i in range(values.shape[1])]
        with np.errstate(invalid="ignore", divide="ignore"):
            correlation = np.nan_to_num(np.corrcoef(values, rowvar=False))
        figure = plot_heat_map(
            correlation, row_labels=names, column_labels=names, centre=0.0,
            colour_label="Pearson r",
        )  # fmt: skip
        written.append(save(figure, target / f"latent_correlation_matrix-{variable}.png"))
        upper = np.triu_indices(len(names), k=1)
        strongest = np.argsort(-np.abs(correlation[upper]), kind="stable")[:CORRELATED_PAIRS]
        pairs = [
            (values[shown, i], values[shown, j], names[i], names[j], correlation[i, j])
            for i, j in zip(upper[0][strongest], upper[1][strongest], strict=True)
        ]
        point_labels = None if labels is None else labels[shown]
        figure = plot_pairs(pairs, labels=point_labels, palette=palette)
        written.append(save(figure, target / f"latent_correlations-{variable}-most_correlated.png"))
        if len(names) <= PAIR_GRID_LIMIT:
            figure = plot_pair_grid(values[shown], names, labels=point_labels, palette=palette)
            written.append(save(figure, target / f"latent_pairs-{variable}.png"))
        if labels is not None:
            figure = plot_values_by_class(values[:, :20], names[:20], labels, palette=palette)
            written.append(save(figure, target / f"latent_label_correlations-{variable}.png"))
    return written


def primary_dimensions(z: np.ndarray, kl_neurons) -> np.ndarray:
    """The latent dimensions in order of importance: highest KL first (highest variance
    when the KL per dimension is not known)."""
    if kl_neurons is not None and len(np.ravel(kl_neurons)) == z.shape[1]:
        return np.argsort(-np.ravel(kl_neurons), kind="stable")
    return np.argsort(-z.var(axis=0), kind="stable")


def _latent_features(folder: Path, evaluation, labels, palette, save) -> list[Path]:
    from scvae.plotting import plot_histogram, plot_scatter
    from scvae.plotting.extensive import plot_values_by_class

    z = evaluation.z
    order = primary_dimensions(z, evaluation.kl_neurons)
    names = [f"z {i + 1}" for i in order[:2]]
    target = folder / "latent_features"
    written = []
    if z.shape[1] >= 2:
        figure = plot_scatter(
            z[:, order[:2]], labels=labels, palette=palette, axis_labels=names,
            title="Primary latent features",
        )  # fmt: skip
        written.append(save(figure, target / "latent_features-pair-none-labels.png"))
    if labels is not None:
        figure = plot_values_by_class(z[:, order[:1]], names[:1], labels, palette=palette)
    else:
        figure = plot_histogram(z[:, order[0]], discrete=False, log_y=False, x_label=names[0])
    written.append(save(figure, target / "latent_factor-labels.png"))
    return written


def _centroid_evolution(folder: Path, run, save) -> list[Path]:
    """Posterior centroids, and the prior's and posterior's covariance, over the epochs."""
    from scvae.plotting import plot_centroid_evolution
    from scvae.training.records import read_records

    records = read_records(run)
    epochs = records.get("epoch")
    written = []
    for side in ("prior", "posterior"):
        weights = records.get(f"{side}_weights")
        means = records.get(f"{side}_means")
        covariances = records.get(f"{side}_covariances")
        if side == "posterior" and weights is not None:
            figure = plot_centroid_evolution(
                weights, epochs=epochs, quantity="Posterior probability"
            )
            written.append(save(figure, folder / f"centroids_evolution-{side}-probabilities.png"))
        if side == "posterior" and means is not None and means.shape[1] > 1:
            figure = plot_centroid_evolution(_projected(means))
            written.append(save(figure, folder / f"centroids_evolution-{side}-means.png"))
        if covariances is not None:
            spread = np.trace(covariances, axis1=-2, axis2=-1) / covariances.shape[-1]
            figure = plot_centroid_evolution(
                spread, epochs=epochs, quantity="Mean variance (trace / L)"
            )
            name = f"centroids_evolution-{side}-covariance_matrices.png"
            written.append(save(figure, folder / name))
    return written


def _projected(means: np.ndarray) -> np.ndarray:
    """``(E, K, L)`` means in 2-D (PCA over all epochs when L > 2)."""
    flat = means.reshape(-1, means.shape[-1])
    if flat.shape[1] > 2:
        from sklearn.decomposition import PCA

        flat = PCA(2).fit_transform(flat)
    return flat[:, :2].reshape(means.shape[0], means.shape[1], 2)


def _superset_accuracies(folder: Path, run, save) -> list[Path]:
    import pandas as pd

    from scvae.folders import CURVES_NAME
    from scvae.plotting import plot_accuracies

    path = Path(run) / CURVES_NAME
    if not path.is_file():
        return []
    curves = pd.read_csv(path)
    column = "superset_accuracy"
    if column not in curves or curves[column].isna().all():
        return []
    figure = plot_accuracies(curves, column=column, title="Superset accuracy")
    return [save(figure, folder / "accuracies-superset.png")]


def _image_comparisons(folder: Path, data_set, evaluation, shape, save) -> list[Path]:
    from scvae.plotting.extensive import plot_images

    rows = evaluation.reconstruction_rows
    written = [
        save(
            plot_images(evaluation.reconstruction[:IMAGE_EXAMPLES], shape),
            folder / "image_examples-reconstructed.png",
        )
    ]
    position = {int(row): index for index, row in enumerate(rows)}
    for row in evaluation.profile_rows:
        if int(row) not in position:
            continue
        original = read_rows(data_set.values, [int(row)]).toarray()[0]
        pair = np.stack([original, evaluation.reconstruction[position[int(row)]]])
        figure = plot_images(pair, shape, titles=["original", "reconstruction"])
        name = common.token(data_set.example_names[row])
        written.append(save(figure, folder / "image_comparisons" / f"image_comparison-{name}.png"))
    return written
