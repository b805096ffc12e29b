"""Cross-analysis: compare every model evaluated on a test set under an analyses folder.

``scvae evaluate`` writes ``metrics.json`` into ``<analyses>/<data set>/<split>/
<processing>/<type>/<latent>/<likelihood>[/run_<ID>]/e_<N>[-best_model|-early_stopping]
-mc_<M>-iw_<R>/``. :func:`cross_analyse` finds those of the test set, keeps the ones the
include/exclude texts select, prints one comparison table per data set (mean ± sd over
runs, sorted by ELBO), the Pearson correlation of the ELBO with each clustering metric,
and draws the comparison figures (:mod:`scvae.analyses.cross_figures`) into
``<analyses>/cross_analysis/<name>/``.
"""

from __future__ import annotations

from pathlib import Path

from scvae.analyses.cross_tables import (
    CLUSTERING,
    OTHER_METHODS,
    OUTPUT_FOLDER,
    TERMS,
    CrossAnalysisConfig,
    Evaluated,
    baselines,
    comparison_table,
    correlations,
    describe_model,
    find_evaluations,
    output_name,
    points_table,
    select,
    summary,
)
from scvae.errors import ConfigError

__all__ = [
    "CLUSTERING",
    "OTHER_METHODS",
    "OUTPUT_FOLDER",
    "TERMS",
    "CrossAnalysisConfig",
    "Evaluated",
    "comparison_table",
    "correlations",
    "cross_analyse",
    "describe_model",
    "find_evaluations",
    "output_name",
    "points_table",
    "select",
]


# -------------------------------------------------------------------- main
def cross_analyse(
    analyses_directory: str | Path, config: CrossAnalysisConfig | None = None, *, log=print
) -> list[Path]:
    """Compare the test-set evaluations under ``analyses_directory``; return files written.

    Raises
    ------
    ConfigError
        When the folder does not exist or holds no test-set evaluation that the
        include/exclude texts keep.
    """
    from scvae.io import atomic_write_text

    config = config or CrossAnalysisConfig()
    root = Path(analyses_directory)
    if not root.is_dir():
        raise ConfigError(f"cross-analyse needs a folder of analyses; {str(root)!r} is not one")
    unknown = sorted(set(config.other_methods) - set(OTHER_METHODS))
    if unknown:
        raise ConfigError(
            f"unknown --other-methods {', '.join(unknown)}; choose from {', '.join(OTHER_METHODS)}"
        )
    everything = find_evaluations(root)
    if not everything:
        raise ConfigError(
            f"no test-set evaluations under {str(root)!r}; cross-analyse reads the analyses "
            "folder that `scvae evaluate` writes (-A), after evaluating the trained models"
        )
    chosen = select(everything, config)
    if not chosen:
        raise ConfigError(
            f"none of the {len(everything)} evaluations under {str(root)!r} matches the "
            "include/exclude texts and epoch cut-off"
        )
    name = output_name(config)
    folder = root / OUTPUT_FOLDER / name
    points = points_table(chosen)
    from scvae.analyses.cross_figures import figures

    texts, written = [], []
    for data_set, group in points.groupby("data_set", sort=True):
        others = baselines(root, str(data_set), config.other_methods)
        text = summary(str(data_set), group, others)
        log(text + "\n")
        texts.append(text)
        written += figures(folder, str(data_set), group, others, config)
    if config.log_summary:
        written.append(atomic_write_text(folder / f"{name}.log", "\n\n".join(texts) + "\n"))
    return written
