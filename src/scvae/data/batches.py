"""Minibatches for the models: rows of a count matrix, densified one minibatch at a time.

:class:`RowSource` offers what the training and evaluation loops ask of a source
(:class:`MinibatchSource`): ``number_of_examples``, ``epoch_order(rng)``,
``reading_order()`` and ``inputs_for(rows, device, noise)``. Its only policy is the
order of an epoch:

* ``"permutation"``: a random permutation of all examples (values whose store reads
  any row cheaply, i.e. in memory);
* ``"chunk_shuffled"``: the examples are cut, in store order, into blocks of
  :data:`BLOCK_ROWS`; an epoch visits the blocks in a random order, and groups of
  :data:`BUFFER_BLOCKS` consecutive blocks are shuffled together
  (:func:`chunk_shuffled_order`). A minibatch then needs only the blocks of the
  current buffer, each read in one or a few contiguous slices and kept in a small
  least-recently-used cache (values whose store reads sequentially, i.e. on disk).

The network input is the ``-p`` preprocessed values (a view of the same rows, read
with the values in one pass), or the values; with noisy preprocessing, each
minibatch's values made noisy afresh (input and target alike).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import scipy.sparse as sp
import torch

from scvae.data.matrix import CountMatrix, as_matrix, read_pair
from scvae.data.preprocessing import NoisyPreprocessing, noisy_methods
from scvae.data.processing import DEFAULTS
from scvae.distributions.entries import StoredEntries
from scvae.nn.inputs import ModelInputs
from scvae.nn.sparse import SPARSE_INPUT_DENSITY, csr_tensor, wants_sparse_input

if TYPE_CHECKING:
    from scvae.data.data_set import DataSet

#: Examples per block (the unit of reading and of the coarse shuffle).
BLOCK_ROWS = 1024

#: Blocks whose examples are shuffled together (the fine shuffle).
BUFFER_BLOCKS = 8


class MinibatchSource(Protocol):
    """What the loops ask of a source of minibatches."""

    @property
    def number_of_examples(self) -> int: ...

    def epoch_order(self, rng: np.random.Generator) -> np.ndarray: ...

    def reading_order(self) -> np.ndarray: ...

    def inputs_for(
        self, rows: np.ndarray, device: torch.device | str = "cpu", noise: Any = None
    ) -> ModelInputs: ...


def chunk_shuffled_order(
    number: int,
    rng: np.random.Generator,
    *,
    block_rows: int = BLOCK_ROWS,
    buffer_blocks: int = BUFFER_BLOCKS,
) -> np.ndarray:
    """A permutation of ``0..number-1``: blocks in random order, shuffled within buffers.

    Block ``b`` holds ``b * block_rows`` up to ``(b + 1) * block_rows``; the blocks are
    permuted, and every ``buffer_blocks`` consecutive ones have their members shuffled
    together. Uses ``rng`` only (two kinds of draws), so it is reproducible.
    """
    blocks = rng.permutation(-(-number // block_rows)) if number else np.zeros(0, np.int64)
    pieces = []
    for start in range(0, len(blocks), buffer_blocks):
        members = [
            np.arange(block * block_rows, min((block + 1) * block_rows, number))
            for block in blocks[start : start + buffer_blocks]
        ]
        pieces.append(rng.permutation(np.concatenate(members)))
    return np.concatenate(pieces) if pieces else np.zeros(0, np.int64)


@dataclass
class RowSource:
    """Examples of a count matrix with their per-example extras.

    ``library_size`` holds the count sums (``float32``), ``count_sum`` the count sums
    divided by their maximum in this subset (or ``None``), ``batch_indices`` the batch
    of each example (or ``None``). ``inputs`` is the network input (a view of the same
    examples, e.g. the preprocessed values) or ``None`` for the values. With
    ``binarise`` the targets are ``values > 0.5``. With ``noisy`` each minibatch of
    values is made noisy afresh and serves as both input and target. ``order`` is
    ``"permutation"`` or ``"chunk_shuffled"`` (``None``: as the store reads best).
    """

    matrix: CountMatrix
    library_size: np.ndarray
    count_sum: np.ndarray | None
    batch_indices: np.ndarray | None
    number_of_batches: int
    binarise: bool = False
    block_rows: int = BLOCK_ROWS
    buffer_blocks: int = BUFFER_BLOCKS
    inputs: CountMatrix | None = None
    noisy: NoisyPreprocessing | None = None
    order: str | None = None
    _cache: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _ranks: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.matrix = as_matrix(self.matrix)
        self.inputs = None if self.inputs is None else as_matrix(self.inputs)
        if self.order is None:
            self.order = "chunk_shuffled" if self.matrix.sequential else "permutation"
        if self.order not in ("permutation", "chunk_shuffled"):
            raise ValueError(f"unknown epoch order {self.order!r}")

    @property
    def number_of_examples(self) -> int:
        return self.matrix.shape[0]

    @property
    def targets(self) -> CountMatrix:
        """The values the likelihood scores."""
        return self.matrix

    @classmethod
    def from_data_set(
        cls,
        data_set: DataSet,
        *,
        count_sum: bool = False,
        batch_correction: bool = False,
        number_of_batches: int | None = None,
        binarise: bool = False,
    ) -> RowSource:
        """A loaded DataSet's values (and batches, count sums when the model needs them).

        The network input is ``data_set.preprocessed_values`` when present. With
        ``binarise`` (the Bernoulli likelihood) the targets are ``values > 0.5`` while
        the network input stays the (preprocessed) values. With noisy preprocessing
        methods, the minibatches are drawn from those instead.
        """
        matrix = as_matrix(data_set.values)
        inputs = getattr(data_set, "preprocessed_values", None)
        noisy = None
        methods = tuple(getattr(data_set, "noisy_preprocessing_methods", None) or ())
        if methods:
            noisy = NoisyPreprocessing.fit(matrix, noisy_methods(methods, bernoulli=binarise))
            inputs, binarise = None, False
        library = matrix.row_sums().astype(np.float32, copy=False)
        return RowSource(
            matrix=matrix,
            binarise=binarise,
            inputs=inputs,
            noisy=noisy,
            **per_example_arrays(data_set, library, count_sum, batch_correction, number_of_batches),
        )

    # ------------------------------------------------------------ orders
    def epoch_order(self, rng: np.random.Generator) -> np.ndarray:
        """This epoch's order of the examples (positions)."""
        if self.order == "permutation":
            return rng.permutation(np.arange(self.number_of_examples))
        shuffled = chunk_shuffled_order(
            self.number_of_examples,
            rng,
            block_rows=self.block_rows,
            buffer_blocks=self.buffer_blocks,
        )
        return self.matrix.file_order()[shuffled]

    def reading_order(self) -> np.ndarray:
        """All examples in store order (for evaluation passes; place results by rows)."""
        return self.matrix.file_order()

    # ----------------------------------------------------------- reading
    def inputs_for(
        self,
        rows: np.ndarray,
        device: torch.device | str = "cpu",
        noise: np.random.Generator | None = None,
    ) -> ModelInputs:
        """The minibatch of the examples at ``rows`` (positions), as dense tensors."""
        device = torch.device(device)
        entries = None
        rows = np.asarray(rows, dtype=np.int64)
        values, inputs = self._gather(rows)
        if self.noisy is not None:
            values.eliminate_zeros()  # checked values store no zeros
            target = x = _tensor(self.noisy(values, noise).astype(np.float32), device)
        else:
            target, entries = densified_on(values, device)
            x = _network_input(values if inputs is None else inputs, target, device)
            if x is None:
                x = target if inputs is None else _tensor(inputs, device)
            if self.binarise:
                target = (target > 0.5).float()
                entries = densified((values > 0.5).astype(np.float32))[1].to(device)
        return ModelInputs(
            x=x, target=target, target_entries=entries, **per_example_tensors(self, rows, device)
        )

    def _gather(self, rows: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
        """The values (and network inputs) of ``rows``: directly, or from cached blocks."""
        if self.order == "permutation":
            return read_pair(self.matrix, self.inputs, rows)
        ranks = self._file_ranks()[rows]
        blocks = ranks // self.block_rows
        chosen, values, inputs = [], [], []
        for block in np.unique(blocks):
            members = np.flatnonzero(blocks == block)
            local = ranks[members] - block * self.block_rows
            block_values, block_inputs = self._block(int(block))
            chosen.append(members)
            values.append(block_values[local])
            if block_inputs is not None:
                inputs.append(block_inputs[local])
        order = np.argsort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)
        gathered = _stacked(values, order, self.matrix.shape[1])
        if self.inputs is None:
            return gathered, None
        return gathered, _stacked(inputs, order, self.inputs.shape[1])

    def _block(self, block: int) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
        if block in self._cache:
            self._cache.move_to_end(block)
            return self._cache[block]
        start = block * self.block_rows
        positions = self.matrix.file_order()[start : start + self.block_rows]
        pair = read_pair(self.matrix, self.inputs, positions)
        self._cache[block] = pair
        while len(self._cache) > 2 * self.buffer_blocks:
            self._cache.popitem(last=False)
        return pair

    def _file_ranks(self) -> np.ndarray:
        """Rank of each example (position) in store order."""
        if self._ranks is None:
            order = self.matrix.file_order()
            ranks = np.empty_like(order)
            ranks[order] = np.arange(len(order))
            self._ranks = ranks
        return self._ranks


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


