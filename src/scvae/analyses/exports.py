"""Tables and AnnData files for users to take elsewhere.

TSVs are gzip-compressed and tab-separated with the example names as index (an empty
top-left header cell), so ``pandas.read_csv(path, sep="\\t", index_col=0)`` reads them back.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scvae.errors import DataError, ScvaeError
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


#: where the results of a model version go in an AnnData
LATENT_KEY = "X_scvae"  # obsm: latent means (N, L)
CLUSTER_KEY = "scvae_cluster"  # obs: the GMVAE's cluster of each cell (argmax q(y|x))
PROBABILITIES_KEY = "scvae_cluster_probabilities"  # obsm: q(y|x) (N, K)
UNS_KEY = "scvae"  # uns: model settings, run folder, data fingerprint, what was written


@dataclass
class CellResults:
    """Results of one model version for every cell of a data set, in its row order.

    ``obs`` holds further per-cell columns (e.g. k-means clusters, each cell's subset);
    ``uns`` what to store under ``uns["scvae"]``.
    """

    example_names: np.ndarray
    z: np.ndarray
    y: np.ndarray | None = None
    obs: dict[str, np.ndarray] = field(default_factory=dict)
    uns: dict = field(default_factory=dict)

    @property
    def clusters(self) -> np.ndarray | None:
        return None if self.y is None else np.asarray(self.y).argmax(axis=1)


def write_anndata(
    path: str | Path,
    data_set,
    results: CellResults,
    *,
    label_key: str | None = None,
    batch_key: str | None = None,
) -> Path:
    """A new ``.h5ad`` of ``data_set`` (counts in ``X``) with ``results`` added.

    Labels go in ``obs[label_key]`` (default ``label``), batch *names* in
    ``obs[batch_key]`` (default ``batch``); values left on disk are not copied into ``X``.
    """
    import anndata

    from scvae.data.matrix import as_matrix

    names = [str(name) for name in data_set.example_names]
    obs = pd.DataFrame(index=pd.Index(names))
    if data_set.labels is not None:
        obs[label_key or "label"] = pd.Categorical(
            np.asarray(data_set.labels).astype(str), categories=data_set.class_names
        )
    if data_set.batch_indices is not None:
        batches = np.asarray(data_set.batch_indices)
        if data_set.batch_names is not None:
            batches = np.asarray(data_set.batch_names, dtype=object)[batches]
        obs[batch_key or "batch"] = pd.Categorical(np.asarray(batches).astype(str))
    var = pd.DataFrame(index=pd.Index(_unique([str(name) for name in data_set.feature_names])))
    held = as_matrix(data_set.values).held()
    values = None if held is None else held.astype(np.float32, copy=False)  # no second copy
    adata = anndata.AnnData(X=values, obs=obs, var=var)
    rows = np.arange(len(names))
    for key, column in _obs_columns(results, rows, len(names)).items():
        adata.obs[key] = column
    for key, array in _obsm_arrays(results, rows, len(names)).items():
        adata.obsm[key] = array
    adata.uns[UNS_KEY] = plain(results.uns)
    path = Path(path)
    with writing(path), atomic_path(path) as temporary:
        adata.write_h5ad(temporary)
    return path


def write_into_h5ad(source: str | Path, target: str | Path, results: CellResults) -> Path:
    """``source`` (an ``.h5ad``) with ``results`` added, written atomically to ``target``.

    Everything in ``source`` stays as it was; ``obsm["X_scvae"]``,
    ``obs["scvae_cluster"]``, ``obsm["scvae_cluster_probabilities"]``, the extra
    columns and ``uns["scvae"]`` are added (or replaced). Cells are matched by name;
    cells of the file that were not evaluated get missing values. ``target`` may be
    ``source`` (in place): the file is replaced in one step, or left untouched.
    """
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise DataError(source, "is not a file; give an existing .h5ad file")
    with writing(target), atomic_path(target) as temporary:
        copy_with_progress(source, temporary)
        _add_results(temporary, results, source)
    return target


#: files larger than this are copied block by block with a progress bar
COPY_PROGRESS_BYTES = 1 << 30
COPY_BLOCK_BYTES = 64 << 20


def copy_with_progress(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target``; a progress bar (bytes) for files over 1 GiB.

    The copy holds one block of 64 MiB at a time, whatever the size of the file.
    """
    from scvae import progress

    size = source.stat().st_size
    if size <= COPY_PROGRESS_BYTES or not progress.wanted():
        shutil.copyfile(source, target)
        return
    with (
        open(source, "rb") as reader,
        open(target, "wb") as writer,
        progress.bar(
            total=size, desc=f"Copying {source.name}", unit="B", unit_scale=True, leave=False
        ) as bar,
    ):
        while block := reader.read(COPY_BLOCK_BYTES):
            writer.write(block)
            bar.update(len(block))


def _add_results(path: Path, results: CellResults, source: Path) -> None:
    """Add ``results`` to the ``.h5ad`` at ``path`` element by element (X is not read)."""
    import h5py
    from anndata.io import read_elem, write_elem

    try:
        file = h5py.File(path, "r+")
    except OSError as error:
        raise DataError(source, f"is not an HDF5 (.h5ad) file ({_first_line(error)})") from error
    with file:
        if file.attrs.get("encoding-type") not in ("anndata", b"anndata") or "obs" not in file:
            raise DataError(
                source, "was not written by anndata 0.7 or later; read and write it again first"
            )
        obs = read_elem(file["obs"])
        rows = _rows(obs.index, results.example_names, source)
        for key, column in _obs_columns(results, rows, len(obs)).items():
            obs[key] = column
        write_elem(file, "obs", obs)
        obsm = _mapping_group(file, "obsm")
        for key, array in _obsm_arrays(results, rows, len(obs)).items():
            write_elem(obsm, key, array)
        write_elem(_mapping_group(file, "uns"), UNS_KEY, plain(results.uns))


def _mapping_group(file, name: str):
    """The group ``name`` of an .h5ad file, created as anndata writes an empty mapping."""
    from anndata.io import write_elem

    if name not in file:
        write_elem(file, name, {})
    return file[name]


def _rows(file_names: pd.Index, example_names, source: Path) -> np.ndarray:
    """The file row of each evaluated cell (cells matched by name)."""
    names = np.asarray([str(name) for name in example_names], dtype=object)
    file_names = np.asarray(file_names.astype(str), dtype=object)
    if len(file_names) == len(names) and (file_names == names).all():
        return np.arange(len(names))
    index = pd.Index(file_names)
    if not index.is_unique:
        raise DataError(source, "has repeated cell names (obs_names); the cells cannot be matched")
    rows = index.get_indexer(names)
    if (rows < 0).any():
        missing = names[rows < 0]
        raise DataError(
            source,
            f"lacks {len(missing)} of the {len(names)} evaluated cells (e.g. '{missing[0]}'); "
            "give the file the model was evaluated on",
        )
    return rows


def _obs_columns(results: CellResults, rows: np.ndarray, n: int) -> dict[str, pd.Categorical]:
    columns = dict(results.obs)
    if results.clusters is not None:
        columns = {CLUSTER_KEY: results.clusters, **columns}
    placed = {}
    for key, values in columns.items():
        values = np.asarray(values)
        categories = [str(v) for v in (np.unique(values) if values.size else [])]
        column = np.full(n, np.nan, dtype=object)
        column[rows] = values.astype(str)
        placed[key] = pd.Categorical(column, categories=categories)
    return placed


def _obsm_arrays(results: CellResults, rows: np.ndarray, n: int) -> dict[str, np.ndarray]:
    arrays = {LATENT_KEY: results.z}
    if results.y is not None:
        arrays[PROBABILITIES_KEY] = results.y
    placed = {}
    for key, values in arrays.items():
        values = np.asarray(values, dtype=np.float32)
        array = np.full((n, values.shape[1]), np.nan, dtype=np.float32)
        array[rows] = values
        placed[key] = array
    return placed


def plain(value: Any) -> Any:
    """``value`` as what an h5ad's ``uns`` stores: no ``None``, lists of one type, strings."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, (list, tuple)):
        items = [plain(item) for item in value if item is not None]
        if len({type(item) for item in items}) > 1 or any(
            isinstance(item, (dict, list)) for item in items
        ):
            return [str(item) for item in items]
        return items
    if isinstance(value, (Path, os.PathLike)):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn a failed write (a full disk, no permission) into one line naming ``path``."""
    try:
        yield
    except OSError as error:
        advice = (
            "; free some space or choose another folder"
            if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
            else ""
        )
        raise ScvaeError(f'cannot write "{path}": {_first_line(error)}{advice}') from error


def _first_line(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return str(text).splitlines()[0]


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        unique.append(name if count == 0 else f"{name}-{count}")
    return unique
