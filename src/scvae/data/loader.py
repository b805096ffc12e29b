"""Former home of the in-memory minibatch source; see :mod:`scvae.data.batches`.

Kept for one release so that old imports keep working.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scvae.data.batches import (
    RowSource,
    canonical,
    dense_rows,
    densified,
    minibatches,
    noise_generator,
    per_example_arrays,
    per_example_tensors,
)

__all__ = [
    "MatrixSource",
    "canonical",
    "dense_rows",
    "densified",
    "minibatches",
    "noise_generator",
    "per_example_arrays",
    "per_example_tensors",
]


class MatrixSource(RowSource):
    """A :class:`~scvae.data.batches.RowSource` built from its former fields (targets first)."""

    def __init__(
        self,
        targets: Any,
        inputs: Any,
        library_size: np.ndarray,
        count_sum: np.ndarray | None,
        batch_indices: np.ndarray | None,
        number_of_batches: int,
        noisy: Any = None,
    ) -> None:
        super().__init__(
            targets,
            library_size,
            count_sum,
            batch_indices,
            number_of_batches,
            inputs=inputs,
            noisy=noisy,
        )
