"""Names of the data, model and analysis folders (reference §1.9)."""

from __future__ import annotations

from scvae.config import DataConfig
from scvae.data.processing import normalise_label
from scvae.data.splitting import split_directory_name


def preprocessing_directory_name(config: DataConfig, include_preprocessing: bool = True) -> str:
    """``features_mapped-<selection>-<filter>-<methods>-noisy-<methods>`` or ``no_preprocessing``.

    Parameters are normalised (lower case; spaces, ``-`` and ``/`` become ``_``). A
    method given without its parameter is named without it: the folder follows the
    options as given, so train and evaluate with the same options find each other.
    """
    parts: list[str] = []
    if config.map_features:
        parts.append("features_mapped")
    for option in (config.feature_selection, config.example_filter):
        if option:  # parameters such as class names become safe folder-name parts
            parts.append("_".join(normalise_label(item) for item in option))
    if include_preprocessing:
        parts += list(config.preprocessing_methods)
        if config.noisy_preprocessing_methods:
            parts += ["noisy", *config.noisy_preprocessing_methods]
    return "-".join(parts) if parts else "no_preprocessing"


def data_path(
    name: str,
    config: DataConfig,
    has_predefined_split: bool = False,
    *,
    include_preprocessing: bool = True,
) -> str:
    """``<data set name>/<split dir>/<preprocessing dir>``."""
    if config.split_data_set:
        split = split_directory_name(
            config.splitting_method, config.splitting_fraction, has_predefined_split
        )
    else:
        split = "no_split"
    return "/".join((name, split, preprocessing_directory_name(config, include_preprocessing)))