def per_example_tensors(source: Any, rows: np.ndarray, device: torch.device) -> dict:
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
    """``matrix[rows]`` (``matrix`` in canonical format) as a dense tensor, and its entries."""
    return densified(sp.csr_matrix(matrix)[np.asarray(rows, dtype=np.int64)])


def densified(block: sp.csr_matrix) -> tuple[torch.Tensor, StoredEntries]:
    """A CSR block as a dense tensor, and its stored entries."""
    block = canonical(block)
    entries = StoredEntries.from_csr(block.indptr, block.indices, block.data, block.shape[1])
    count, width = block.shape
    dense = np.zeros(count * width, dtype=block.data.dtype)
    dense[entries.positions.numpy()] = entries.values.numpy()
    return torch.from_numpy(dense.reshape(count, width)), entries


def densified_on(block: sp.csr_matrix, device: torch.device) -> tuple[torch.Tensor, StoredEntries]:
    """A CSR block as a dense tensor on ``device``, and its stored entries there.

    Off the CPU only the entries travel (from pinned memory, without waiting), and the
    dense block is filled on the device: a tenth of the bytes of a dense copy for
    typical counts.
    """
    if device.type == "cpu":
        return densified(block)
    block = canonical(block)
    entries = StoredEntries.from_csr(block.indptr, block.indices, block.data, block.shape[1])
    if device.type == "cuda":
        entries = entries.pin_memory()
    entries = entries.to(device)
    return filled(entries, block.shape), entries


