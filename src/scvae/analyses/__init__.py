"""Analyses: pure functions that write files and return the paths written.

The package exports the three functions of scVAE's Python API with their documented
signatures: :func:`analyse_data`, :func:`analyse_model` and
:func:`analyse_intermediate_results`. The modules below do the work (``data``,
``model``, ``evaluation``, ...); these functions only translate the arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["analyse_data", "analyse_intermediate_results", "analyse_model"]

DEFAULT_DIRECTORY = "analyses"


def _analysis_config(analyses_directory, **options: Any):
    """An :class:`~scvae.config.AnalysisConfig` from keyword arguments (unknown ones refused)."""
    import dataclasses

    from scvae.config import AnalysisConfig

    names = {field.name for field in dataclasses.fields(AnalysisConfig)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise TypeError(f"unexpected analysis arguments: {', '.join(unknown)}")
    given = {
        name: (value,) if isinstance(value, (str, int)) and name != "analysis_level" else value
        for name, value in options.items()
        if value is not None
    }
    given = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items()}
    return AnalysisConfig(analyses_directory=str(analyses_directory), **given)


def analyse_data(
    data_sets,
    decomposition_methods: str | Sequence[str] | None = None,
    highlight_feature_indices: int | Sequence[int] | None = None,
    analyses_directory: str | Path | None = None,
    **kwargs: Any,
) -> list[Path]:
    """Analyse data sets and save results and plots in ``<analyses_directory>/data/``.

    Parameters
    ----------
    data_sets
        A :class:`~scvae.data.DataSet` or a list of them (the full set first, then its
        subsets).
    decomposition_methods
        Method(s) used to decompose the values: ``"PCA"``, ``"SVD"``, ``"ICA"``, ``"t-SNE"``.
    highlight_feature_indices
        Index or indices of features to colour the decompositions by.
    analyses_directory
        Where to save the analyses (default ``analyses``).
    **kwargs
        Other analysis options: ``included_analyses``, ``analysis_level``, ``export_options``.

    Returns
    -------
    list of Path
        The files written.
    """
    from scvae.analyses.data import analyse_data as run

    if not isinstance(data_sets, (list, tuple)):
        data_sets = [data_sets]
    directory = Path(analyses_directory or DEFAULT_DIRECTORY)
    config = _analysis_config(
        directory,
        decomposition_methods=decomposition_methods,
        highlight_feature_indices=highlight_feature_indices,
        **kwargs,
    )
    return run(list(data_sets), directory / "data", config)


def _run_folder(model, run_id: str | None) -> Path:
    from scvae.folders import run_directory

    if run_id:
        return run_directory(model.log_directory, run_id)
    return Path(getattr(model, "_run", None) or model.log_directory)


def analyse_model(
    model, run_id: str | None = None, analyses_directory: str | Path | None = None, **kwargs: Any
) -> list[Path]:
    """Analyse a trained model and save its learning curves.

    Parameters
    ----------
    model
        A trained :class:`scvae.VariationalAutoencoder` or
        :class:`scvae.GaussianMixtureVariationalAutoencoder`.
    run_id
        The run to analyse (default: the model's last run, else its folder).
    analyses_directory
        Where to save the analyses (default ``analyses``); the figures go to
        ``<analyses_directory>/<model name>[/run_<ID>]/e_<epochs>/``.
    **kwargs
        Other analysis options: ``included_analyses``, ``export_options``, ...

    Returns
    -------
    list of Path
        The files written (none when the model has not been trained).
    """
    from scvae.analyses.model import analyse_model as run

    directory = Path(analyses_directory or DEFAULT_DIRECTORY)
    run_folder = _run_folder(model, run_id)
    folder = directory / model.name
    if run_folder.name.startswith("run_"):
        folder = folder / run_folder.name
    return run(run_folder, folder, _analysis_config(directory, **kwargs), model.config)


def analyse_intermediate_results(
    epoch: int,
    learning_curves=None,
    epoch_start: int | None = None,
    model_type: str | None = None,
    latent_values=None,
    data_set=None,
    centroids: Mapping | None = None,
    model_name: str | None = None,
    run_id: str | None = None,
    analyses_directory: str | Path | None = None,
) -> list[Path]:
    """Plot the learning curves and the latent space at a training epoch.

    Parameters
    ----------
    epoch
        The epoch (1-based) the values belong to.
    learning_curves
        A table with ``epoch``, ``set`` and term columns (``learning_curves.csv``), or
        scVAE's ``{"training": {"lower_bound": [...], ...}, "validation": {...}}``.
    epoch_start
        The first epoch of this training session; earlier epochs are left out of the curves.
    model_type
        ``"VAE"`` or ``"GMVAE"`` (the title of the figures).
    latent_values
        ``(N, L)`` posterior means (a PCA projects them to 2-D when L > 2).
    data_set
        The data set of the latent values, for label colours.
    centroids
        ``{"prior": {"probabilities": ..., "means": ..., "covariance_matrices": ...}}``
        of a mixture prior (drawn on the latent space; probabilities as bars).
    model_name, run_id, analyses_directory
        The figures go to ``<analyses_directory>/<model_name>[/run_<ID>]/intermediate/``.

    Returns
    -------
    list of Path
        The files written.
    """
    from scvae.plotting import save_figure

    folder = Path(analyses_directory or DEFAULT_DIRECTORY)
    folder = folder / model_name if model_name else folder
    folder = (folder / f"run_{run_id}" if run_id else folder) / "intermediate"
    title = f"{model_type or 'Model'}, epoch {epoch}"
    figures = {}
    curves = _curves_table(learning_curves)
    if curves is not None and epoch_start is not None:
        curves = curves[curves["epoch"] >= epoch_start]
    if curves is not None and len(curves):
        from scvae.plotting import plot_learning_curves

        figures["learning_curves.png"] = plot_learning_curves(curves, title=title)
    prior = dict((centroids or {}).get("prior") or {})
    if latent_values is not None:
        figures.update(_latent_figures(epoch, latent_values, data_set, prior, title))
    if prior.get("probabilities") is not None:
        from scvae.plotting import plot_mixture_probabilities

        figures[f"probabilities-epoch_{epoch}-prior.png"] = plot_mixture_probabilities(
            prior["probabilities"], title=f"Prior, epoch {epoch}"
        )
    return [save_figure(figure, folder / name) for name, figure in figures.items()]


def _curves_table(learning_curves):
    """A ``learning_curves.csv``-like table from a DataFrame or scVAE's nested dictionary."""
    import pandas as pd

    if learning_curves is None:
        return None
    if isinstance(learning_curves, pd.DataFrame):
        return learning_curves
    rows = []
    for set_name, terms in learning_curves.items():
        lengths = [len(values) for values in terms.values() if values is not None]
        for index in range(max(lengths, default=0)):
            row = {"epoch": index + 1, "set": set_name}
            for term, values in terms.items():
                if values is not None and index < len(values):
                    row[term] = float(values[index])
            rows.append(row)
    return pd.DataFrame(rows) if rows else None


def _latent_figures(epoch, latent_values, data_set, prior, title) -> dict:
    import numpy as np

    from scvae.plotting import plot_scatter

    raw = getattr(latent_values, "values", latent_values)  # an array or a DataSet
    values = np.asarray(raw.toarray() if hasattr(raw, "toarray") else raw, dtype=float)
    method, points, extra = "none", values, {}
    means = prior.get("means")
    if values.shape[1] > 2:
        from sklearn.decomposition import PCA

        pca = PCA(2).fit(values)
        method, points = "pca", pca.transform(values)
        if means is not None and len(means) > 1:
            extra["centroids"] = pca.transform(np.asarray(means, dtype=float))
    elif means is not None and len(means) > 1:
        extra["centroids"] = np.asarray(means, dtype=float)[:, :2]
    stem = f"latent_space-epoch-{epoch}-{method}"
    figures = {f"{stem}.png": plot_scatter(points, title=title, **extra)}
    labels = getattr(data_set, "labels", None)
    if labels is not None and len(labels) == len(points):
        figures[f"{stem}-labels.png"] = plot_scatter(
            points, labels=labels, palette=data_set.class_palette, title=title, **extra
        )
    superset = getattr(data_set, "superset_labels", None)
    if superset is not None and len(superset) == len(points):
        figures[f"{stem}-superset_labels.png"] = plot_scatter(
            points, labels=superset, title=title, **extra
        )
    return figures
