"""Pure processing functions on count matrices: feature mapping, selection, example
filters and label supersets (docs/data-processing.md).

Nothing here mutates its input or densifies a whole matrix. Selections and filters
return index arrays; the caller cuts every per-example or per-feature array with them.

* :func:`map_features` sums the columns of feature ids that share a feature name.
* :func:`select_features` (``-F``): ``remove_zeros``, ``keep_variances_above [t]``,
  ``keep_highest_variances [n]``. Variances are *population* variances (divided by N,
  ``ddof=0``), as in scVAE 2.1.4; they are computed from the stored entries only.
* :func:`filter_examples` (``-E``): ``macosko``, ``inverse_macosko``, ``keep C..``,
  ``remove C..``, ``excluded_classes``, ``remove_count_sum_above N``, ``random N``.
* Preprocessing (``-p``) and noisy preprocessing live in :mod:`scvae.data.preprocessing`.

The default parameters of these methods live in :data:`DEFAULTS`.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from scvae.data import statistics
from scvae.data.matrix import CountMatrix, as_matrix, sum_columns
from scvae.data.splitting import MACOSKO_MINIMUM_NONZERO
from scvae.errors import ConfigError, DataError

if TYPE_CHECKING:
    from scvae.data.statistics import FeatureStatistics

__all__ = [
    "DEFAULTS",
    "choose_features",
    "filter_examples",
    "map_features",
    "select_features",
    "sum_columns",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MethodDefaults:
    """Default parameters of the processing methods.

    Attributes
    ----------
    variance_threshold
        ``keep_variances_above`` without a threshold.
    highest_variances_fraction
        ``keep_highest_variances`` without a number keeps ``floor(fraction * F)``.
    macosko_minimum_nonzero
        ``macosko`` keeps examples with more non-zero features than this.
    random_filter_seed
        Seed of the ``numpy.random.RandomState`` of the ``random`` example filter.
    sampling_seed
        Seed of the generator for ``bernoulli_sample`` in (cached) ``-p`` preprocessing
        and for fitting noisy ``normalise`` steps.
    """

    variance_threshold: float = 0.5
    highest_variances_fraction: float = 0.5
    macosko_minimum_nonzero: int = MACOSKO_MINIMUM_NONZERO
    random_filter_seed: int = 90
    sampling_seed: int = 0


DEFAULTS = MethodDefaults()

FEATURE_SELECTION_METHODS = ("remove_zeros", "keep_variances_above", "keep_highest_variances")
EXAMPLE_FILTER_METHODS = (
    "macosko",
    "inverse_macosko",
    "keep",
    "remove",
    "excluded_classes",
    "remove_count_sum_above",
    "random",
)


# ----------------------------------------------------------------- statistics
def feature_variances(values: Any) -> np.ndarray:
    """Population variance (``ddof=0``) of each column, from the stored entries only.

    Uses ``(sum over stored (x - mean)^2 + (N - stored) * mean^2) / N``, which avoids
    the cancellation of ``E[x^2] - E[x]^2`` for large counts (computed in chunks by
    :func:`scvae.data.statistics.feature_statistics`).
    """
    return statistics.feature_statistics(as_matrix(values)).variances


def count_sums(values: Any) -> np.ndarray:
    """Row sums as a 1-D ``float64`` array (computed in chunks)."""
    return statistics.per_row(as_matrix(values), _count_sums).astype(np.float64, copy=False)


def nonzero_counts(values: Any) -> np.ndarray:
    """Number of non-zero entries of each row (stored zeros are not counted)."""
    return statistics.per_row(as_matrix(values), _nonzero_counts)


def _count_sums(values: sp.csr_matrix) -> np.ndarray:
    return np.asarray(values.sum(axis=1), dtype=np.float64).reshape(-1)


def _nonzero_counts(values: sp.csr_matrix) -> np.ndarray:
    rows = np.repeat(np.arange(values.shape[0]), np.diff(values.indptr))
    return np.bincount(rows[values.data != 0], minlength=values.shape[0])


# ------------------------------------------------------------ feature mapping
def map_features(
    values: Any, feature_names: Sequence[str], mapping: Mapping[str, Sequence[str]]
) -> tuple[CountMatrix, np.ndarray]:
    """Sum the columns whose feature ids map to the same feature name.

    Parameters
    ----------
    values
        Examples x feature ids.
    feature_names
        The id of each column.
    mapping
        Feature name -> the ids it covers. An id listed under several names goes to
        the first. Ids without a name keep their id as the name.

    Returns
    -------
    (values, names)
        A view of examples x mapped features (it sums as it reads), in order of first appearance among the
        columns, and the mapped feature names.
    """
    if len(feature_names) != values.shape[1]:
        raise DataError(None, f"{len(feature_names)} feature names for {values.shape[1]} features")
    columns, names = mapped_columns(feature_names, mapping)
    return as_matrix(values).mapped(columns, len(names)), names


def mapped_columns(
    feature_names: Sequence[str], mapping: Mapping[str, Sequence[str]]
) -> tuple[np.ndarray, np.ndarray]:
    """The mapped column of every feature id, and the mapped names (see :func:`map_features`)."""
    name_of: dict[str, str] = {}
    for name, ids in mapping.items():
        for feature_id in ids:
            name_of.setdefault(str(feature_id), str(name))
    ids = [str(feature_id) for feature_id in feature_names]
    position: dict[str, int] = {}
    columns = np.empty(len(ids), dtype=np.int64)
    for index, feature_id in enumerate(ids):
        columns[index] = position.setdefault(name_of.get(feature_id, feature_id), len(position))
    unmapped = sum(1 for feature_id in ids if feature_id not in name_of)
    unused = sum(1 for name in mapping if str(name) not in position)
    logger.info("%d feature ids have no name and keep their id", unmapped)
    logger.info("%d feature names in the mapping have no ids in the data", unused)
    return columns, np.array(list(position), dtype=object)


# ---------------------------------------------------------- feature selection
def select_features(
    values: Any, method: str, parameters: Sequence[str | float | int] = ()
) -> np.ndarray:
    """Indices (sorted) of the features that ``method`` keeps.

    The statistics are computed chunk by chunk and :func:`choose_features` decides. See there for the methods.
    """
    method = _method(method, FEATURE_SELECTION_METHODS, "--feature-selection")
    found = statistics.feature_statistics(as_matrix(values), variances=method != "remove_zeros")
    return choose_features(found, method, parameters)


def choose_features(
    statistics: FeatureStatistics, method: str, parameters: Sequence[str | float | int] = ()
) -> np.ndarray:
    """Indices (sorted) of the features that ``method`` keeps, from per-feature statistics.

    Parameters
    ----------
    statistics
        Column sums and population variances (``ddof=0``) of the original (count)
        values (see :func:`scvae.data.statistics.feature_statistics`).
    method
        ``remove_zeros``; ``keep_variances_above`` with an optional threshold
        (default 0.5; keeps variance > threshold); ``keep_highest_variances`` with an
        optional number n (default half the features; keeps the n largest variances,
        ties broken by position, in their original order).
    parameters
        The method's parameters, as given on the command line.

    Raises
    ------
    ConfigError
        Unknown method, bad parameters, or a selection that keeps every feature
        (nothing to select) or none.
    """
    method = _method(method, FEATURE_SELECTION_METHODS, "--feature-selection")
    f = len(statistics.sums)
    if method == "remove_zeros":
        _count(parameters, 0, 0, method)
        keep = np.flatnonzero(statistics.sums != 0)
    elif method == "keep_variances_above":
        _count(parameters, 0, 1, method)
        threshold = _number(parameters[0], method) if parameters else DEFAULTS.variance_threshold
        keep = np.flatnonzero(statistics.variances > threshold)
    else:
        _count(parameters, 0, 1, method)
        default = math.floor(DEFAULTS.highest_variances_fraction * f)
        number = _whole(parameters[0], method) if parameters else default
        order = np.argsort(-statistics.variances, kind="stable")
        keep = np.sort(order[:number])
    return _kept(keep, f, f"--feature-selection {method}", "features")


# ------------------------------------------------------------ example filters
def filter_examples(
    values: Any,
    method: str,
    parameters: Sequence[str | float | int] = (),
    *,
    labels: Sequence | None = None,
    excluded_classes: Sequence[str] = (),
    seed: int = DEFAULTS.random_filter_seed,
) -> np.ndarray:
    """Indices of the examples that ``method`` keeps (sorted, except for ``random``).

    Parameters
    ----------
    values
        The original (count) values, examples x features (row statistics are
        computed in chunks).
    method, parameters
        See the module docstring; class names are compared after
        :func:`normalise_label` (case, spaces, ``-`` and ``/`` do not matter).
    labels
        The labels to filter on (the superset labels when the data set has a
        superset); needed by ``keep``, ``remove`` and ``excluded_classes``.
    excluded_classes
        Classes that ``excluded_classes`` removes.
    seed
        Seed of the ``RandomState`` whose permutation ``random N`` takes the first N
        of (in that permuted order).

    Raises
    ------
    ConfigError
        Unknown method, bad parameters, label filters without labels, or a filter
        that removes nothing or everything.
    """
    method = _method(method, EXAMPLE_FILTER_METHODS, "--example-filter")
    n = values.shape[0]
    if method in ("macosko", "inverse_macosko"):
        _count(parameters, 0, 0, method)
        many = nonzero_counts(values) > DEFAULTS.macosko_minimum_nonzero
        keep = np.flatnonzero(many if method == "macosko" else ~many)
    elif method in ("keep", "remove", "excluded_classes"):
        keep = _label_filter(method, parameters, labels, excluded_classes, n)
    elif method == "remove_count_sum_above":
        _count(parameters, 1, 1, method)
        keep = np.flatnonzero(count_sums(values) <= _number(parameters[0], method))
    else:
        _count(parameters, 1, 1, method)
        number = _whole(parameters[0], method)
        keep = np.random.RandomState(seed).permutation(n)[: min(number, n)]
    return _kept(keep, n, f"--example-filter {method}", "examples")


def _kept(keep: np.ndarray, total: int, option: str, things: str) -> np.ndarray:
    """``keep`` as indices, refusing a choice that keeps everything or nothing."""
    if len(keep) == total:
        raise ConfigError(f"{option} keeps all {total} {things}; nothing to do")
    if len(keep) == 0:
        raise ConfigError(f"{option} keeps no {things}")
    return keep.astype(np.int64)


def _label_filter(
    method: str, parameters: Sequence, labels: Sequence | None, excluded: Sequence[str], n: int
) -> np.ndarray:
    if labels is None:
        raise ConfigError(f"--example-filter {method} needs labels, but the data set has none")
    if len(labels) != n:
        raise DataError(None, f"{len(labels)} labels for {n} examples")
    if method == "excluded_classes":
        _count(parameters, 0, 0, method)
        names = list(excluded)
    else:
        _count(parameters, 1, None, method)
        names = list(parameters)
    wanted = {normalise_label(name) for name in names}
    hits = np.fromiter((normalise_label(label) in wanted for label in labels), bool, len(labels))
    return np.flatnonzero(hits if method == "keep" else ~hits)


def normalise_label(label: object) -> str:
    """Lower case; spaces, ``-`` and ``/`` become ``_``; ``(),$<>:"\\|?*`` removed."""
    text = re.sub(r"[ /\-]", "_", str(label).lower())
    return re.sub(r'[(),$<>:"\\|?*]', "", text)


