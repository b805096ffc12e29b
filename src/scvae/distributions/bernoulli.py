"""Bernoulli distribution over binarised values, parameterised by logits."""

from __future__ import annotations

from torch import Tensor
from torch.distributions import Bernoulli as _TorchBernoulli


class Bernoulli(_TorchBernoulli):
    """Bernoulli(sigmoid(logits)); targets are 0/1 (binarised) values.

    ``torch.distributions.Bernoulli`` already computes the log-pmf as a
    stable binary cross-entropy with logits; this class only fixes the
    parameterisation to logits.

    Parameters
    ----------
    logits
        Log-odds of a one.
    validate_args
        Check arguments and values (torch's default when ``None``).
    """

    def __init__(self, logits: Tensor | float, validate_args: bool | None = None) -> None:
        super().__init__(logits=logits, validate_args=validate_args)
