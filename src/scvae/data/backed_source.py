"""Former home of the on-disk minibatch source; see :mod:`scvae.data.batches`.

Kept for one release so that old imports keep working.
"""

from __future__ import annotations

from typing import Any

from scvae.data.batches import (
    BLOCK_ROWS,
    BUFFER_BLOCKS,
    RowSource,
    chunk_shuffled_order,
)

__all__ = ["BLOCK_ROWS", "BUFFER_BLOCKS", "BackedSource", "chunk_shuffled_order", "source_for"]

BackedSource = RowSource


def source_for(data_set: Any, **options: Any) -> RowSource:
    """The minibatch source of a loaded data set (see :meth:`RowSource.from_data_set`)."""
    return RowSource.from_data_set(data_set, **options)
