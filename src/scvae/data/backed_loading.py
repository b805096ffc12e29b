"""Former home of opening data sets with values on disk; see :mod:`scvae.data.loading`.

Kept for one release so that old imports keep working.
"""

from __future__ import annotations

from typing import Any

from scvae.config import DataConfig
from scvae.data.data_set import DataSet
from scvae.data.loading import (
    BYTES_PER_STORED_VALUE,
    configured_data_set,
    estimated_bytes,
    open_data_set,
    read_options,
    use_backed,
)

__all__ = [
    "BYTES_PER_STORED_VALUE",
    "configured_data_set",
    "estimated_bytes",
    "open_backed",
    "read_options",
    "use_backed",
]


def open_backed(config: DataConfig, input_file_or_name: str, **kwargs: Any) -> DataSet:
    """:func:`~scvae.data.loading.open_data_set` with the values left on disk."""
    from dataclasses import replace

    return open_data_set(replace(config, backed=True), input_file_or_name, **kwargs)
