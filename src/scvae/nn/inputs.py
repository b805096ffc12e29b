"""``ModelInputs``: the tensors of one minibatch, the contract between data and models.

The data package builds them (one per minibatch) and the models read them; neither
package imports the other, both import this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from scvae.distributions.entries import StoredEntries
from scvae.nn.sparse import is_sparse, select_rows

__all__ = ["ModelInputs"]


@dataclass
class ModelInputs:
    """The tensors of one minibatch.

    Attributes
    ----------
    x
        Network input ``(B, F)`` (preprocessed values): dense, or a sparse CSR tensor
        for wide, mostly-zero inputs on the CPU (see :mod:`scvae.nn.sparse`).
    target
        Values scored by the likelihood ``(B, F)`` (e.g. raw or binarised counts).
    library_size
        Raw count sums ``(B, 1)``; the scale of ``constrained_poisson``.
    count_sum
        Count sums divided by their maximum in the data subset ``(B, 1)``, or ``None``.
    batch
        One-hot batch indices ``(B, number_of_batches)``, or ``None``.
    target_entries
        Where ``target``'s non-zero values are (the stored entries of the sparse
        minibatch, see :class:`~scvae.distributions.entries.StoredEntries`), or ``None``
        (found when needed).
    """

    x: Tensor
    target: Tensor
    library_size: Tensor
    count_sum: Tensor | None = None
    batch: Tensor | None = None
    target_entries: StoredEntries | None = None

    @classmethod
    def from_counts(
        cls,
        counts: Tensor,
        *,
        x: Tensor | None = None,
        batch: Tensor | None = None,
        count_sum_maximum: float | None = None,
    ) -> ModelInputs:
        """Inputs whose target is ``counts`` (and whose network input is ``x`` or ``counts``).

        With ``count_sum_maximum`` the normalised count sum is set too.
        """
        library_size = counts.sum(dim=-1, keepdim=True)
        count_sum = None if count_sum_maximum is None else library_size / count_sum_maximum
        network_input = counts if x is None else x
        return cls(network_input, counts, library_size, count_sum, batch)

    def to(self, device: torch.device | str) -> ModelInputs:
        """The same inputs on ``device``."""
        values = [self.x, self.target, self.library_size, self.count_sum, self.batch]
        values.append(self.target_entries)
        moved = [None if value is None else value.to(device) for value in values]
        return ModelInputs(*moved)  # type: ignore[arg-type]

    def select(self, rows: Tensor) -> ModelInputs:
        """The inputs of the examples at ``rows`` (an index tensor)."""
        values = [self.target, self.library_size, self.count_sum, self.batch]
        chosen = [None if value is None else value[rows] for value in values]
        x = select_rows(self.x, rows) if is_sparse(self.x) else self.x[rows]
        return ModelInputs(x, *chosen)  # type: ignore[arg-type]  # non-zeros found anew

    @property
    def size(self) -> int:
        """Number of examples ``B``."""
        return self.x.shape[0]
