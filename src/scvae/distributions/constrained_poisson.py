"""Poisson whose rates are feature proportions times the library size."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import constraints

from scvae.distributions._common import TINY, as_float_tensor
from scvae.distributions.poisson import Poisson


class ConstrainedPoisson(Poisson):
    """Poisson(rate = lambda_f * N) with ``sum_f lambda_f = 1`` per example.

    Parameters
    ----------
    log_probs
        Log-proportions ``log lambda_f`` over the features (a log-softmax over the
        last dimension), shape ``(..., F)``.
    library_size
        The example's raw count sum ``N``, broadcastable to ``log_probs`` (for
        example shape ``(..., 1)``). Zero is allowed; it is floored at float32
        ``tiny`` so that ``log N`` stays finite.
    validate_args
        Check arguments and values (torch's default when ``None``).
    """

    arg_constraints = {
        "log_probs": constraints.interval(-float("inf"), 0.0),
        "library_size": constraints.nonnegative,
    }

    def __init__(
        self,
        log_probs: Tensor,
        library_size: Tensor | float,
        validate_args: bool | None = None,
    ) -> None:
        self.log_probs = as_float_tensor(log_probs)
        self.library_size = torch.as_tensor(library_size, dtype=self.log_probs.dtype)
        log_library_size = torch.log(self.library_size.clamp_min(TINY))
        super().__init__(self.log_probs + log_library_size, validate_args=validate_args)
