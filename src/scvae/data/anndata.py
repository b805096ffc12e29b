"""Conversion between DataSet and AnnData: :func:`from_anndata` and :func:`to_anndata`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from scvae.data.data_set import DataSet
from scvae.data.matrix import as_matrix


def from_anndata(
    adata: Any,
    layer: str | None = None,
    label_key: str | None = None,
    batch_key: str | None = None,
    name: str = "anndata",
    **kwargs: Any,
) -> DataSet:
    """A checked DataSet of an in-memory AnnData (``X``, a layer, or ``"raw"``).

    ``kwargs`` go to :class:`DataSet` (e.g. ``reconstruction_distribution``).
    """
    raw = raw_from_anndata(adata, layer=layer, label_key=label_key, batch_key=batch_key)
    data_set = DataSet(name, **kwargs)
    data_set._set(raw)
    return data_set


def to_anndata(data_set: DataSet) -> Any:
    """AnnData with counts in ``X`` (CSR), ``obs['label']``/``obs['batch']`` when present."""
    import anndata

    if data_set.values is None:
        raise ValueError("the data set is not loaded; call load() first")

    obs = pd.DataFrame(index=pd.Index(data_set.example_names.astype(str), name=None))
    if data_set.labels is not None:
        obs["label"] = pd.Categorical(data_set.labels.astype(str), categories=data_set.class_names)
    if data_set.batch_indices is not None:
        batches = data_set.batch_indices
        if data_set.batch_names is not None:
            batches = np.asarray(data_set.batch_names, dtype=object)[batches]
        obs["batch"] = pd.Categorical(np.asarray(batches).astype(str))
    var = pd.DataFrame(index=pd.Index(data_set.feature_names.astype(str), name=None))
    if data_set.feature_ids is not None:
        var["gene_ids"] = np.asarray(data_set.feature_ids).astype(str)
    adata = anndata.AnnData(X=as_matrix(data_set.values).to_csr(), obs=obs, var=var)
    adata.uns["scvae"] = {"title": data_set.title, "kind": data_set.kind}
    return adata


def raw_from_anndata(
    adata: Any,
    layer: str | None = None,
    label_key: str | None = None,
    batch_key: str | None = None,
    source: str | None = None,
) -> Any:
    """A :class:`RawData` from an AnnData: ``X``, a layer, or ``"raw"`` (``raw.X``)."""
    import scipy.sparse as sp

    from scvae.data.raw import RawData
    from scvae.data.readers.h5ad import BATCH_KEYS, LABEL_KEYS
    from scvae.errors import DataError

    matrix, feature_names = _matrix(adata, layer, source)
    values = sp.csr_matrix(matrix) if sp.issparse(matrix) else sp.csr_matrix(np.asarray(matrix))
    labels = _obs_column(adata, label_key, LABEL_KEYS, source, "label")
    batches = _obs_column(adata, batch_key, BATCH_KEYS, source, "batch")
    batch_indices = batch_names = None
    if batches is not None:
        batch_names, batch_indices = np.unique(batches.astype(str), return_inverse=True)
    if values.shape[0] != adata.n_obs:
        raise DataError(source, "matrix rows do not match the number of observations")
    return RawData(
        values=values,
        example_names=np.asarray(adata.obs_names, dtype=object),
        feature_names=np.asarray(feature_names, dtype=object),
        labels=None if labels is None else labels.astype(str).astype(object),
        batch_indices=batch_indices,
        metadata={} if batch_names is None else {"batch_names": list(batch_names)},
    )


def _matrix(adata: Any, layer: str | None, source: str | None) -> tuple[Any, Any]:
    from scvae.errors import DataError

    if layer in (None, "X"):
        return adata.X, adata.var_names
    if layer == "raw":
        if adata.raw is None:
            raise DataError(source, "the AnnData has no raw.X")
        return adata.raw.X, adata.raw.var_names
    if layer not in adata.layers:
        known = ", ".join(["X", "raw", *adata.layers.keys()]) if adata.layers else "X, raw"
        raise DataError(source, f"no layer '{layer}' (available: {known})")
    return adata.layers[layer], adata.var_names


def _obs_column(adata, key, defaults, source, what) -> np.ndarray | None:
    from scvae.errors import DataError

    if key is not None:
        if key not in adata.obs.columns:
            known = ", ".join(map(str, adata.obs.columns)) or "none"
            raise DataError(source, f"no {what} column '{key}' in obs (columns: {known})")
        return np.asarray(adata.obs[key])
    for candidate in defaults:
        if candidate in adata.obs.columns:
            return np.asarray(adata.obs[candidate])
    return None
