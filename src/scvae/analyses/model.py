"""Model analyses, once per trained model: the learning curves of its run."""

from __future__ import annotations

from pathlib import Path

from scvae.analyses.selection import included_analyses
from scvae.config import AnalysisConfig, ModelConfig


def analyse_model(
    run: str | Path, folder: str | Path, analysis: AnalysisConfig, model: ModelConfig
) -> list[Path]:
    """Plot the run's learning curves into ``folder/e_<epochs>/``; return the files written."""
    import pandas as pd

    from scvae.folders import CURVES_NAME

    chosen = included_analyses(analysis.included_analyses)
    curves_path = Path(run) / CURVES_NAME
    if "learning_curves" not in chosen or not curves_path.is_file():
        return []
    curves = pd.read_csv(curves_path)
    if curves.empty:
        return []
    target = Path(folder) / f"e_{int(curves['epoch'].max())}"
    return plot_learning_curves(curves, target, analysis, model)


def plot_learning_curves(
    curves, target: Path, analysis: AnalysisConfig, model: ModelConfig
) -> list[Path]:
    """``learning_curves.png`` plus one file per term, as the original names them."""
    from scvae.plotting import plot_learning_curves as plot
    from scvae.plotting import save_figure

    publication = "publication" in analysis.export_options
    terms = (
        ("lower_bound", "kl_divergence_z", "kl_divergence_y")
        if model.model_type == "GMVAE"
        else ("lower_bound", "kl_divergence")
    )
    written = [save_figure(plot(curves), target / "learning_curves.png", publication=publication)]
    for term in terms:
        name = "lower_bound-reconstruction_error" if term == "lower_bound" else term
        figure = plot(
            curves,
            terms=["lower_bound", "reconstruction_error"] if term == "lower_bound" else [term],
        )
        written.append(
            save_figure(figure, target / f"learning_curves-{name}.png", publication=publication)
        )
    return written
