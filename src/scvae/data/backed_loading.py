"""Open a data set with its values left on disk (``--backed``, or automatically when large).

Two files can serve backed values:

* an ``.h5ad`` file whose matrix (``X``, a layer or ``raw/X``) is stored as CSR is read
  in place: only ``obs`` and ``var`` are loaded;
* anything else goes through scvae's cache (``<data dir>/<name>/cache/original-*.h5``),
  which is built first when missing (this one-off build reads the source into memory,
  as the source's reader needs).

Without ``--backed``, values are left on disk when their in-memory size,
:func:`estimated_bytes`, would pass ``--backed-above`` gigabytes; the size is known
without reading the values for an ``.h5ad`` CSR matrix and for an existing cache.

The processing options (``--map-features``, ``-F``, ``-E``, ``-p``, noisy methods) go
through the same pipeline as in memory (:func:`scvae.data.pipeline.process`), with
chunked statistics and views that process the rows they read: the results are the
same as for the data in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scvae.config import DataConfig
from scvae.data.backed import check_backed_values
from scvae.data.data_set import DataSet
from scvae.data.raw import RawData, ReadOptions

#: Bytes per stored value in memory (float32 value + int32 column index), the cost
#: the automatic switch to backed values compares with ``--backed-above``.
BYTES_PER_STORED_VALUE = 8


def read_options(config: DataConfig) -> ReadOptions:
    """The reader options of a data configuration."""
    return ReadOptions(
        labels_path=config.labels,
        genome=config.genome,
        layer=config.layer,
        label_key=config.label_key,
        batch_key=config.batch_key,
    )


def configured_data_set(config: DataConfig, input_file_or_name: str, **kwargs: Any) -> DataSet:
    """A (not yet loaded) :class:`DataSet` with the reader and processing options of ``config``.

    ``kwargs`` go to :class:`DataSet` (e.g. ``reconstruction_distribution``).
    """
    return DataSet(
        input_file_or_name,
        data_format=config.format,
        directory=config.data_directory,
        read_options=read_options(config),
        feature_selection=config.feature_selection,
        example_filter=config.example_filter,
        preprocessing_methods=config.preprocessing_methods,
        map_features=config.map_features,
        noisy_preprocessing_methods=config.noisy_preprocessing_methods,
        **kwargs,
    )


def estimated_bytes(stored_values: int, examples: int) -> int:
    """Memory the values would take when loaded: 8 bytes a stored value, 8 an example."""
    return BYTES_PER_STORED_VALUE * int(stored_values) + 8 * (int(examples) + 1)


def use_backed(config: DataConfig, input_file_or_name: str) -> bool:
    """Whether to leave the values on disk: ``--backed``, or a large h5ad file or cache."""
    if config.backed:
        return True
    threshold = config.backed_above
    if threshold is None or not threshold > 0 or threshold == float("inf"):
        return False
    size = _known_size(config, input_file_or_name)
    return size is not None and estimated_bytes(*size) > threshold * 1e9


def open_backed(config: DataConfig, input_file_or_name: str, **kwargs: Any) -> DataSet:
    """A loaded :class:`DataSet` whose ``values`` is a :class:`~scvae.data.backed.BackedMatrix`.

    ``kwargs`` go to :class:`DataSet` (e.g. ``reconstruction_distribution``). The
    processing options of ``config`` are applied as in memory (in chunked passes; the
    network input of ``-p`` is a backed view too). The values are checked in one
    chunked pass (finite; counts for count likelihoods).
    """
    data_set = configured_data_set(config, input_file_or_name, **kwargs)
    raw, from_cache = _backed_raw(config, input_file_or_name, data_set.read_options)
    if not from_cache and _processing(config):
        # what the in-memory cache refuses before anything is processed
        check_backed_values(raw.values, input_file_or_name, count_likelihood=False)
    raw, network = data_set._process(raw, cache=True)
    data_set._set(raw)
    data_set.preprocessed_values = network
    data_set._processed = True
    return data_set


def _processing(config: DataConfig) -> bool:
    return bool(
        config.map_features
        or config.feature_selection
        or config.example_filter
        or config.preprocessing_methods
    )


def _backed_raw(
    config: DataConfig, input_file_or_name: str, options: ReadOptions
) -> tuple[RawData, bool]:
    """The raw data with its values on disk, and whether they come from scvae's cache."""
    from scvae.data.cache import CacheCorrupt, read_backed, write_raw

    h5ad = _h5ad_path(config, input_file_or_name)
    if h5ad is not None:
        from scvae.data.readers.h5ad import read_h5ad_backed

        raw = read_h5ad_backed(h5ad, options)
        if raw is not None:
            return raw, False
    path, build = _cache(config, input_file_or_name, options)
    try:
        return read_backed(path), True
    except CacheCorrupt:
        path.unlink(missing_ok=True)
    built = build()
    write_raw(path, built)
    del built
    return read_backed(path), True


def _cache(config: DataConfig, input_file_or_name: str, options: ReadOptions) -> tuple[Path, Any]:
    from scvae.data.loading import cache_location

    return cache_location(input_file_or_name, config.format, config.data_directory, options)


def _h5ad_path(config: DataConfig, input_file_or_name: str) -> Path | None:
    path = Path(input_file_or_name)
    is_h5ad = config.format in ("h5ad", "anndata") or (
        config.format in (None, "infer") and path.suffix.lower() == ".h5ad"
    )
    return path if is_h5ad and path.is_file() else None


def _known_size(config: DataConfig, input_file_or_name: str) -> tuple[int, int] | None:
    """(stored values, examples) of an h5ad CSR matrix or of an existing cache, else None."""
    import h5py

    h5ad = _h5ad_path(config, input_file_or_name)
    if h5ad is not None:
        layer = config.layer
        key = {None: "X", "": "X", "X": "X", "raw": "raw/X"}.get(layer, f"layers/{layer}")
        candidates = [(h5ad, key)]
    else:
        try:
            path, _ = _cache(config, input_file_or_name, read_options(config))
        except Exception:  # an unknown input is reported by the normal loading
            return None
        candidates = [(path, "values")]
    for path, key in candidates:
        try:
            with h5py.File(path, "r") as file:
                group = file.get(key)
                if isinstance(group, h5py.Group) and {"data", "indptr"} <= set(group):
                    return int(group["data"].shape[0]), int(group["indptr"].shape[0]) - 1
        except OSError:  # missing or unreadable: the normal loading reports it
            continue
    return None
