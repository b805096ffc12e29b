"""Written results of one evaluated model version: metrics log, ``metrics.json``, predictions."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from scvae.analyses.metrics import format_statistics_table, summary_statistics
from scvae.io import atomic_write_json, atomic_write_text

TERM_TITLES = {
    "lower_bound": "ELBO",
    "reconstruction_error": "ENRE",
    "kl_divergence": "KL",
    "kl_divergence_z": "KL_z",
    "kl_divergence_y": "KL_y",
    "log_p_library": "log P(N)",
}

METRIC_TITLES = {
    "adjusted_rand_index": "Adjusted Rand index",
    "adjusted_mutual_information": "Adjusted mutual information",
    "silhouette_score": "Silhouette score",
    "accuracy": "Accuracy",
}


def evaluation_line(
    kind: str,
    terms: dict[str, float],
    accuracy: float | None = None,
    superset_accuracy: float | None = None,
) -> str:
    """``Test set: ELBO: ..., ENRE: ..., KL: ....`` (plus accuracy for the GMVAE)."""
    parts = [
        f"{TERM_TITLES[name]}: {value:.5g}" for name, value in terms.items() if name in TERM_TITLES
    ]
    if "log_p_library" in terms and "lower_bound" in terms:
        # the ELBO bounds log p(x); without the library term it bounds log p(x | N)
        conditional = terms["lower_bound"] - terms["log_p_library"]
        parts.insert(1, f"bound given N: {conditional:.5g}")
    if accuracy is not None:
        parts.append(f"Acc: {100 * accuracy:.2f} %")
    if superset_accuracy is not None:
        parts.append(f"Acc (superset): {100 * superset_accuracy:.2f} %")
    return f"{kind.capitalize()} set: " + ", ".join(parts) + "."


#: the slots of a metric (clusters or majority-vote labels, against labels or superset)
SLOT_TITLES = {
    "": "Clusters",
    "_superset": "Clusters; superset",
    "_labels": "Labels",
    "_labels_superset": "Labels; superset",
}
ACCURACY_SLOT_TITLES = {"": "Labels", "_superset": "Superset"}


def prediction_lines(specification: str, metrics: dict[str, float | None]) -> list[str]:
    """Printed clustering metrics of one prediction, one indented line per filled slot."""
    lines = [f"Prediction {specification}:"]
    for name, title in METRIC_TITLES.items():
        slots = ACCURACY_SLOT_TITLES if name == "accuracy" else SLOT_TITLES
        filled = [
            (slot, metrics[name + key])
            for key, slot in slots.items()
            if key and metrics.get(name + key) is not None
        ]
        value = metrics.get(name)
        if not filled:
            lines.append(f"    {title}: {'n/a' if value is None else f'{value:.4f}'}")
            continue
        filled.insert(0, (slots[""], value))
        lines.append(f"    {title}:")
        lines += [f"        {slot}: {'n/a' if v is None else f'{v:.4f}'}" for slot, v in filled]
    return lines


def write_results(
    folder: str | Path,
    *,
    kind: str,
    epochs: int,
    version: str,
    terms: dict[str, float],
    predictions: Sequence[tuple[object, dict]] = (),
    original: sp.spmatrix | None = None,
    reconstruction: np.ndarray | None = None,
    extra_statistics: dict[str, dict[str, float]] | None = None,
    reconstruction_statistics: dict[str, float] | None = None,
) -> tuple[list[Path], str]:
    """Write ``<kind>-metrics.log``, ``metrics.json`` and one log per prediction.

    ``predictions`` pairs each :class:`~scvae.evaluation.predict.Prediction` with its
    clustering metrics. The reconstructions' statistics are ``reconstruction_statistics``
    when given (computed as the reconstructions were produced), else those of
    ``reconstruction``. Returns the files written and the printed summary text.
    """
    folder = Path(folder)
    timestamp = datetime.datetime.now().isoformat(timespec="seconds")
    model_accuracy = next(
        (
            metrics.get("accuracy")
            for prediction, metrics in predictions
            if prediction.method == "model"
        ),
        None,
    )
    lines = [
        f"Timestamp: {timestamp}",
        f"Model version: {version.replace('_', ' ')}",
        f"Number of epochs trained: {epochs}",
        evaluation_line(
            kind, terms, model_accuracy, _model_metric(predictions, "accuracy_superset")
        ),
    ]
    statistics = {}
    if original is not None:
        statistics["original"] = summary_statistics(original)
    if reconstruction_statistics is not None:
        statistics["reconstructed"] = dict(reconstruction_statistics)
    elif reconstruction is not None and len(reconstruction):
        statistics["reconstructed"] = summary_statistics(sp.csr_matrix(reconstruction))
    statistics.update(extra_statistics or {})  # e.g. |difference| at the extensive level
    if statistics:
        lines += ["", format_statistics_table(statistics)]
    for prediction, metrics in predictions:
        lines += ["", *prediction_lines(prediction.specification, metrics)]
    text = "\n".join(lines) + "\n"
    written = [atomic_write_text(folder / f"{kind}-metrics.log", text)]
    for prediction, metrics in predictions:
        log = [
            f"Timestamp: {timestamp}",
            f"Prediction method: {prediction.method}",
            f"Number of clusters: {prediction.number_of_clusters}",
            f"Prediction training set: {prediction.training_set_kind}",
            *prediction_lines(prediction.specification, metrics)[1:],
        ]
        path = folder / f"{kind}-prediction-{prediction.specification}.log"
        written.append(atomic_write_text(path, "\n".join(log) + "\n"))
    payload = {
        "timestamp": timestamp,
        "evaluation_set": kind,
        "model_version": version,
        "epochs_trained": epochs,
        **{name: float(value) for name, value in terms.items()},
        "statistics": statistics,
        "predictions": {
            prediction.method: {
                "specification": prediction.specification,
                "number_of_clusters": prediction.number_of_clusters,
                "training_set": prediction.training_set_kind,
                **metrics,
            }
            for prediction, metrics in predictions
        },
    }
    written.append(atomic_write_json(folder / "metrics.json", payload))
    return written, text


def _model_metric(predictions, name: str) -> float | None:
    """A metric of the GMVAE's own clusters (``None`` without them)."""
    return next((m.get(name) for p, m in predictions if p.method == "model"), None)
