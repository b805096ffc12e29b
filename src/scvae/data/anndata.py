"""Conversion between DataSet and AnnData."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from scvae.data.data_set import DataSet


def to_anndata(data_set: DataSet) -> Any:
    """AnnData with counts in ``X`` (CSR), ``obs['label']``/``obs['batch']`` when present."""
    import anndata

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
    adata = anndata.AnnData(X=data_set.values.copy(), obs=obs, var=var)
    adata.uns["scvae"] = {"title": data_set.title, "kind": data_set.kind}
    return adata
