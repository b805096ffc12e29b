"""scvae: variational auto-encoders for single-cell transcript counts."""

from __future__ import annotations

__version__ = "3.0.0.dev0"

__all__ = ["__version__"]
