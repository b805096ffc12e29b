"""Data analyses: a data set (optionally split) -> statistics, figures and a report."""

from __future__ import annotations

from pathlib import Path

from scvae.analyses.data import analyse_data
from scvae.config import AnalysisConfig, DataConfig
from scvae.folders import data_path, features_mapped
from scvae.workflows.data_sets import load_data_set, split_data_set


def analyse(
    input_file_or_name: str,
    data_config: DataConfig | None = None,
    analysis_config: AnalysisConfig | None = None,
) -> list[Path]:
    """Load (and optionally split) a data set, analyse it, return the files written."""
    data_config = data_config or DataConfig()
    analysis_config = analysis_config or AnalysisConfig()
    data_set = load_data_set(data_config, input_file_or_name)
    data_sets = split_data_set(data_set, data_config)
    folder = data_path(
        data_set.name,
        data_config,
        data_set.split_indices is not None,
        include_preprocessing=False,
        features_mapped=features_mapped(data_config, data_set),
    )
    return analyse_data(
        data_sets,
        Path(analysis_config.analyses_directory) / folder / "data",
        analysis_config,
        configuration={"data set": input_file_or_name, "data": data_config.to_dict()},
    )
