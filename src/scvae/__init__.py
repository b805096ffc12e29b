"""scvae: variational auto-encoders for single-cell transcript counts."""

from __future__ import annotations

from typing import Any

__version__ = "3.0.0.dev0"

from scvae.data.data_set import DataSet  # noqa: E402

__all__ = [
    "DataSet",
    "GaussianMixtureVariationalAutoencoder",
    "VariationalAutoencoder",
    "__version__",
]

_ESTIMATORS = ("VariationalAutoencoder", "GaussianMixtureVariationalAutoencoder")


def __getattr__(name: str) -> Any:
    """The model classes, imported when first asked for (they load the training code)."""
    if name in _ESTIMATORS:
        from scvae.workflows import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'scvae' has no attribute {name!r}")
