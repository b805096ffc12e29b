"""A first layer that multiplies only the stored entries of a sparse network input.

Single-cell count matrices are mostly zeros (about 93 % for a 10x atlas of 27,998 genes),
so on the CPU the product of a minibatch with the first layer's weight is cheaper as a
sum of weight rows, one per stored entry, than as a dense matrix product. The minibatch
then reaches the model as a sparse CSR tensor (see :func:`wants_sparse_input`), and the
first dense block computes its linear part with :func:`sparse_linear`.

The forward pass sums the rows of the weight picked by the entries' columns, scaled by
their values (``embedding_bag``); the backward pass is the transposed sparse matrix times
the output gradient. Both read the weight feature by feature, which is fast only when
its storage is feature-major: :class:`FeatureMajorLinear` holds the weight as a contiguous
``in x out`` parameter and shows it as ``weight`` (``out x in``, as ``nn.Linear`` has it,
a transposed view), and its checkpoint entries are those of ``nn.Linear``. The parameter
itself is contiguous because the fused Adam step copies a non-contiguous parameter, its
gradient and both moment estimates in and out at every step (at 27,998 x 128 that took
about 8 ms of a 70 ms step).

The sums run in another order than a dense product's, so results agree to float
rounding, not bit for bit.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn
from torch.nn import functional

__all__ = [
    "SPARSE_INPUT_DENSITY",
    "SPARSE_INPUT_FEATURES",
    "csr_tensor",
    "is_sparse",
    "select_rows",
    "FeatureMajorLinear",
    "sparse_linear",
    "wants_sparse_input",
]

#: Inputs at least this wide use the sparse first layer on the CPU.
SPARSE_INPUT_FEATURES = 5_000

#: ... when at most this share of a minibatch's values is stored.
SPARSE_INPUT_DENSITY = 0.3


def wants_sparse_input(features: int, device: torch.device | str) -> bool:
    """Whether minibatches of ``features`` values go to the model as sparse tensors.

    Only on the CPU: on a GPU the dense product of a minibatch is cheap and the copy of
    a dense block is one transfer.
    """
    return features >= SPARSE_INPUT_FEATURES and torch.device(device).type == "cpu"


def is_sparse(x: Tensor) -> bool:
    """Whether ``x`` is a sparse CSR tensor."""
    return x.layout == torch.sparse_csr


def csr_tensor(block: sp.csr_matrix) -> Tensor:
    """A canonical scipy CSR block as a float32 torch CSR tensor (sharing its arrays)."""
    with warnings.catch_warnings():
        # torch notes once that its CSR tensors are in beta; only their basic operations
        # (and no invariant checks: the block is canonical) are used here
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support", category=UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(np.asarray(block.indptr, dtype=np.int64)),
            torch.from_numpy(np.asarray(block.indices, dtype=np.int64)),
            torch.from_numpy(np.asarray(block.data, dtype=np.float32)),
            size=block.shape,
            check_invariants=False,
        )


def _scipy(x: Tensor) -> sp.csr_matrix:
    return sp.csr_matrix(
        (x.values().numpy(), x.col_indices().numpy(), x.crow_indices().numpy()), shape=x.shape
    )


def select_rows(x: Tensor, rows: Tensor) -> Tensor:
    """The rows ``rows`` of a sparse CSR tensor, as a sparse CSR tensor."""
    return csr_tensor(_scipy(x.cpu())[rows.cpu().numpy()]).to(x.device)


class _SparseLinear(torch.autograd.Function):
    """``x @ weight.T`` for a sparse CSR ``x``; the gradient goes to ``weight`` only."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor) -> Tensor:  # type: ignore[override]
        ctx.x = x
        crow = x.crow_indices()
        by_feature = weight.t()
        if not by_feature.is_contiguous():
            by_feature = by_feature.contiguous()
        return functional.embedding_bag(
            x.col_indices(),
            by_feature,
            crow[:-1],
            mode="sum",
            per_sample_weights=x.values(),
        )

    @staticmethod
    def backward(ctx, output_gradient: Tensor):  # type: ignore[override]
        x = ctx.x
        if x.device.type == "cpu":
            transposed = _scipy(x).T.tocsr()
            gradient = torch.from_numpy(transposed @ output_gradient.contiguous().numpy())
        else:
            gradient = torch.sparse.mm(x.t().to_sparse_csr(), output_gradient)
        return None, gradient.t()


def sparse_linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``functional.linear(x, weight, bias)`` for a sparse CSR ``x`` ``(B, F)``."""
    if x.shape[0] == 0:
        output = torch.zeros((0, weight.shape[0]), dtype=weight.dtype, device=weight.device)
    else:
        output = _SparseLinear.apply(x, weight)
    return output if bias is None else output + bias


class FeatureMajorLinear(nn.Module):
    """``nn.Linear``'s product and checkpoint entries, its weight stored feature by feature.

    The parameter ``weight_by_feature`` is the weight transposed (``in x out``,
    contiguous); :attr:`weight` is its ``out x in`` view, through which the layer is used
    and changed in place like an ``nn.Linear``'s. ``state_dict`` holds ``weight``
    (``out x in``) and ``bias`` as ``nn.Linear`` does, and loading accepts them (or
    ``weight_by_feature``), so checkpoints do not depend on the storage.
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.weight_by_feature = nn.Parameter(linear.weight.detach().t().contiguous())
        self.bias = linear.bias

    @property
    def weight(self) -> Tensor:
        """The ``out x in`` weight (a view of :attr:`weight_by_feature`)."""
        return self.weight_by_feature.t()

    def forward(self, x: Tensor) -> Tensor:
        return functional.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"

    def _save_to_state_dict(self, destination, prefix, keep_vars) -> None:
        weight = self.weight
        destination[prefix + "weight"] = weight if keep_vars else weight.detach()
        if self.bias is not None:
            destination[prefix + "bias"] = self.bias if keep_vars else self.bias.detach()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        key = prefix + "weight"
        if key in state_dict:
            state_dict[prefix + "weight_by_feature"] = state_dict.pop(key).t()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
