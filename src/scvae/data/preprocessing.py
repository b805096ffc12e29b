"""Preprocessing of the network input (``-p``) and noisy preprocessing
(``--noisy-preprocessing-methods``) on CSR matrices (docs/data-processing.md).

* :func:`preprocess`: ``log``, ``exp``, ``normalise``, ``binarise``,
  ``bernoulli_sample``, in the order given (a new matrix; the input is not changed);
* :class:`RowwisePreprocessing`: the same methods applied to minibatches as they are
  read (backed data), with the whole-matrix statistics they need computed beforehand;
* :class:`NoisyPreprocessing`: the noisy methods applied afresh to each minibatch.

The likelihood always scores the counts; only the network sees these values. Method
parameters (e.g. the sampling seed) come from :data:`scvae.data.processing.DEFAULTS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from scvae.data.matrix import CountMatrix, as_matrix
from scvae.data.processing import DEFAULTS
from scvae.data.statistics import Chunks, add_by_column
from scvae.errors import ConfigError

PREPROCESSING_METHODS = ("log", "exp", "normalise", "binarise", "bernoulli_sample")
STOCHASTIC_METHODS = frozenset({"bernoulli_sample"})


def check_preprocessing_methods(methods: Sequence[str], option: str = "--preprocessing-methods"):
    """Raise :class:`ConfigError` for an unknown method name."""
    for method in methods:
        if method not in PREPROCESSING_METHODS:
            known = ", ".join(PREPROCESSING_METHODS)
            raise ConfigError(f"{option}: unknown method {method!r} (known: {known})")


def preprocess(
    values: Any, methods: Sequence[str], *, rng: np.random.Generator | None = None
) -> sp.csr_matrix:
    """Apply preprocessing methods in order to a whole in-memory matrix; returns a new CSR.

    ``log`` is log(1 + x) and ``exp`` is exp(x) - 1 (both keep zeros and sparsity);
    ``normalise`` divides each feature column by its L2 norm (all-zero columns stay
    zero); ``binarise`` is 1 where x > 0.5, else 0; ``bernoulli_sample`` draws 1 with
    probability x (x must lie in [0, 1]) using ``rng`` (default: seeded with
    ``DEFAULTS.sampling_seed``, so results are reproducible).

    The pipeline uses :func:`preprocessed_view`, which gives the same rows for the
    default ``rng`` without holding the result.
    """
    check_preprocessing_methods(methods)
    if rng is None:
        rng = np.random.default_rng(DEFAULTS.sampling_seed)
    result = _float_copy(values)
    for method in methods:
        scale = _column_norms(result) if method == "normalise" else None
        result = _step(result, method, _sequential(rng), scale)
    return result


def preprocessed_view(values: CountMatrix, methods: Sequence[str]) -> CountMatrix:
    """A view of ``values`` that preprocesses the rows it reads, as :func:`preprocess` does.

    The whole-matrix statistics are fitted first, in chunks (see
    :class:`RowwisePreprocessing`); draws come from ``DEFAULTS.sampling_seed``.
    """
    check_preprocessing_methods(methods)
    n, f = values.shape
    plan = fit_preprocessing(lambda: values.iter_chunks(raw=True), methods, n, f)
    return values.preprocessed(plan)


@dataclass(frozen=True, eq=False)
class RowwisePreprocessing:
    """Preprocessing methods applied to any rows, as :func:`preprocess` does to all rows.

    The whole-matrix statistics come fitted (:func:`fit_preprocessing`):
    the column norms of every ``normalise`` step and, for every ``bernoulli_sample``
    step, where each row's draws start in the stream of ``default_rng(seed)`` (the whole
    matrix draws one number per stored value, row after row, step after step). Row ``r`` of
    the result equals row ``r`` of :func:`preprocess` applied to the whole matrix.
    """

    methods: tuple[str, ...]
    norms: tuple[np.ndarray | None, ...]
    starts: tuple[np.ndarray | None, ...]
    seed: int = DEFAULTS.sampling_seed

    def __call__(self, values: sp.spmatrix, rows: np.ndarray) -> sp.csr_matrix:
        """The preprocessed ``values``, which hold the rows ``rows`` of the fitted matrix."""
        result = _float_copy(values)
        rows = np.asarray(rows, dtype=np.int64)
        for method, norms, starts in zip(self.methods, self.norms, self.starts, strict=True):
            draw = None if starts is None else _drawn_at(self.seed, starts[rows])
            result = _step(result, method, draw, norms)
        return result

    def reindexed(self, rows: np.ndarray, size: int) -> RowwisePreprocessing:
        """The same, with the statistics of row ``i`` moved to row ``rows[i]`` of ``size``."""

        def moved(starts: np.ndarray | None) -> np.ndarray | None:
            if starts is None:
                return None
            result = np.zeros(size, dtype=np.int64)
            result[rows] = starts
            return result

        return RowwisePreprocessing(
            self.methods, self.norms, tuple(moved(s) for s in self.starts), self.seed
        )


def noisy_methods(methods: Sequence[str], *, bernoulli: bool = False) -> tuple[str, ...]:
    """The noisy variant of a method list: ``binarise`` becomes ``bernoulli_sample``.

    With ``bernoulli`` (the Bernoulli likelihood) and a non-empty list whose last
    method is not ``binarise``, ``bernoulli_sample`` is appended, so the input is
    always a Bernoulli draw.
    """
    check_preprocessing_methods(methods, "--noisy-preprocessing-methods")
    noisy = ["bernoulli_sample" if method == "binarise" else method for method in methods]
    if bernoulli and methods and methods[-1] != "binarise":
        noisy.append("bernoulli_sample")
    return tuple(noisy)


@dataclass(frozen=True)
class NoisyPreprocessing:
    """Noisy preprocessing applied afresh to each minibatch.

    Element-wise methods act on the minibatch alone. ``normalise`` needs column
    norms over the whole set: :meth:`fit` computes them once, passing the whole
    matrix through the preceding methods (stochastic ones drawn once with
    ``DEFAULTS.sampling_seed``), and every minibatch is divided by those norms.
    """

    methods: tuple[str, ...]
    column_norms: tuple[np.ndarray | None, ...]

    @classmethod
    def fit(cls, values: Any, methods: Sequence[str]) -> NoisyPreprocessing:
        """Prepare ``methods`` (already noisy, see :func:`noisy_methods`) for ``values``."""
        matrix = as_matrix(values)
        n, f = matrix.shape

        def chunks():  # served values without stored zeros, as checked values hold them
            for positions, chunk in matrix.iter_chunks():
                chunk.eliminate_zeros()
                yield positions, chunk

        return cls.fit_chunks(chunks, methods, n, f)

    @classmethod
    def fit_chunks(
        cls, chunks: Chunks, methods: Sequence[str], n: int, f: int
    ) -> NoisyPreprocessing:
        """:meth:`fit` to an n x f matrix given in chunks ``(rows, csr)``."""
        methods = tuple(methods)
        check_preprocessing_methods(methods, "--noisy-preprocessing-methods")
        last = max((k + 1 for k, method in enumerate(methods) if method == "normalise"), default=0)
        return cls(methods, fit_preprocessing(chunks, methods, n, f, until=last).norms)

    def __call__(self, values: sp.spmatrix, rng: np.random.Generator) -> sp.csr_matrix:
        """A new CSR matrix: ``values`` (some rows of the fitted set) made noisy."""
        result = _float_copy(values)
        for method, norms in zip(self.methods, self.column_norms, strict=True):
            result = _step(result, method, _sequential(rng), norms)
        return result


def fit_preprocessing(
    chunks: Chunks,
    methods: Sequence[str],
    n: int,
    f: int,
    *,
    until: int | None = None,
    seed: int | None = None,
) -> RowwisePreprocessing:
    """Fit the whole-matrix statistics of ``methods`` to an n x f matrix given in chunks.

    ``chunks()`` yields ``(rows, csr)`` afresh; each ``normalise`` step takes one pass
    (column norms of its input, summed in row order as
    :func:`preprocess` sums them)
    and so does each ``bernoulli_sample`` step (the stored values of its input per row,
    which place each row's draws). Only the first ``until`` steps are fitted.
    """
    seed = DEFAULTS.sampling_seed if seed is None else seed
    methods = tuple(methods)
    norms: list[np.ndarray | None] = [None] * len(methods)
    starts: list[np.ndarray | None] = [None] * len(methods)
    drawn = 0
    for k, method in enumerate(methods[: len(methods) if until is None else until]):
        if method not in ("normalise", "bernoulli_sample"):
            continue
        before = RowwisePreprocessing(methods[:k], tuple(norms[:k]), tuple(starts[:k]), seed)
        squares, counts = np.zeros(f), np.zeros(n, dtype=np.int64)
        for rows, chunk in chunks():
            current = before(chunk, rows)
            if method == "normalise":
                weights = current.data.astype(np.float64) ** 2
                squares = add_by_column(squares, current.indices, weights)
            else:
                check_probabilities(current.data)
                counts[rows] = np.diff(current.indptr)
        if method == "normalise":
            norms[k] = np.sqrt(squares)
        else:
            starts[k] = drawn + np.cumsum(counts) - counts
            drawn += int(counts.sum())
    return RowwisePreprocessing(methods, tuple(norms), tuple(starts), seed)


_Draw = Callable[[sp.csr_matrix], np.ndarray]


def _sequential(rng: np.random.Generator) -> _Draw:
    """Uniform draws for every stored value of a matrix, the next ones of ``rng``."""
    return lambda values: rng.random(values.data.size)


def _drawn_at(seed: int, starts: np.ndarray) -> _Draw:
    """Uniform draws for every stored value, row ``i``'s from position ``starts[i]`` on
    in the stream of ``default_rng(seed)`` (PCG64, one 64-bit step per draw)."""

    def draw(values: sp.csr_matrix) -> np.ndarray:
        counts = np.diff(values.indptr)
        uniforms = np.empty(int(counts.sum()))
        generator = np.random.default_rng(seed)
        initial = generator.bit_generator.state
        first, size = starts[counts > 0], counts[counts > 0]
        cuts = np.flatnonzero(first[1:] != first[:-1] + size[:-1]) + 1
        at = 0
        for run in np.split(np.arange(len(first)), cuts):
            if len(run) == 0:
                continue
            length = int(size[run].sum())
            generator.bit_generator.state = initial
            generator.bit_generator.advance(int(first[run[0]]))
            uniforms[at : at + length] = generator.random(length)
            at += length
        return uniforms

    return draw


def _float_copy(values: sp.spmatrix) -> sp.csr_matrix:
    values = sp.csr_matrix(values)
    dtype = np.result_type(values.dtype, np.float32)
    result = values.astype(dtype, copy=True)
    result.sort_indices()
    return result


def _column_norms(values: sp.csr_matrix) -> np.ndarray:
    data = values.data.astype(np.float64)
    return np.sqrt(np.bincount(values.indices, weights=data**2, minlength=values.shape[1]))


def check_probabilities(data: np.ndarray) -> None:
    if data.size and not (np.all(data >= 0) and np.all(data <= 1)):
        raise ConfigError(
            "bernoulli_sample needs values between 0 and 1; put normalise (or a scaling) before it"
        )


def _step(
    values: sp.csr_matrix, method: str, draw: _Draw | None, norms: np.ndarray | None
) -> sp.csr_matrix:
    """One method on a matrix this module owns (its data may be changed in place)."""
    data = values.data
    if method == "log":
        np.log1p(data, out=data)
    elif method == "exp":
        np.expm1(data, out=data)
    elif method == "normalise":
        divisor = norms[values.indices]
        np.divide(data, divisor, out=data, where=divisor > 0)
    elif method == "binarise":
        values.data = (data > 0.5).astype(data.dtype)
        values.eliminate_zeros()
    else:
        check_probabilities(data)
        values.data = (draw(values) < data).astype(data.dtype)
        values.eliminate_zeros()
    return values
