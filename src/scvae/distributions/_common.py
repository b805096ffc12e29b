"""Small helpers shared by the distribution classes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch
from torch import Size, Tensor

if TYPE_CHECKING:
    from scvae.distributions.entries import StoredEntries

TINY = float(torch.finfo(torch.float32).tiny)
"""Smallest positive normal float32; supports are shrunk by it when clipping."""

MAX = float(torch.finfo(torch.float32).max)
"""Largest finite float32."""


def summed_log_prob(
    distribution: torch.distributions.Distribution,
    value: Tensor,
    entries: StoredEntries | None = None,
) -> Tensor:
    """``distribution.log_prob(value).sum(-1)``, through the distribution's fused
    ``log_prob_sum`` when it has one (``entries``: the
    :class:`~scvae.distributions.entries.StoredEntries` of ``value``, when known)."""
    fused = getattr(distribution, "log_prob_sum", None)
    if fused is not None:
        return fused(value, entries)
    return distribution.log_prob(value).sum(-1)


def sample_shape_of(batch_shape: Size, sample_shape: Size | tuple[int, ...]) -> Size:
    """Shape of a draw of ``sample_shape`` samples from a batch of ``batch_shape``."""
    return Size(sample_shape) + batch_shape


def as_float_tensor(value: Tensor | float) -> Tensor:
    """``value`` as a floating-point tensor (Python numbers become float32)."""
    tensor = torch.as_tensor(value)
    return tensor if tensor.is_floating_point() else tensor.to(torch.get_default_dtype())


def expand_to_base(parameter: Tensor, batch_shape: Size, event_dims: int = 0) -> Tensor:
    """Expand a wrapper's parameter to its base's batch shape, or raise ``ValueError``.

    ``event_dims`` trailing dimensions (the piecewise class logits) are kept.
    """
    trailing = parameter.shape[parameter.dim() - event_dims :]
    try:
        return parameter.expand(batch_shape + trailing)
    except RuntimeError as error:
        raise ValueError(
            f"Parameter of shape {tuple(parameter.shape)} does not broadcast to the base "
            f"distribution's batch shape {tuple(batch_shape)}."
        ) from error


@contextmanager
def unvalidated() -> Iterator[None]:
    """Distributions built inside skip argument and sample validation (hot loops whose
    values were checked on loading); the previous default comes back afterwards.
    Usable as a decorator too."""
    previous = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        torch.distributions.Distribution.set_default_validate_args(previous)
