"""Results analyses of one evaluated model version: files, figures and the HTML report."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scvae.analyses.exports import write_latent_values, write_predictions
from scvae.analyses.extensive import extensive_statistics
from scvae.analyses.results import write_results
from scvae.analyses.selection import included_analyses
from scvae.data.matrix import read_rows

ANNDATA_NAME = "scvae.h5ad"


def analyse_results(
    folder: str | Path,
    *,
    context,
    trained,
    data_set,
    evaluation,
    predictions: list,
    samples: dict[str, np.ndarray] | None = None,
) -> str:
    """Write the chosen analyses of one version into ``folder``; return the printed summary."""
    folder = Path(folder)
    chosen = included_analyses(context.analysis.included_analyses)
    kind = evaluated_kind(context.evaluation.evaluation_set_kind, data_set)
    gmvae = evaluation.y is not None
    # the statistics describe the summarised rows (up to 10,000) when the evaluation
    # streamed them, else the rows with dense reconstructions
    streamed = getattr(evaluation, "reconstruction_statistics", None)
    summarised = evaluation.statistics_rows if streamed is not None else None
    metrics = "metrics" in chosen
    original = None
    if metrics:
        rows = summarised if summarised is not None else evaluation.reconstruction_rows
        original = read_rows(data_set.values, rows)
    _, text = write_results(
        folder,
        kind=kind,
        epochs=trained.epoch,
        version=trained.version,
        terms=evaluation.terms,
        predictions=predictions,
        original=original,
        reconstruction=evaluation.reconstruction if metrics and streamed is None else None,
        reconstruction_statistics=streamed if metrics else None,
        extra_statistics=extensive_statistics(context.analysis, chosen, data_set, evaluation),
    )
    del original
    names = data_set.example_names
    if "latent_values" in chosen:
        write_latent_values(folder, names, evaluation.z, evaluation.y, gmvae)
    if "predictions" in chosen:
        for prediction, _ in predictions:
            write_predictions(folder, names, prediction, data_set.terms.get("class", "class"))
    # scvae.h5ad (every cell) is written by the evaluation workflow before this
    from scvae.analyses.figures import result_figures

    result_figures(
        folder,
        chosen=chosen,
        context=context,
        data_set=data_set,
        evaluation=evaluation,
        predictions=predictions,
        samples=samples,
    )
    from scvae.analyses.extensive import extensive_results

    notes = extensive_results(
        folder, chosen=chosen, context=context, data_set=data_set,
        evaluation=evaluation, predictions=predictions,
    )  # fmt: skip
    _report(folder, context, trained, predictions)
    return text + (notes + "\n" if notes else "")


def evaluated_kind(asked: str, data_set) -> str:
    """The kind of set really evaluated: ``full`` when the data are not split (whatever
    ``--evaluation-set-kind`` says), else the one asked for."""
    return "full" if getattr(data_set, "kind", asked) == "full" else asked


def _report(folder: Path, context, trained, predictions) -> Path | None:
    import json

    from scvae.analyses.titles import report_sections

    try:
        from scvae.report import write_report
    except ImportError:  # the report package is optional while it is being built
        return None
    metrics = json.loads((folder / "metrics.json").read_text())
    configuration = {
        "data": context.data.to_dict(),
        "model": context.model.to_dict(),
        "training": context.training.to_dict(),
        "evaluation": context.evaluation.to_dict(),
        "analysis": context.analysis.to_dict(),
        "run": str(context.run),
    }
    version = trained.version.replace("_", " ")
    name = Path(context.data_path).parts[0] if context.data_path else "data"
    title = f"scvae {context.model.model_type}: {name}, {version} (epoch {trained.epoch})"
    return write_report(
        folder,
        title=title,
        metrics=metrics,
        configuration=configuration,
        sections=report_sections(folder),
        subtitle=f"{context.data_path} · run folder {context.run}",
    )
