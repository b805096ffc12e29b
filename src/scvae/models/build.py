"""Build a model: check its options and make the VAE or GMVAE module they describe.

:class:`ModelFacts` holds what a model's shape depends on besides its options (the
number of features, mixture components and batches, the prior probabilities, the
seed and the data set); it is saved as the run folder's ``model.json``, so a model
can be rebuilt from the run folder alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from torch import nn

from scvae.config import ModelConfig
from scvae.distributions import registry
from scvae.models.base import ModelConfigError, resolve_samples
from scvae.models.gmvae import GMVAEModule
from scvae.models.naming import (
    GMVAE_LATENT_DISTRIBUTIONS,
    VAE_LATENT_DISTRIBUTIONS,
    latent_distribution,
)
from scvae.models.vae import VAEModule

__all__ = [
    "MAXIMUM_PARAMETERS",
    "ModelFacts",
    "build_module",
    "build_module_from",
    "effective_batch_size",
    "parameter_estimate",
    "samples_for",
    "validate_config",
]


@dataclass(frozen=True)
class ModelFacts:
    """What a model's shape depends on besides its config (saved as ``model.json``)."""

    feature_size: int
    number_of_classes: int
    number_of_batches: int
    prior_probabilities: tuple[float, ...] | None
    seed: int
    data_set: str
    feature_names_sample: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in self.__dict__.items()
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelFacts:
        converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**converted)


_MAXIMUM_DROPOUT_VALUES = {"VAE": 3, "GMVAE": 4}
#: models with more parameters than this (4 GiB of float32 weights) are refused unbuilt
MAXIMUM_PARAMETERS = 1 << 30


def parameter_estimate(
    config: ModelConfig, feature_size: int, number_of_classes: int = 1, number_of_batches: int = 0
) -> int:
    """About how many numbers the model of these sizes holds, without building it.

    Counts the weights between consecutive layers of the encoder and decoder and the
    GMVAE's per-component parameters; Python integers, so absurd sizes cannot overflow.
    """
    hidden = [int(size) for size in config.hidden_sizes]
    latent, k = int(config.latent_size), int(number_of_classes)
    heads = 3 + max(int(config.number_of_reconstruction_classes), 0)
    encoder = [feature_size + number_of_batches + k, *hidden, 2 * latent]
    decoder = [latent + number_of_batches + k, *reversed(hidden), feature_size * heads]
    total = sum(a * b + b for chain in (encoder, decoder) for a, b in pairwise(chain))
    return total + k * (2 * latent + 1)


def build_module(
    config: ModelConfig,
    feature_size: int,
    *,
    number_of_classes: int | None = None,
    number_of_batches: int = 0,
    prior_probabilities: Sequence[float] | None = None,
) -> nn.Module:
    """The VAE or GMVAE module that ``config`` describes.

    Parameters
    ----------
    config
        Model options.
    feature_size
        Number of features ``F``.
    number_of_classes
        GMVAE components ``K``; ``None`` uses ``config.number_of_classes`` or 1.
    number_of_batches
        Number of batches (used with batch correction; 0: none).
    prior_probabilities
        Class frequencies for the GMVAE's ``infer`` prior probabilities method.

    Raises
    ------
    scvae.errors.ConfigError
        (:class:`ModelConfigError`, also a ``ValueError``) for invalid options.
    """
    if number_of_classes is None:
        number_of_classes = config.number_of_classes or 1
    model_type = validate_config(config, feature_size, number_of_classes, number_of_batches)
    if model_type == "VAE":
        return VAEModule(config, feature_size, number_of_batches)
    return GMVAEModule(
        config, feature_size, number_of_classes, number_of_batches, prior_probabilities
    )


