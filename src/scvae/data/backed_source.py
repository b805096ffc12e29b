"""Minibatches streamed from backed values, shuffled by chunks so reads stay sequential.

:class:`BackedSource` offers what the training loop asks of a source
(:class:`~scvae.data.loader.MatrixSource` offers the same): ``number_of_examples``,
``epoch_order(rng)``, ``reading_order()`` and ``inputs_for(rows, device)``.

The examples are cut, in file order, into blocks of :data:`BLOCK_ROWS` examples. An
epoch visits the blocks in a random order; groups of :data:`BUFFER_BLOCKS` consecutive
blocks form a buffer whose examples are shuffled together
(:func:`chunk_shuffled_order`). A minibatch therefore needs only the blocks of the
current buffer, each read in one or a few contiguous slices and kept in a small
least-recently-used cache. Memory held: the cache (at most ``2 * BUFFER_BLOCKS``
blocks), plus a few numbers per example (library size, batch index, orders).

The network input is what :class:`~scvae.data.loader.MatrixSource` feeds: the ``-p``
preprocessed values (a backed view of the same rows, read with the values in one
pass over the file), or the values; with noisy preprocessing, each minibatch's values
made noisy afresh (input and target alike).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
import torch

from scvae.data.backed import BackedMatrix, is_backed, read_pair
from scvae.errors import NotSupportedYet

if TYPE_CHECKING:
    from scvae.data.data_set import DataSet
    from scvae.data.preprocessing import NoisyPreprocessing
    from scvae.models.base import ModelInputs

#: Examples per block (the unit of reading and of the coarse shuffle).
BLOCK_ROWS = 1024

#: Blocks whose examples are shuffled together (the fine shuffle).
BUFFER_BLOCKS = 8


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
class BackedSource:
    """Examples of a backed matrix (a file or a view) with their per-example extras.

    ``library_size`` holds the count sums (``float32``), ``count_sum`` the count sums
    divided by their maximum in this subset (or ``None``), ``batch_indices`` the batch
    of each example (or ``None``). ``inputs`` is the network input (a view of the same
    examples, e.g. the preprocessed values) or ``None`` for the values. With
    ``binarise`` the targets are ``values > 0.5``. With ``noisy`` each minibatch of
    values is made noisy afresh and serves as both input and target.
    """

    matrix: BackedMatrix
    library_size: np.ndarray
    count_sum: np.ndarray | None
    batch_indices: np.ndarray | None
    number_of_batches: int
    binarise: bool = False
    block_rows: int = BLOCK_ROWS
    buffer_blocks: int = BUFFER_BLOCKS
    inputs: BackedMatrix | None = None
    noisy: NoisyPreprocessing | None = None
    _cache: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _ranks: np.ndarray | None = field(default=None, repr=False)

    @property
    def number_of_examples(self) -> int:
        return self.matrix.shape[0]

    @classmethod
    def from_data_set(
        cls,
        data_set: DataSet,
        *,
        count_sum: bool = False,
        batch_correction: bool = False,
        number_of_batches: int | None = None,
        binarise: bool = False,
    ) -> BackedSource:
        """The backed counterpart of :meth:`MatrixSource.from_data_set`."""
        from scvae.data.loader import per_example_arrays

        matrix = data_set.values
        inputs = getattr(data_set, "preprocessed_values", None)
        if inputs is not None and not is_backed(inputs):
            raise NotSupportedYet("in-memory preprocessed values with backed values")
        noisy = None
        methods = tuple(getattr(data_set, "noisy_preprocessing_methods", None) or ())
        if methods:
            noisy = _fit_noisy(matrix, methods, binarise)
            inputs, binarise = None, False
        library = matrix.row_sums().astype(np.float32, copy=False)
        return cls(
            matrix=matrix,
            binarise=binarise,
            inputs=inputs,
            noisy=noisy,
            **per_example_arrays(data_set, library, count_sum, batch_correction, number_of_batches),
        )

    # ------------------------------------------------------------ orders
    def epoch_order(self, rng: np.random.Generator) -> np.ndarray:
        """This epoch's order of the examples (positions), shuffled by chunks."""
        shuffled = chunk_shuffled_order(
            self.number_of_examples,
            rng,
            block_rows=self.block_rows,
            buffer_blocks=self.buffer_blocks,
        )
        return self.matrix.file_order()[shuffled]

    def reading_order(self) -> np.ndarray:
        """All examples in file order (for evaluation passes)."""
        return self.matrix.file_order()

    # ----------------------------------------------------------- reading
    def inputs_for(
        self,
        rows: np.ndarray,
        device: torch.device | str = "cpu",
        noise: np.random.Generator | None = None,
    ) -> ModelInputs:
        """The minibatch of the examples at ``rows`` (positions), as dense tensors."""
        from scvae.data.loader import densified, per_example_tensors
        from scvae.models.base import ModelInputs

        device = torch.device(device)
        entries = None
        rows = np.asarray(rows, dtype=np.int64)
        values, inputs = self._gather(rows)
        if self.noisy is not None:
            values.eliminate_zeros()  # as in memory: checked values store no zeros
            target = x = _tensor(self.noisy(values, noise).astype(np.float32), device)
        else:
            target, entries = densified(values)
            target, entries = target.to(device, non_blocking=True), entries.to(device)
            x = target if inputs is None else _tensor(inputs, device)
            if self.binarise:
                target, entries = (target > 0.5).float(), None
        return ModelInputs(
            x=x, target=target, target_entries=entries, **per_example_tensors(self, rows, device)
        )

    def _gather(self, rows: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
        """The values (and network inputs) of ``rows``, from the cached blocks they fall in."""
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
        """Rank of each example (position) in file order."""
        if self._ranks is None:
            order = self.matrix.file_order()
            ranks = np.empty_like(order)
            ranks[order] = np.arange(len(order))
            self._ranks = ranks
        return self._ranks


def _stacked(pieces: list[sp.csr_matrix], order: np.ndarray, width: int) -> sp.csr_matrix:
    """The rows of ``pieces`` stacked, then put in ``order``."""
    if not pieces:
        return sp.csr_matrix((0, width), dtype=np.float32)
    stacked = pieces[0] if len(pieces) == 1 else sp.vstack(pieces, format="csr")
    return stacked[order]


def _tensor(values: sp.csr_matrix, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(values.toarray()).to(device, non_blocking=True)


def _fit_noisy(matrix: BackedMatrix, methods: tuple[str, ...], binarise: bool):
    """Noisy preprocessing fitted to the served values (no stored zeros), in chunks."""
    from scvae.data.chunked import iter_row_chunks
    from scvae.data.preprocessing import NoisyPreprocessing, noisy_methods

    def chunks():
        for positions, chunk in iter_row_chunks(matrix):
            chunk.eliminate_zeros()
            yield positions, chunk

    noisy = noisy_methods(methods, bernoulli=binarise)
    return NoisyPreprocessing.fit_chunks(chunks, noisy, *matrix.shape)


def source_for(data_set: DataSet, **options: Any) -> Any:
    """A :class:`BackedSource` for backed values, else a :class:`MatrixSource`."""
    if is_backed(data_set.values):
        return BackedSource.from_data_set(data_set, **options)
    from scvae.data.loader import MatrixSource

    return MatrixSource.from_data_set(data_set, **options)
