"""scvae data layer: DataSet, readers, processing, splitting and caching."""

from __future__ import annotations

from scvae.data.data_set import DataSet

__all__ = ["DataSet"]