def superset_labels(labels: Sequence, superset: Mapping[str, Sequence] | str) -> np.ndarray:
    """Map labels to superset labels (the specification's ``label superset``).

    ``superset`` is a dictionary (superset name -> member labels; a label in no
    member list becomes ``"No class"``) or ``"infer"``: the longest prefix of whole
    words made of letters only (``"Amacrine 12"`` -> ``"Amacrine"``; a label without
    such a prefix is kept as it is).
    """
    if isinstance(superset, str):
        if superset != "infer":
            raise DataError(None, f"label superset must be a dictionary or 'infer', not {superset}")
        pattern = re.compile(r"^[^\W\d_]+(?: [^\W\d_]+)*(?=\s|$)")
        found = [pattern.match(str(label)) for label in labels]
        names = [m.group(0) if m else str(label) for m, label in zip(found, labels, strict=True)]
        return np.array(names, dtype=object)
    lookup = {str(member): str(name) for name, members in superset.items() for member in members}
    return np.array([lookup.get(str(label), "No class") for label in labels], dtype=object)


# ------------------------------------------------------------ parameter checks
def _method(method: str, known: Sequence[str], option: str) -> str:
    name = str(method).lower().replace("-", "_")
    if name not in known:
        raise ConfigError(f"{option}: unknown method {method!r} (known: {', '.join(known)})")
    return name


def _count(parameters: Sequence, least: int, most: int | None, method: str) -> None:
    number = len(parameters)
    if number < least or (most is not None and number > most):
        if most == 0:
            wanted = "no parameters"
        elif least == most:
            wanted = f"exactly {least} parameter" + ("s" if least > 1 else "")
        elif most is None:
            wanted = f"at least {least} parameter" + ("s" if least > 1 else "")
        else:
            wanted = f"at most {most} parameter" + ("s" if most > 1 else "")
        given = " ".join(str(p) for p in parameters) or "none"
        raise ConfigError(f"{method} takes {wanted} (given: {given})")


def _number(text: str | float | int, method: str) -> float:
    try:
        number = float(text)
    except (TypeError, ValueError):
        raise ConfigError(f"{method}: {text!r} is not a number") from None
    if not math.isfinite(number):
        raise ConfigError(f"{method}: {text!r} is not a finite number")
    return number


def _whole(text: str | float | int, method: str) -> int:
    try:
        number = int(str(text))
    except ValueError:
        raise ConfigError(f"{method}: {text!r} is not a whole number") from None
    if number < 1:
        raise ConfigError(f"{method}: the number must be at least 1, not {number}")
    return number
