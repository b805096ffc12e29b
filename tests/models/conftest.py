"""Fixtures of the model tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scvae.models import ModelInputs


class CellsInFileOrder:
    """The minimal row source the component placement reads: counts in file order, with
    log1p(counts) as the network input."""

    def __init__(self, counts: torch.Tensor) -> None:
        self.counts = counts

    def reading_order(self) -> np.ndarray:
        return np.arange(len(self.counts))

    def inputs_for(self, rows, device, noise) -> ModelInputs:
        counts = self.counts[torch.as_tensor(rows)]
        return ModelInputs.from_counts(counts, x=torch.log1p(counts))


@pytest.fixture
def cells_in_file_order() -> type[CellsInFileOrder]:
    """The class :class:`CellsInFileOrder` (a source of cells for the placement)."""
    return CellsInFileOrder


def _three_types(number: int) -> tuple[np.ndarray, torch.Tensor]:
    """``number`` cells of three types, each with 7 of 21 genes at a mean of 8 (else 0.2):
    ``(type of each cell, Poisson counts)``."""
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 3, size=number)
    programmes = np.full((3, 21), 0.2)
    for group in range(3):
        programmes[group, 7 * group : 7 * (group + 1)] = 8.0
    return groups, torch.tensor(rng.poisson(programmes[groups]), dtype=torch.float32)


@pytest.fixture
def three_cell_types():
    """A function of ``number`` giving that many cells of three types (see ``_three_types``)."""
    return _three_types
