"""Models: pure ``nn.Module`` VAE and GMVAE sharing encoder, decoder and likelihood heads.

:func:`build_module` (in :mod:`scvae.models.build`) makes the module a
:class:`~scvae.config.ModelConfig` describes. The user-facing classes
``VariationalAutoencoder`` and ``GaussianMixtureVariationalAutoencoder`` live in
:mod:`scvae.workflows.estimators` (spelled ``scvae.VariationalAutoencoder``); their
old spelling here still works for one release, with a ``FutureWarning``.
"""

from __future__ import annotations

import warnings
from typing import Any

from scvae.models.base import (
    LossOutput,
    ModelConfigError,
    ModelInputs,
    log_mean_exp,
    resolve_samples,
)
from scvae.models.build import ModelFacts, build_module, build_module_from, validate_config
from scvae.models.gmvae import GMVAEModule
from scvae.models.vae import VAEModule

__all__ = [
    "GMVAEModule",
    "LossOutput",
    "ModelConfigError",
    "ModelFacts",
    "ModelInputs",
    "VAEModule",
    "build_module",
    "build_module_from",
    "log_mean_exp",
    "resolve_samples",
    "validate_config",
]

_MOVED_CLASSES = ("VariationalAutoencoder", "GaussianMixtureVariationalAutoencoder")


def __getattr__(name: str) -> Any:
    """Forward the user-facing classes to their new home, with a ``FutureWarning``."""
    if name not in _MOVED_CLASSES:
        raise AttributeError(f"module 'scvae.models' has no attribute {name!r}")
    warnings.warn(
        f"scvae.models.{name} is deprecated; use scvae.{name} "
        f"(from scvae import {name}). The old spelling goes in the next release.",
        FutureWarning,
        stacklevel=2,
    )
    from scvae.workflows import estimators

    return getattr(estimators, name)
