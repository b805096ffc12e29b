"""Figures and decomposition tables of one evaluated model version (reference §4.3, §4.6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scvae.analyses.decompositions import decompose
from scvae.analyses.exports import write_table


def result_figures(
    folder: Path,
    *,
    chosen: frozenset[str],
    context,
    data_set,
    evaluation,
    predictions: list,
    samples: dict | None = None,
) -> list[Path]:
    """Decompositions of the latent space (and reconstructions), with their TSVs."""
    written: list[Path] = []
    methods = context.analysis.decomposition_methods
    rows = evaluation.reconstruction_rows
    names = np.asarray(data_set.example_names)
    if "latent_space" in chosen:
        latent = {"z": evaluation.z}
        if evaluation.y is not None:
            latent["y"] = evaluation.y
        for variable, values in latent.items():
            name = f"latent_space-{variable}"
            written += _decompositions(folder / name, name, values, names, methods)
    if "decompositions" in chosen and evaluation.reconstruction is not None:
        written += _decompositions(
            folder / "reconstructions",
            "reconstructions",
            evaluation.reconstruction,
            names[rows],
            methods,
        )
    return written


def _decompositions(folder: Path, name: str, values, names, methods) -> list[Path]:
    written = []
    for method in methods:
        decomposition = decompose(values, method)
        if decomposition is None:
            continue
        path = folder / f"{name}-{decomposition.method}.tsv.gz"
        written.append(write_table(path, decomposition.values, names, decomposition.columns))
    return written
