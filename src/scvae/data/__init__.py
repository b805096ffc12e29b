"""scvae data layer: DataSet, readers, processing, splitting and caching.

``DataSet`` is the container; :func:`load` reads, processes and checks one
(:mod:`scvae.data.loading`), :func:`from_anndata` and :func:`to_anndata` convert
(:mod:`scvae.data.anndata`). The functions are imported when first asked for, so
``import scvae`` stays light.
"""

from __future__ import annotations

from typing import Any

from scvae.data.data_set import DataSet

__all__ = ["DataSet", "from_anndata", "load", "open_data_set", "to_anndata"]


def __getattr__(name: str) -> Any:
    if name == "load":
        from scvae.data.loading import load

        return load
    if name == "open_data_set":
        from scvae.data.loading import open_data_set

        return open_data_set
    if name == "from_anndata":
        from scvae.data.anndata import from_anndata

        return from_anndata
    if name == "to_anndata":
        from scvae.data.anndata import to_anndata

        return to_anndata
    raise AttributeError(f"module 'scvae.data' has no attribute {name!r}")
