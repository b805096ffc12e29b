"""Dense block (dropout -> linear -> batch norm -> activation) and MLP, as scVAE builds them."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional

from scvae.nn.sparse import (
    SPARSE_INPUT_FEATURES,
    FeatureMajorLinear,
    is_sparse,
    sparse_linear,
)

#: batch-norm settings of the original: TF decay 0.999 and epsilon 1e-3
BATCH_NORM_MOMENTUM = 0.001
BATCH_NORM_EPSILON = 1e-3
#: the step count given to statistics set from a pass over the data: the inference
#: correction for the moving averages' start values, (1 - momentum) ** steps, is then 0
SETTLED_STEPS = 1 << 20


class ShiftOnlyBatchNorm(nn.Module):
    """Batch normalisation with a learned shift but no scale (TF ``scale=False``)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(
            size, eps=BATCH_NORM_EPSILON, momentum=BATCH_NORM_MOMENTUM, affine=False
        )
        self.bias = nn.Parameter(torch.zeros(size))
        self._collected: list | None = None

    def start_collecting(self) -> None:
        """Sum the statistics of the minibatches seen in training mode from now on."""
        self._collected = [0, 0.0, 0.0]

    def finish_collecting(self, use: bool = True) -> bool:
        """Use the averages of the collected minibatch means and variances for inference.

        Returns whether they were used: not when ``use`` is false (a pass that failed)
        or no minibatch of two or more examples was seen (the statistics are kept).
        """
        collected, self._collected = self._collected, None
        if not use or not collected or collected[0] == 0:
            return False
        batches, means, variances = collected
        norm = self.norm
        norm.running_mean.copy_(means / batches)
        norm.running_var.copy_(variances / batches)
        norm.num_batches_tracked.fill_(max(int(norm.num_batches_tracked), SETTLED_STEPS))
        return True

    def _collect(self, x: torch.Tensor) -> None:
        values = x.detach().double()
        batches, means, variances = self._collected
        self._collected = [batches + 1, means + values.mean(0), variances + values.var(0)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = self.norm
        if self._collected is not None and self.training and x.shape[0] > 1:
            self._collect(x)
        if self.training and x.shape[0] == 1:
            # a minibatch of one example (e.g. the last of an epoch): it is its own batch
            # mean, so it normalises to zero, as in the original; torch's batch norm
            # refuses it, and one example says nothing about the variance, so the moving
            # averages are left as they are
            return x * 0.0 + self.bias
        if self.training:
            # what BatchNorm1d does in training, with the shift added by the same kernel
            norm.num_batches_tracked.add_(1)
            return functional.batch_norm(
                x,
                norm.running_mean,
                norm.running_var,
                None,
                self.bias,
                training=True,
                momentum=BATCH_NORM_MOMENTUM,
                eps=BATCH_NORM_EPSILON,
            )
        steps = int(norm.num_batches_tracked)
        if steps == 0:
            return norm(x) + self.bias
        # Inference: the moving averages corrected for their start values (mean 0,
        # variance 1), as Adam corrects its moments, so a model trained for few steps
        # is evaluated with its data's statistics rather than mostly the start values.
        kept = (1.0 - BATCH_NORM_MOMENTUM) ** steps
        mean = norm.running_mean / (1.0 - kept)
        variance = ((norm.running_var - kept) / (1.0 - kept)).clamp_min(0.0)
        normalised = (x - mean) * torch.rsqrt(variance + BATCH_NORM_EPSILON)
        return normalised + self.bias


class DenseBlock(nn.Module):
    """Optional dropout on the input, a linear layer, optional batch norm, an activation.

    Parameters
    ----------
    in_size, out_size
        Layer sizes.
    keep_probability
        Dropout keep probability on the input (1 or 0 means no dropout).
    batch_norm
        Shift-only batch normalisation after the linear layer.
    activation
        A module applied last (``None``: identity).
    feature_major
        Keep the weight on a feature-major storage (``linear`` is then a
        :class:`~scvae.nn.sparse.FeatureMajorLinear`: the same ``weight``, values and
        checkpoint entries), which the sparse first layer reads fast (see
        :mod:`scvae.nn.sparse`).
    """

    def __init__(
        self,
        in_size: int,
        out_size: int,
        *,
        keep_probability: float = 1.0,
        batch_norm: bool = False,
        activation: nn.Module | None = None,
        feature_major: bool = False,
    ) -> None:
        super().__init__()
        use_dropout = 0.0 < keep_probability < 1.0
        self.dropout = nn.Dropout(1.0 - keep_probability) if use_dropout else nn.Identity()
        self.linear = nn.Linear(in_size, out_size, bias=not batch_norm)
        nn.init.xavier_uniform_(self.linear.weight)
        if self.linear.bias is not None:
            nn.init.zeros_(self.linear.bias)
        if feature_major:
            self.linear = FeatureMajorLinear(self.linear)
        self.norm = ShiftOnlyBatchNorm(out_size) if batch_norm else nn.Identity()
        self.activation = activation if activation is not None else nn.Identity()

    def linear_part(self, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Input dropout and the linear layer (with ``weight``, e.g. a slice of it, if given).

        ``x`` may be a sparse CSR tensor: only its stored entries are multiplied
        (densified first when input dropout is active in training).
        """
        weight = self.linear.weight if weight is None else weight
        if is_sparse(x):
            if not (self.training and isinstance(self.dropout, nn.Dropout)):
                return sparse_linear(x, weight, self.linear.bias)
            x = x.to_dense()
        return functional.linear(self.dropout(x), weight, self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.norm(self.linear_part(x)))


class MLP(nn.Module):
    """A stack of ReLU dense blocks; the first block's input dropout is ``input_keep``."""

    def __init__(
        self,
        in_size: int,
        hidden_sizes: Sequence[int],
        *,
        batch_norm: bool = True,
        input_keep: float = 1.0,
        hidden_keep: float = 1.0,
    ) -> None:
        super().__init__()
        blocks = []
        size = in_size
        for index, hidden in enumerate(hidden_sizes):
            blocks.append(
                DenseBlock(
                    size,
                    hidden,
                    keep_probability=input_keep if index == 0 else hidden_keep,
                    batch_norm=batch_norm,
                    activation=nn.ReLU(),
                    feature_major=index == 0 and size >= SPARSE_INPUT_FEATURES,
                )
            )
            size = hidden
        self.blocks = nn.Sequential(*blocks)
        self.out_size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)
