"""Tables and AnnData files for users to take elsewhere (reference §4.7).

TSVs are gzip-compressed and tab-separated with the example names as index (an empty
top-left header cell), so ``pandas.read_csv(path, sep="\\t", index_col=0)`` reads them back.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from scvae.io import atomic_path


def write_table(
    path: str | Path, values: np.ndarray, index: Sequence, columns: Sequence[str]
) -> Path:
    """Write ``values`` as a gzipped TSV with ``index`` (example names) and ``columns``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(np.asarray(values), index=pd.Index(list(index)), columns=list(columns))
    with atomic_path(path) as temporary:
        frame.to_csv(temporary, sep="\t", compression="gzip")
    return path


def write_latent_values(
    folder: str | Path, example_names: Sequence, z: np.ndarray, y: np.ndarray | None, gmvae: bool
) -> list[Path]:
    """``latent_values-z.tsv.gz`` (and ``-y``) with the original's column names."""
    folder = Path(folder)
    prefix = "z variable" if gmvae else "latent variable"
    columns = [f"{prefix} {index + 1}" for index in range(z.shape[1])]
    paths = [write_table(folder / "latent_values-z.tsv.gz", z, example_names, columns)]
    if y is not None:
        columns = [f"y variable {index + 1}" for index in range(y.shape[1])]
        paths.append(write_table(folder / "latent_values-y.tsv.gz", y, example_names, columns))
    return paths


def write_predictions(
    folder: str | Path, example_names: Sequence, prediction, class_term: str = "class"
) -> list[Path]:
    """``predictions/predictions-<spec>-{predicted_cluster_ids,predicted_labels,...}.tsv.gz``."""
    folder = Path(folder) / "predictions"
    stem = f"predictions-{prediction.specification}"
    label_column = class_term[:1].upper() + class_term[1:]
    tables = [("predicted_cluster_ids", prediction.cluster_ids, "Cluster ID")]
    if prediction.labels is not None:
        tables.append(("predicted_labels", prediction.labels, label_column))
    if prediction.superset_labels is not None:
        tables.append(("predicted_superset_labels", prediction.superset_labels, label_column))
    return [
        write_table(
            folder / f"{stem}-{name}.tsv.gz", np.asarray(values)[:, None], example_names, [column]
        )
        for name, values, column in tables
    ]


def write_anndata(
    path: str | Path,
    data_set,
    z: np.ndarray,
    predictions: Sequence = (),
    y: np.ndarray | None = None,
    uns: dict | None = None,
) -> Path:
    """An ``.h5ad`` of the evaluated set: counts in ``X``, latent means in ``obsm["X_scvae"]``.

    Labels, batches and every prediction (``scvae_<spec>_cluster``/``_label``) go in ``obs``.
    """
    import anndata

    from scvae.data.matrix import as_matrix

    obs = pd.DataFrame(index=pd.Index([str(name) for name in data_set.example_names]))
    if data_set.labels is not None:
        obs["label"] = pd.Categorical(np.asarray(data_set.labels).astype(str))
    if data_set.batch_indices is not None:
        obs["batch"] = pd.Categorical(np.asarray(data_set.batch_indices).astype(str))
    for prediction in predictions:
        spec = prediction.specification
        obs[f"scvae_{spec}_cluster"] = pd.Categorical(prediction.cluster_ids.astype(str))
        if prediction.labels is not None:
            obs[f"scvae_{spec}_label"] = pd.Categorical(np.asarray(prediction.labels).astype(str))
    var = pd.DataFrame(index=pd.Index(_unique([str(name) for name in data_set.feature_names])))
    # values left on disk stay where they are: obs, var and obsm only
    held = as_matrix(data_set.values).held()
    values = None if held is None else held.astype(np.float32)
    adata = anndata.AnnData(X=values, obs=obs, var=var)
    adata.obsm["X_scvae"] = np.asarray(z, dtype=np.float32)
    if y is not None:
        adata.obsm["scvae_y_probabilities"] = np.asarray(y, dtype=np.float32)
    adata.uns["scvae"] = uns or {}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        adata.write_h5ad(temporary)
    return path


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        unique.append(name if count == 0 else f"{name}-{count}")
    return unique
