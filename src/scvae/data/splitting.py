"""Seeded splits into training, validation and test sets (``--split-data-set``).

Every function here returns index arrays (``int64``) into the full data set, never
copies of the values. Subsets are cut from those indices by the caller.

Sizes are ``floor`` of a product, as in scVAE 2.1.4, with one deliberate change: a
product that binary floating point puts a hair below a whole number (for example
``(1 - 0.9) * 10 == 0.9999999999999998``) counts as that whole number.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np

from scvae.errors import ConfigError, DataError

#: Splitting methods accepted by :func:`split_indices`.
SPLITTING_METHODS = ("default", "random", "sequential", "indices", "macosko")

#: Subset names, in order.
SUBSETS = ("training", "validation", "test")

#: Examples with more non-zero features than this form the ``macosko`` training set.
MACOSKO_MINIMUM_NONZERO = 900

_EPSILON = 1e-9


def resolve_method(method: str, has_predefined: bool) -> str:
    """Resolve ``default`` to ``indices`` (predefined split present) or ``random``.

    Raises
    ------
    ConfigError
        For an unknown method name.
    """
    _check_method(method)
    if method == "default":
        return "indices" if has_predefined else "random"
    return method


def split_directory_name(
    method: str | None, fraction: float = 0.9, has_predefined: bool = False
) -> str:
    """Name of the split folder: ``split-random_0.9``, ``split-indices`` or ``no_split``.

    ``method=None`` means the data set is not split. ``default`` is resolved first
    (:func:`resolve_method`). A split by predefined indices ignores the fraction, so
    its folder is always ``split-indices`` (2.1.4 added the fraction when the data set
    had fewer than three index sets; that is not repeated here).
    """
    if method is None:
        return "no_split"
    resolved = resolve_method(method, has_predefined)
    if resolved == "indices":
        return "split-indices"
    _check_fraction(fraction)
    return f"split-{resolved}_{float(fraction)!r}"


def split_indices(
    number_of_examples: int,
    method: str = "default",
    fraction: float = 0.9,
    *,
    seed: int = 42,
    predefined: Mapping[str, np.ndarray] | None = None,
    nonzero_counts: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Indices of the training, validation and test examples.

    Parameters
    ----------
    number_of_examples
        Size N of the full data set.
    method
        ``random``, ``sequential``, ``indices``, ``macosko`` or ``default``.
    fraction
        f in (0, 1): N_tv = floor(f N) examples for training plus validation, of which
        N_train = floor(f N_tv) are for training (``random``/``sequential``);
        for ``macosko`` floor((1 - f) M) of the M remaining examples go to validation.
    seed
        Seed of the ``numpy.random.RandomState`` used to shuffle.
    predefined
        The data set's own split (``"training"``, ``"test"``, optional ``"validation"``).
    nonzero_counts
        Number of non-zero features per example (``macosko`` only).

    Returns
    -------
    dict
        ``{"training": ..., "validation": ..., "test": ...}``, each an ``int64`` array.
    """
    _check_fraction(fraction)
    n = int(number_of_examples)
    if n < 0:
        raise ValueError(f"number_of_examples must be non-negative, got {number_of_examples}")
    resolved = resolve_method(method, predefined is not None)
    if resolved == "random":
        order = np.random.RandomState(seed).permutation(n)
        return _cut(order, fraction)
    if resolved == "sequential":
        return _cut(np.arange(n), fraction)
    if resolved == "indices":
        return _predefined(n, predefined)
    return _macosko(n, fraction, seed, nonzero_counts)


def _check_method(method: str) -> None:
    if method not in SPLITTING_METHODS:
        known = ", ".join(SPLITTING_METHODS)
        raise ConfigError(f"unknown splitting method '{method}' (methods: {known})")


def _check_fraction(fraction: float) -> None:
    if not (
        isinstance(fraction, numbers.Real) and not isinstance(fraction, bool) and 0 < fraction < 1
    ):
        raise ConfigError(
            f"the splitting fraction must lie strictly between 0 and 1, got {fraction}"
        )


def _floor(value: float) -> int:
    """``floor`` that forgives binary rounding just below a whole number."""
    return math.floor(value + _EPSILON * max(1.0, abs(value)))


def _cut(order: np.ndarray, fraction: float) -> dict[str, np.ndarray]:
    n = len(order)
    n_training_validation = _floor(fraction * n)
    n_training = _floor(fraction * n_training_validation)
    order = order.astype(np.int64, copy=False)
    return {
        "training": order[:n_training],
        "validation": order[n_training:n_training_validation],
        "test": order[n_training_validation:],
    }


def _predefined(n: int, predefined: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    if predefined is None:
        raise ConfigError("the splitting method 'indices' needs a data set with split indices")
    missing = [kind for kind in ("training", "test") if predefined.get(kind) is None]
    if missing:
        raise DataError(None, f"the split indices lack the {' and '.join(missing)} set")
    subsets = {kind: _as_indices(predefined[kind], n, kind) for kind in ("training", "test")}
    validation = predefined.get("validation")
    if validation is not None:
        subsets["validation"] = _as_indices(validation, n, "validation")
    else:
        # No validation set: the last |test| training examples become validation.
        training = subsets["training"]
        cut = max(len(training) - len(subsets["test"]), 0)
        subsets["training"], subsets["validation"] = training[:cut], training[cut:]
    return {kind: subsets[kind] for kind in SUBSETS}


def _as_indices(indices: np.ndarray, n: int, kind: str) -> np.ndarray:
    array = np.asarray(indices)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise DataError(None, f"the {kind} split indices are not integers")
    array = array.astype(np.int64).ravel()
    if array.size and (array.min() < 0 or array.max() >= n):
        raise DataError(
            None, f"the {kind} split indices fall outside 0..{n - 1} (there are {n} examples)"
        )
    return array


def _macosko(
    n: int, fraction: float, seed: int, nonzero_counts: np.ndarray | None
) -> dict[str, np.ndarray]:
    if nonzero_counts is None:
        raise ValueError("the 'macosko' splitting method needs the non-zero counts per example")
    counts = np.asarray(nonzero_counts).ravel()
    if counts.shape[0] != n:
        raise ValueError(f"nonzero_counts has {counts.shape[0]} entries for {n} examples")
    rich = counts > MACOSKO_MINIMUM_NONZERO
    rest = np.flatnonzero(~rich).astype(np.int64)
    rest = rest[np.random.RandomState(seed).permutation(len(rest))]
    n_validation = _floor((1 - fraction) * len(rest))
    return {
        "training": np.flatnonzero(rich).astype(np.int64),
        "validation": rest[:n_validation],
        "test": rest[n_validation:],
    }
