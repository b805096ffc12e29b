"""Minibatches for the models: the matrix stays sparse, each minibatch is densified."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import torch

from scvae.distributions.entries import StoredEntries

if TYPE_CHECKING:
    from scvae.data.data_set import DataSet
    from scvae.data.preprocessing import NoisyPreprocessing
    from scvae.models.base import ModelInputs


@dataclass
class MatrixSource:
    """Everything a model reads per example, held as sparse/NumPy arrays.

    ``inputs`` is the network input (preprocessed values) or ``None`` to use
    ``targets``; ``targets`` are the values the likelihood scores. With ``noisy``
    (noisy preprocessing) each minibatch of ``targets`` is made noisy afresh and
    serves as both input and target.
    """

    targets: sp.csr_matrix
    inputs: sp.csr_matrix | None
    library_size: np.ndarray
    count_sum: np.ndarray | None
    batch_indices: np.ndarray | None
    number_of_batches: int
    noisy: NoisyPreprocessing | None = None

    def __post_init__(self) -> None:
        self.targets = canonical(self.targets)
        self.inputs = None if self.inputs is None else canonical(self.inputs)

    @property
    def number_of_examples(self) -> int:
        return self.targets.shape[0]

    @classmethod
    def from_data_set(
        cls,
        data_set: DataSet,
        *,
        count_sum: bool = False,
        batch_correction: bool = False,
        number_of_batches: int | None = None,
        binarise: bool = False,
    ) -> MatrixSource:
        """Take a loaded DataSet's values (and batches, count sums when the model needs them).

        The network input is ``data_set.preprocessed_values`` when present. With
        ``binarise`` (the Bernoulli likelihood) the targets are ``values > 0.5`` while
        the network input stays the (preprocessed) values. With noisy preprocessing
        methods, the minibatches are drawn from those instead (reference §2.10).
        """
        from scvae.data.preprocessing import NoisyPreprocessing, noisy_methods

        values = sp.csr_matrix(data_set.values, dtype=np.float32)
        library = np.asarray(values.sum(axis=1), dtype=np.float32).reshape(-1)
        inputs = getattr(data_set, "preprocessed_values", None)
        if inputs is not None:
            inputs = sp.csr_matrix(inputs, dtype=np.float32)
        targets = values
        noisy = None
        methods = tuple(getattr(data_set, "noisy_preprocessing_methods", None) or ())
        if methods:
            noisy = NoisyPreprocessing.fit(values, noisy_methods(methods, bernoulli=binarise))
            inputs, binarise = None, False
        if binarise:
            targets = (values > 0.5).astype(np.float32)
            inputs = values if inputs is None else inputs
        return cls(
            targets=targets,
            inputs=inputs,
            noisy=noisy,
            **per_example_arrays(data_set, library, count_sum, batch_correction, number_of_batches),
        )

    def epoch_order(self, rng: np.random.Generator) -> np.ndarray:
        """A random order of the examples for one epoch."""
        return rng.permutation(np.arange(self.number_of_examples))

    def reading_order(self) -> np.ndarray:
        """The examples in order (for evaluation passes)."""
        return np.arange(self.number_of_examples)

    def inputs_for(
        self,
        rows: np.ndarray,
        device: torch.device | str = "cpu",
        noise: np.random.Generator | None = None,
    ) -> ModelInputs:
        """The minibatch of the examples at ``rows`` as dense tensors on ``device``."""
        from scvae.models.base import ModelInputs

        device = torch.device(device)
        entries = None
        if self.noisy is not None:
            target = x = _noisy(self, rows, noise, device)
        else:
            target, entries = dense_rows(self.targets, rows)
            target, entries = target.to(device, non_blocking=True), entries.to(device)
            x = target
            if self.inputs is not None:
                x = dense_rows(self.inputs, rows)[0].to(device, non_blocking=True)
        tensors = per_example_tensors(self, rows, device)
        return ModelInputs(x=x, target=target, target_entries=entries, **tensors)


def per_example_arrays(
    data_set: DataSet,
    library: np.ndarray,
    count_sum: bool,
    batch_correction: bool,
    number_of_batches: int | None,
) -> dict:
    """Library sizes, normalised count sums and batch indices of a source (as fields)."""
    batches = data_set.batch_indices if batch_correction else None
    if number_of_batches is None:
        number_of_batches = data_set.number_of_batches or 0
    normalised = None
    if count_sum:
        maximum = library.max() if library.size else 0.0
        normalised = library / maximum if maximum > 0 else np.zeros_like(library)
    return {
        "library_size": library,
        "count_sum": normalised,
        "batch_indices": None if batches is None else np.asarray(batches, dtype=np.int64),
        "number_of_batches": number_of_batches if batches is not None else 0,
    }


def per_example_tensors(source, rows: np.ndarray, device: torch.device) -> dict:
    """``library_size``, ``count_sum`` and one-hot ``batch`` of ``rows`` as tensors."""
    batch = None
    if source.batch_indices is not None:
        indices = torch.from_numpy(source.batch_indices[rows]).to(device)
        batch = torch.nn.functional.one_hot(indices, source.number_of_batches).float()
    count_sum = None
    if source.count_sum is not None:
        count_sum = torch.from_numpy(source.count_sum[rows]).to(device).unsqueeze(1)
    library = torch.from_numpy(source.library_size[rows]).to(device).unsqueeze(1)
    return {"library_size": library, "count_sum": count_sum, "batch": batch}


def canonical(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """``matrix`` with sorted column indices and no duplicate entries (a copy if needed)."""
    if matrix.has_canonical_format:
        return matrix
    matrix = matrix.copy()
    matrix.sum_duplicates()
    return matrix


def dense_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> tuple[torch.Tensor, StoredEntries]:
    """``matrix[rows]`` as a dense tensor, and its stored entries.

    Gathered straight from the CSR arrays (``matrix`` in canonical format): a few
    vectorised NumPy steps, without building the intermediate sparse matrix.
    """
    rows = np.asarray(rows, dtype=np.int64)
    starts = matrix.indptr[rows].astype(np.int64)
    lengths = matrix.indptr[rows + 1] - starts
    indptr = np.zeros(rows.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    taken = np.arange(indptr[-1], dtype=np.int64) + np.repeat(starts - indptr[:-1], lengths)
    return _densified(indptr, matrix.indices[taken], matrix.data[taken], matrix.shape[1])


def densified(block: sp.csr_matrix) -> tuple[torch.Tensor, StoredEntries]:
    """A CSR block as a dense tensor, and its stored entries."""
    block = canonical(block)
    return _densified(block.indptr, block.indices, block.data, block.shape[1])


def _densified(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, width: int
) -> tuple[torch.Tensor, StoredEntries]:
    entries = StoredEntries.from_csr(indptr, indices, data, width)
    count = len(indptr) - 1
    dense = np.zeros(count * width, dtype=data.dtype)
    dense[entries.positions.numpy()] = entries.values.numpy()
    return torch.from_numpy(dense.reshape(count, width)), entries


def _noisy(source: MatrixSource, rows: np.ndarray, rng, device: torch.device) -> torch.Tensor:
    values = source.noisy(source.targets[rows], rng).astype(np.float32)
    return torch.from_numpy(values.toarray()).to(device, non_blocking=True)


def noise_generator(source, rng: np.random.Generator | None) -> np.random.Generator | None:
    """The generator of noisy preprocessing: ``rng``, or a fixed-seed one for evaluation."""
    if getattr(source, "noisy", None) is None or rng is not None:
        return rng
    from scvae.data.processing import DEFAULTS

    return np.random.default_rng(DEFAULTS.sampling_seed)


def minibatches(
    source: MatrixSource,
    batch_size: int,
    *,
    rng: np.random.Generator | None = None,
    device: torch.device | str = "cpu",
) -> Iterator:
    """Yield ``(ModelInputs, rows)`` over the examples (shuffled with ``rng``).

    Any source with ``epoch_order``, ``reading_order`` and ``inputs_for`` works (e.g.
    :class:`~scvae.data.backed_source.BackedSource`, whose reading order is the file
    order: place results by ``rows``). Noisy preprocessing draws from ``rng``, or from
    a fixed-seed generator when ``rng`` is ``None`` (evaluation), so evaluations are
    repeatable.
    """
    device = torch.device(device)
    order = source.reading_order() if rng is None else source.epoch_order(rng)
    noise = noise_generator(source, rng)
    for start in range(0, len(order), batch_size):
        rows = np.sort(order[start : start + batch_size])
        yield source.inputs_for(rows, device, noise), rows
