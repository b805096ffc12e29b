"""Where count values live: a CSR matrix in memory or in an HDF5 file, read by rows.

This is the only layer that knows whether values are on disk; everything above it
works on :class:`~scvae.data.matrix.CountMatrix` views over a store.
"""

from __future__ import annotations

from scvae.data.storage.chunks import CHUNK_VALUES, chunk_bounds
from scvae.data.storage.store import HdfStore, MemoryStore, Store

__all__ = ["CHUNK_VALUES", "HdfStore", "MemoryStore", "Store", "chunk_bounds"]
