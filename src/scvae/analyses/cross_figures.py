"""The figures of ``scvae cross-analyse``: correlations, ELBO heat maps, model metrics
and metric sets of one data set's evaluated models."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from scvae.analyses.cross_tables import (
    CLUSTERING,
    TERMS,
    CrossAnalysisConfig,
    _option_title,
    _raw_options,
    _safe,
    correlations,
    describe_model,
)


def plotted(points: pd.DataFrame, config: CrossAnalysisConfig) -> pd.DataFrame:
    """The rows the figures show.

    Models whose options beyond those every model shares are at most the
    ``--extra-model-specification-for-plots`` one; with
    ``--no-prediction-methods-for-gmvae-in-plots`` a GMVAE's own clusters only.
    """
    options = {model: _raw_options(model) for model in points["model"].unique()}
    kinds = {model: model.split("/")[0] for model in options}
    common = {  # the options every model of a type shares
        kind: set.intersection(*(o for m, o in options.items() if kinds[m] == kind))
        for kind in set(kinds.values())
    }
    extra = config.extra_model_specification_for_plots
    allowed = {extra.lower()} if extra else set()

    def keep(model: str) -> bool:
        beyond = options[model] - common[kinds[model]]
        return all(t.lower() in allowed or _option_title(t).lower() in allowed for t in beyond)

    rows = points[points["model"].map(keep)]
    if config.no_prediction_methods_for_gmvae_in_plots:
        gmvae = rows["model"].str.startswith("GMVAE/")
        rows = rows[~gmvae | rows["method"].str.startswith("model")]
    return rows


def figures(
    folder: Path,
    data_set: str,
    points: pd.DataFrame,
    others: dict[str, dict[str, float]],
    config: CrossAnalysisConfig,
) -> list[Path]:
    """Correlation, ELBO heat map, model metric and metric set figures of one data set."""
    from scvae.plotting import plot_heat_map, save_figure
    from scvae.plotting.cross import plot_metric_correlations, plot_metric_sets, plot_model_metrics

    publication = "publication" in config.export_options
    part = data_set.replace("/", "-")
    written = []

    def save(figure, name: str) -> None:
        written.append(save_figure(figure, folder / name, publication=publication))

    clustered = points.dropna(subset=list(CLUSTERING.values()), how="all")
    if not clustered.empty:
        figure = plot_metric_correlations(
            clustered["ELBO"],
            {t: clustered[t] for t in CLUSTERING.values()},
            correlations(clustered),
            title=data_set,
        )
        save(figure, f"correlations-{part}.png")
    shown = plotted(points, config)
    if shown.empty:
        return written
    first = shown.drop_duplicates(["model", "run", "version"])
    if (first["version"] == "EOT").any():  # one version per run: the end of training
        first = first[first["version"] == "EOT"]
    described = pd.DataFrame([describe_model(m) for m in first["model"]], index=first.index)
    first = pd.concat([first, described], axis=1)
    for (kind, likelihood), group in first.groupby(["type", "likelihood"], sort=False):
        if group["model"].nunique() < 2:
            continue
        sizes = group["sizes"].str.rsplit("×", n=1, expand=True).reindex(columns=[0, 1])
        grid = group.assign(hidden=sizes[0].fillna("none"), latent=sizes[1].fillna(sizes[0]))
        table = grid.pivot_table(index="latent", columns="hidden", values="ELBO", aggfunc="mean")
        figure = plot_heat_map(
            table, x_label="Hidden sizes", y_label="Latent size", colour_label="ELBO"
        )
        save(figure, f"ELBO_heat_map-{part}-{_safe(kind)}-{_safe(likelihood)}.png")
    for title in TERMS.values():
        values = first.dropna(subset=[title])
        if values.empty:
            continue
        table = (
            values.groupby(["likelihood", "type"], sort=False)[title]
            .agg(mean="mean", sd="std")
            .reset_index()
        )
        save(plot_model_metrics(table, title, title=data_set), f"model_metrics-{part}-{title}.png")
    baseline_values = {
        t: {name: metrics.get(t) for name, metrics in others.items()} for t in CLUSTERING.values()
    }
    shown = shown.assign(likelihood=[describe_model(m)["likelihood"] for m in shown["model"]])
    for title in CLUSTERING.values():
        values = shown.dropna(subset=["ELBO", title])
        if values.empty and not others:
            continue
        figure = plot_metric_sets(
            values, "ELBO", title, baselines=baseline_values[title], title=data_set
        )
        save(figure, f"model_metric_sets-{part}-ELBO-{title}.png")
    return written
