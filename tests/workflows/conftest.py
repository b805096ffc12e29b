"""A small AnnData made the scanpy way: counts in a layer, log values in X, names, obs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp


def scanpy_like_anndata(cells: int = 150, genes: int = 40, seed: int = 0):
    """Counts of three cell types in ``layers["counts"]``, log1p of normalised counts in
    ``X``, ``obs["cell_type"]``, ``obs["batch"]`` (names), an extra column, ``obsm``, ``uns``."""
    import anndata

    rng = np.random.default_rng(seed)
    types = rng.choice(["B cell", "T cell", "NK cell"], cells)
    profiles = {name: rng.gamma(1.5, 3.0, genes) for name in ("B cell", "T cell", "NK cell")}
    counts = np.stack([rng.poisson(profiles[name]) for name in types]).astype(np.float32)
    totals = counts.sum(axis=1, keepdims=True)
    normalised = np.log1p(counts / np.maximum(totals, 1) * 1e4).astype(np.float32)
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical(types),
            "batch": pd.Categorical(rng.choice(["donor A", "donor B"], cells)),
            "quality": rng.random(cells),
        },
        index=pd.Index([f"AAAC-{i:03d}" for i in range(cells)]),
    )
    var = pd.DataFrame({"highly_variable": rng.random(genes) > 0.5})
    var.index = pd.Index([f"gene-{j:02d}" for j in range(genes)])
    adata = anndata.AnnData(X=normalised, obs=obs, var=var)
    adata.layers["counts"] = sp.csr_matrix(counts)
    adata.obsm["X_pca"] = rng.normal(size=(cells, 5)).astype(np.float32)
    adata.uns["made_by"] = "scanpy-like fixture"
    return adata


@pytest.fixture(scope="session")
def scanpy_h5ad(tmp_path_factory) -> Path:
    """The AnnData of :func:`scanpy_like_anndata` as an ``.h5ad`` file (read-only use)."""
    path = tmp_path_factory.mktemp("scanpy_like") / "cells.h5ad"
    scanpy_like_anndata().write_h5ad(path)
    return path
