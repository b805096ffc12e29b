"""scvae: variational auto-encoders for single-cell transcript counts."""

from __future__ import annotations

__version__ = "3.0.0.dev0"

from scvae.data.data_set import DataSet  # noqa: E402

__all__ = ["DataSet", "__version__"]
