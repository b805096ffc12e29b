"""scvae: variational auto-encoders for single-cell transcript counts."""

from __future__ import annotations

from typing import Any

__version__ = "3.0.0.dev0"

from scvae.data.data_set import DataSet  # noqa: E402

__all__ = [
    "GMVAE",
    "VAE",
    "DataSet",
    "GaussianMixtureVariationalAutoencoder",
    "VariationalAutoencoder",
    "__version__",
    "load",
]

_ESTIMATORS = ("VariationalAutoencoder", "GaussianMixtureVariationalAutoencoder")
_ANNDATA_MODELS = ("VAE", "GMVAE", "load")


def __getattr__(name: str) -> Any:
    """The model classes and ``load``, imported when first asked for (they load torch)."""
    if name in _ESTIMATORS:
        from scvae.workflows import estimators

        return getattr(estimators, name)
    if name in _ANNDATA_MODELS:
        from scvae.workflows import anndata_models

        return getattr(anndata_models, name)
    raise AttributeError(f"module 'scvae' has no attribute {name!r}")
