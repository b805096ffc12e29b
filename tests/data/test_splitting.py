"""Splits (reference §2.11): sizes, order, seeds, predefined and macosko splits, names."""

from __future__ import annotations

import numpy as np
import pytest

from scvae.data.splitting import (
    SPLITTING_METHODS,
    resolve_method,
    split_directory_name,
    split_indices,
)
from scvae.errors import ConfigError, DataError


def _sizes(split: dict[str, np.ndarray]) -> tuple[int, int, int]:
    return len(split["training"]), len(split["validation"]), len(split["test"])


def _assert_partition(split: dict[str, np.ndarray], n: int) -> None:
    joined = np.concatenate([split["training"], split["validation"], split["test"]])
    assert np.array_equal(np.sort(joined), np.arange(n))
    assert all(split[kind].dtype == np.int64 for kind in split)


def test_random_default_sizes_81_9_10() -> None:
    split = split_indices(100, "random", 0.9)
    assert list(split) == ["training", "validation", "test"]
    assert _sizes(split) == (81, 9, 10)
    _assert_partition(split, 100)


def test_random_uses_one_permutation_from_random_state_42() -> None:
    split = split_indices(100, "random")
    order = np.random.RandomState(42).permutation(100)
    assert np.array_equal(split["training"], order[:81])
    assert np.array_equal(split["validation"], order[81:90])
    assert np.array_equal(split["test"], order[90:])


def test_same_seed_same_split_other_seed_other_split() -> None:
    first, again = split_indices(1000, "random"), split_indices(1000, "random")
    other = split_indices(1000, "random", seed=7)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not np.array_equal(first["training"], other["training"])
    _assert_partition(other, 1000)


def test_sequential_exact_ranges() -> None:
    split = split_indices(100, "sequential", 0.9)
    assert np.array_equal(split["training"], np.arange(81))
    assert np.array_equal(split["validation"], np.arange(81, 90))
    assert np.array_equal(split["test"], np.arange(90, 100))
    small = split_indices(10, "sequential", 0.5)  # N_tv = 5, N_train = floor(2.5) = 2
    assert _sizes(small) == (2, 3, 5)


def test_sizes_forgive_binary_rounding() -> None:
    # 0.29 * 100 == 28.999999999999996 in binary floating point; it counts as 29.
    split = split_indices(100, "sequential", 0.29)
    assert len(split["training"]) + len(split["validation"]) == 29


def test_empty_data_set() -> None:
    assert _sizes(split_indices(0, "random")) == (0, 0, 0)


def test_default_is_random_without_predefined_and_indices_with() -> None:
    assert all(
        np.array_equal(a, b)
        for a, b in zip(
            split_indices(50).values(), split_indices(50, "random").values(), strict=True
        )
    )
    predefined = {"training": np.arange(6), "validation": np.arange(6, 8), "test": [8, 9]}
    split = split_indices(10, predefined=predefined)
    assert np.array_equal(split["validation"], [6, 7])
    assert np.array_equal(split["test"], [8, 9])


def test_indices_with_validation_pass_through() -> None:
    predefined = {"training": [3, 1, 0], "validation": [2], "test": [4]}
    split = split_indices(5, "indices", predefined=predefined)
    assert np.array_equal(split["training"], [3, 1, 0])
    assert np.array_equal(split["validation"], [2])
    _assert_partition(split, 5)


def test_indices_without_validation_take_the_last_training_examples() -> None:
    predefined = {"training": np.arange(70), "test": np.arange(70, 100)}
    split = split_indices(100, "indices", 0.9, predefined=predefined)
    assert np.array_equal(split["training"], np.arange(40))
    assert np.array_equal(split["validation"], np.arange(40, 70))
    assert np.array_equal(split["test"], np.arange(70, 100))


def test_indices_errors() -> None:
    with pytest.raises(ConfigError, match="split indices"):
        split_indices(10, "indices")
    with pytest.raises(DataError, match="outside"):
        split_indices(10, "indices", predefined={"training": [0, 10], "test": [1]})
    with pytest.raises(DataError, match="test"):
        split_indices(10, "indices", predefined={"training": [0, 1]})


def test_macosko_training_rich_examples_rest_shuffled() -> None:
    nonzero = np.array([1000, 5, 901, 900, 0, 2000, 10, 10, 10, 10, 10, 10, 10])
    split = split_indices(13, "macosko", 0.9, nonzero_counts=nonzero)
    assert np.array_equal(split["training"], [0, 2, 5])
    rest = np.array([1, 3, 4, 6, 7, 8, 9, 10, 11, 12])
    shuffled = rest[np.random.RandomState(42).permutation(10)]
    # floor((1 - 0.9) * 10) == 1 validation example, 9 test examples
    assert np.array_equal(split["validation"], shuffled[:1])
    assert np.array_equal(split["test"], shuffled[1:])
    _assert_partition(split, 13)


def test_macosko_needs_nonzero_counts() -> None:
    with pytest.raises(ValueError, match="non-zero"):
        split_indices(5, "macosko")
    with pytest.raises(ValueError, match="entries"):
        split_indices(5, "macosko", nonzero_counts=np.zeros(4))


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1, True, "0.9"])
def test_fraction_must_lie_in_the_open_unit_interval(fraction: object) -> None:
    with pytest.raises(ConfigError, match="fraction"):
        split_indices(10, "random", fraction)  # type: ignore[arg-type]


def test_unknown_method_lists_the_methods() -> None:
    with pytest.raises(ConfigError) as raised:
        split_indices(10, "shuffle")
    for method in SPLITTING_METHODS:
        assert method in str(raised.value)


def test_resolve_method() -> None:
    assert resolve_method("default", False) == "random"
    assert resolve_method("default", True) == "indices"
    assert resolve_method("sequential", True) == "sequential"
    with pytest.raises(ConfigError):
        resolve_method("nope", False)


@pytest.mark.parametrize(
    ("method", "fraction", "predefined", "expected"),
    [
        ("random", 0.9, False, "split-random_0.9"),
        ("default", 0.9, False, "split-random_0.9"),
        ("default", 0.8, True, "split-indices"),
        ("indices", 0.9, True, "split-indices"),
        ("indices", 0.5, False, "split-indices"),
        ("sequential", 0.75, False, "split-sequential_0.75"),
        ("macosko", 0.9, False, "split-macosko_0.9"),
        (None, 0.9, False, "no_split"),
    ],
)
def test_split_directory_name(
    method: str | None, fraction: float, predefined: bool, expected: str
) -> None:
    assert split_directory_name(method, fraction, predefined) == expected