def filled(entries: StoredEntries, shape: tuple[int, int]) -> torch.Tensor:
    """The dense ``shape`` block that ``entries`` describe, on their device."""
    values = entries.values
    dense = torch.zeros(shape[0] * shape[1], dtype=values.dtype, device=values.device)
    dense.index_copy_(0, entries.positions, values)
    return dense.view(shape)


def noise_generator(source: Any, rng: np.random.Generator | None) -> np.random.Generator | None:
    """The generator of noisy preprocessing: ``rng``, or a fixed-seed one for evaluation."""
    if getattr(source, "noisy", None) is None or rng is not None:
        return rng
    return np.random.default_rng(DEFAULTS.sampling_seed)


def minibatches(
    source: MinibatchSource,
    batch_size: int,
    *,
    rng: np.random.Generator | None = None,
    device: torch.device | str = "cpu",
) -> Iterator:
    """Yield ``(ModelInputs, rows)`` over the examples (shuffled with ``rng``).

    Without ``rng`` the examples come in reading order (store order: place results
    by ``rows``). Noisy preprocessing draws from ``rng``, or from a fixed-seed
    generator when ``rng`` is ``None`` (evaluation), so evaluations are repeatable.
    """
    device = torch.device(device)
    order = source.reading_order() if rng is None else source.epoch_order(rng)
    noise = noise_generator(source, rng)
    for start in range(0, len(order), batch_size):
        rows = np.sort(order[start : start + batch_size])
        yield source.inputs_for(rows, device, noise), rows


def _stacked(pieces: list[sp.csr_matrix], order: np.ndarray, width: int) -> sp.csr_matrix:
    """The rows of ``pieces`` stacked, then put in ``order``."""
    if not pieces:
        return sp.csr_matrix((0, width), dtype=np.float32)
    stacked = pieces[0] if len(pieces) == 1 else sp.vstack(pieces, format="csr")
    return stacked[order]


def _network_input(
    block: sp.csr_matrix, target: torch.Tensor, device: torch.device
) -> torch.Tensor | None:
    """The network input as a sparse tensor when it is wide and mostly zeros (else ``None``).

    The model's first layer then multiplies only the stored entries (on the CPU).
    """
    count, width = block.shape
    if not wants_sparse_input(width, device) or not count:
        return None
    if block.nnz > SPARSE_INPUT_DENSITY * count * width:
        return None
    block = canonical(block)
    if block.dtype != np.float32:
        block = block.astype(np.float32)
    return csr_tensor(block)


def _tensor(values: sp.csr_matrix, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(values.toarray()).to(device, non_blocking=True)