def validate_config(
    config: ModelConfig, feature_size: int, number_of_classes: int = 1, number_of_batches: int = 0
) -> str:
    """Check the model options; return the model type (``VAE`` or ``GMVAE``).

    The LFM architectures are accepted and ignored for the GMVAE, as in scVAE.
    """
    model_type = str(config.model_type).upper()
    if model_type not in _MAXIMUM_DROPOUT_VALUES:
        raise ModelConfigError(f"Unknown model type {config.model_type!r}; choose VAE or GMVAE.")
    _check_latent(config, model_type)
    _check_sizes(config, feature_size, number_of_classes, number_of_batches)
    _check_dropout(config, model_type)
    resolve_samples(config)
    registry.check_combination(
        config.reconstruction_distribution, config.number_of_reconstruction_classes
    )
    for name in ("inference_architecture", "generative_architecture"):
        if str(getattr(config, name)).upper() not in ("MLP", "LFM"):
            raise ModelConfigError(f"The {name.replace('_', ' ')} must be MLP or LFM.")
    return model_type


def _check_latent(config: ModelConfig, model_type: str) -> None:
    latent = latent_distribution(config)
    allowed = VAE_LATENT_DISTRIBUTIONS if model_type == "VAE" else GMVAE_LATENT_DISTRIBUTIONS
    if latent not in allowed:
        raise ModelConfigError(
            f"The {model_type} cannot use the latent distribution {latent!r}; "
            f"choose one of: {', '.join(name for name in allowed if 'legacy' not in name)}."
        )
    if model_type == "VAE" and config.parameterise_latent_posterior:
        raise ModelConfigError(
            "--parameterise-latent-posterior needs a Gaussian-mixture latent distribution, "
            "which the VAE does not have."
        )


def _check_sizes(
    config: ModelConfig, feature_size: int, number_of_classes: int, number_of_batches: int
) -> None:
    if feature_size < 1:
        raise ModelConfigError(f"The data need at least one feature; got {feature_size}.")
    if config.latent_size < 1:
        raise ModelConfigError(f"The latent size must be positive; got {config.latent_size}.")
    if any(size < 1 for size in config.hidden_sizes):
        raise ModelConfigError(f"Hidden sizes must be positive; got {list(config.hidden_sizes)}.")
    if number_of_classes < 1:
        raise ModelConfigError(
            f"The number of classes must be at least 1; got {number_of_classes}."
        )
    if number_of_batches < 0:
        raise ModelConfigError(
            f"The number of batches cannot be negative; got {number_of_batches}."
        )
    estimate = parameter_estimate(config, feature_size, number_of_classes, number_of_batches)
    if estimate > MAXIMUM_PARAMETERS:
        raise ModelConfigError(
            f"These sizes make a model of about {estimate:.3g} parameters, more than the "
            f"{MAXIMUM_PARAMETERS:.3g} ({4 * MAXIMUM_PARAMETERS / 2**30:.0f} GiB) allowed; "
            "choose a smaller --latent-size, --hidden-sizes or --number-of-classes."
        )


def _check_dropout(config: ModelConfig, model_type: str) -> None:
    values = tuple(config.dropout_keep_probabilities)
    maximum = _MAXIMUM_DROPOUT_VALUES[model_type]
    if len(values) > maximum:
        positions = "hidden, x input, z input" + (", y input" if model_type == "GMVAE" else "")
        raise ModelConfigError(
            f"The {model_type} takes at most {maximum} dropout keep probabilities "
            f"({positions}); got {len(values)}."
        )
    if any(not 0.0 <= value <= 1.0 for value in values):
        raise ModelConfigError(
            f"Dropout keep probabilities must lie in [0, 1]; got {list(values)}."
        )


def build_module_from(config: ModelConfig, facts: ModelFacts) -> nn.Module:
    """The module of ``config`` with the shape that ``facts`` gives."""
    return build_module(
        config,
        facts.feature_size,
        number_of_classes=facts.number_of_classes,
        number_of_batches=facts.number_of_batches,
        prior_probabilities=facts.prior_probabilities,
    )


def samples_for(config: ModelConfig) -> tuple[tuple[int, int], tuple[int, int]]:
    """((R, M) for training, (R, M) for evaluation) from the 1-or-2-value options."""
    return resolve_samples(config)


def effective_batch_size(config: ModelConfig, batch_size: int, samples: tuple[int, int]) -> int:
    """The VAE divides the minibatch size by R*M (rounded up), as the original did."""
    if config.model_type == "VAE":
        return max(1, math.ceil(batch_size / (samples[0] * samples[1])))
    return batch_size
