"""Gamma distribution with concentration and rate."""

from __future__ import annotations

from torch import Tensor
from torch.distributions import Gamma as _TorchGamma


class Gamma(_TorchGamma):
    """Gamma(concentration, rate): density ``b^a x^(a-1) exp(-b x) / Gamma(a)``.

    ``torch.distributions.Gamma`` has exactly the wanted log-density, moments
    and (reparameterised) sampling; this class names it in the project.

    Parameters
    ----------
    concentration
        Shape ``a`` (positive; a softplus head).
    rate
        Rate ``b`` (positive; a softplus head).
    validate_args
        Check arguments and values (torch's default when ``None``).
    """

    def __init__(
        self, concentration: Tensor | float, rate: Tensor | float, validate_args: bool | None = None
    ) -> None:
        super().__init__(concentration, rate, validate_args=validate_args)
