"""Normal distribution parameterised by its mean and variance.

The registry's ``softplus_gaussian`` (alias ``modified_gaussian``) and the
GMVAE's diagonal latent distributions use it with a softplus variance head.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions.utils import broadcast_all

from scvae.distributions.gaussian import Gaussian


class SoftplusGaussian(Gaussian):
    """Normal(loc, sqrt(variance)).

    Parameters
    ----------
    loc
        Mean.
    variance
        Variance (positive; produced by a softplus head).
    validate_args
        Check arguments and values (torch's default when ``None``).
    """

    def __init__(
        self, loc: Tensor | float, variance: Tensor | float, validate_args: bool | None = None
    ) -> None:
        loc, variance = broadcast_all(loc, variance)
        super().__init__(loc, 0.5 * torch.log(variance), validate_args)
