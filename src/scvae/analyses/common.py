"""Helpers shared by the data analyses and the model-version figures.

Colourings of examples (labels, batches, predictions, count sums, features), a
decomposition written as a table plus one scatter plot per colouring, the figure
saver of an analysis configuration, and file-name-safe tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from scvae import progress
from scvae.analyses.decompositions import Decomposition, decompose
from scvae.analyses.exports import write_table
from scvae.analyses.metrics import count_sums
from scvae.analyses.titles import capitalised, decomposition_title, prediction_name
from scvae.data.matrix import as_matrix
from scvae.plotting import plot_scatter, save_figure

if TYPE_CHECKING:
    from scvae.config import AnalysisConfig

#: the extensive level draws per-class figures up to this many classes
EXTENSIVE_CLASSES = 10
#: what :func:`log_normalised` values are called in figure titles
LOG_NORMALISED = "log-normalised counts"


def median_total(values) -> float:
    """The median total of the examples with any counts (1 when none has)."""
    totals = np.asarray(values.sum(axis=1), dtype=np.float64).ravel()
    positive = totals[totals > 0]
    return float(np.median(positive)) if positive.size else 1.0


def log_normalised(values, target: float | None = None):
    """``log(1 + x * m / n)``: every example scaled to the total ``m``, then ``log1p``.

    ``m`` is ``target``, else the median total (:func:`median_total`); ``n`` is the
    example's own total. Without it the first components of counts mostly follow each
    example's total count (its sequencing depth). Examples with no counts stay zero.
    Sparse values stay sparse (CSR); dense ones give a dense ``float32`` array.
    """
    target = median_total(values) if target is None else target
    totals = np.asarray(values.sum(axis=1), dtype=np.float64).ravel()
    scale = np.divide(target, totals, out=np.zeros_like(totals), where=totals > 0)
    if sp.issparse(values):
        return sp.csr_matrix(sp.diags(scale) @ sp.csr_matrix(values, dtype=np.float64)).log1p()
    dense = np.array(values, dtype=np.float32)  # the one copy; the rest is in place
    np.clip(dense, 0.0, None, out=dense)
    dense *= scale[:, None].astype(np.float32)
    return np.log1p(dense, out=dense)


def saver(
    analysis: AnalysisConfig, on_save: Callable[[Path], None] | None = None
) -> Callable[[Any, Path], Path]:
    """``save(figure, path)``: saves a figure (also in publication sizes when asked).

    ``on_save(path)`` is called after each figure (e.g. :func:`drawing`'s progress).
    """
    publication = "publication" in analysis.export_options

    def save(figure, path: Path) -> Path:
        saved = save_figure(figure, path, publication=publication)
        if on_save is not None:
            on_save(saved)
        return saved

    return save


@contextmanager
def drawing(description: str) -> Iterator[Callable[[Path], None]]:
    """A progress line while figures are drawn: how many so far, the last one, the time.

    Yields the ``on_save`` callback of :func:`saver`. Drawn only where
    :func:`scvae.progress.wanted` allows (a terminal, not ``--quiet``).
    """
    with progress.bar(
        total=None, desc=description, leave=False,
        bar_format="{desc}: {n_fmt} figures drawn [{elapsed}]{postfix}",
    ) as bar:  # fmt: skip

        def step(path: Path) -> None:
            bar.set_postfix_str(path.name, refresh=False)
            bar.update()

        yield step


def token(value) -> str:
    """A file-name-safe version of a label or name."""
    text = str(value).strip().replace(" ", "_").replace("/", "_")
    return (
        "".join(character for character in text if character.isalnum() or character in "_.+-")[:80]
        or "_"
    )


def colourings(data_set, rows, predictions, analysis: AnalysisConfig) -> dict[str, dict]:
    """Suffix -> keyword arguments of :func:`plot_scatter` for the examples at ``rows``.

    Count sums and highlighted features are read in chunks, so backed values stay on disk.
    """
    palette = data_set.class_palette
    terms = data_set.terms
    class_term = capitalised(terms.get("class", "class"))
    found: dict[str, dict] = {"": {}}
    if data_set.labels is not None:
        labels = np.asarray(data_set.labels)[rows]
        found["-labels"] = {"labels": labels, "palette": palette, "legend_title": class_term}
        classes = data_set.class_names or []
        if analysis.analysis_level == "extensive" and len(classes) <= EXTENSIVE_CLASSES:
            for name in classes:  # one figure per class, the others in grey
                found[f"-class-{token(name)}"] = {
                    "labels": labels,
                    "palette": palette,
                    "highlight": name,
                    "legend_title": class_term,
                }
    if data_set.superset_labels is not None:
        superset = np.asarray(data_set.superset_labels)[rows]
        found["-superset_labels"] = {
            "labels": superset,
            "legend_title": f"{class_term} (superset)",
        }
        names = sorted({str(name) for name in superset})
        if analysis.analysis_level == "extensive" and len(names) <= EXTENSIVE_CLASSES:
            for name in names:  # one figure per superset class, the others in grey
                found[f"-superset_class-{token(name)}"] = {
                    "labels": superset,
                    "highlight": name,
                    "legend_title": f"{class_term} (superset)",
                }
    if data_set.batch_indices is not None:
        found["-batches"] = {"labels": batch_labels(data_set, rows), "legend_title": "Batch"}
    for prediction, _ in predictions:
        spec, method = prediction.specification, prediction_name(prediction.method)
        found[f"-predicted_cluster_ids-{spec}"] = {
            "labels": prediction.cluster_ids[rows].astype(str),
            "legend_title": f"Cluster ({method})",
        }
        if prediction.labels is not None:
            found[f"-predicted_labels-{spec}"] = {
                "labels": np.asarray(prediction.labels)[rows],
                "palette": palette,
                "legend_title": f"Predicted {terms.get('class', 'class')} ({method})",
            }
        if prediction.superset_labels is not None:
            found[f"-predicted_superset_labels-{spec}"] = {
                "labels": np.asarray(prediction.superset_labels)[rows],
                "legend_title": f"Predicted {terms.get('class', 'class')} (superset, {method})",
            }
    sums = count_sums(data_set.values)[rows]
    found["-count_sum"] = {
        "colour_values": sums,
        "colour_label": f"Total {terms.get('type', 'count')}s per {terms.get('example', 'example')}",
        "log_colours": bool(sums.min(initial=0) > 0),
    }
    features = [
        index
        for index in analysis.highlight_feature_indices
        if 0 <= index < data_set.number_of_features
    ]
    columns = feature_values(data_set.values, features)[rows]
    for column, index in enumerate(features):
        found[f"-feature-{token(data_set.feature_names[index])}"] = {
            "colour_values": columns[:, column],
            "colour_label": str(data_set.feature_names[index]),
        }
    return found


def batch_labels(data_set, rows) -> np.ndarray:
    """The batch of each example at ``rows``: its name when the data name batches."""
    indices = np.asarray(data_set.batch_indices)[rows]
    names = getattr(data_set, "batch_names", None)
    if names is not None and len(names) and indices.size and 0 <= indices.min():
        if indices.max() < len(names):
            return np.asarray(names, dtype=object)[indices].astype(str)
    return indices.astype(str)


def feature_values(values, indices: Sequence[int]) -> np.ndarray:
    """The values of the features at ``indices`` for every example, ``(N, k)``, in chunks."""
    result = np.zeros((values.shape[0], len(indices)))
    if len(indices):
        for positions, chunk in as_matrix(values).iter_chunks():
            result[positions] = chunk[:, list(indices)].toarray()
    return result


def decomposition_set(
    folder: Path,
    name: str,
    values,
    example_names,
    method: str,
    colourings: dict,
    save,
    *,
    samples=None,
    centroids=None,
    input_note: str | None = None,
) -> list[Path]:
    """Decompose ``values``; write its table (and samples' overlay) and one plot per colouring.

    Titles are human (``Latent space (PCA)``); ``input_note`` says what was decomposed
    when it is not the values as they are (``log-normalised counts``).
    """
    decomposition = _decompose_with_progress(values, method, name)
    if decomposition is None:
        return []
    written = [
        write_table(
            folder / f"{name}-{decomposition.method}.tsv.gz",
            decomposition.values,
            example_names,
            decomposition.columns,
        )
    ]
    overlay = decomposition.transform(samples) if samples is not None else None
    if overlay is not None:
        written.append(
            write_table(
                folder / f"{name}-{decomposition.method}-samples.tsv.gz",
                overlay,
                [f"sample {i + 1}" for i in range(len(overlay))],
                decomposition.columns,
            )
        )
    projected_centroids = _project_centroids(decomposition, centroids)
    for suffix, options in colourings.items():
        figure = plot_scatter(
            decomposition.values,
            axis_labels=decomposition.columns,
            samples=overlay,
            title=decomposition_title(name, decomposition.method, input_note),
            **projected_centroids,
            **options,
        )
        written.append(save(figure, folder / f"{name}-{decomposition.method}{suffix}.png"))
    return written


def _project_centroids(decomposition: Decomposition, centroids) -> dict:
    if centroids is None or decomposition.method != "pca" or decomposition.model is None:
        return {}
    _, means, covariances = centroids
    components = getattr(decomposition.model, "components_", None)
    if components is None or len(means) < 2:
        return {}
    projected = decomposition.model.transform(means)
    covariances = np.einsum("il,klm,jm->kij", components, covariances, components)
    return {"centroids": projected, "centroid_covariances": covariances}


def _decompose_with_progress(values, method: str, name: str):
    """Decompose, with a progress bar for the slow methods (t-SNE, UMAP) on large sets."""
    slow = method.lower().replace("-", "").replace("_", "") in ("tsne", "umap")
    with progress.bar(
        total=1, desc=f"{method} of {name}", enabled=slow and values.shape[0] >= 2000, leave=False
    ) as bar:
        decomposition = decompose(values, method)
        bar.update()
    return decomposition
