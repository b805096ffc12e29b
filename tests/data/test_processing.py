"""Processing options (reference §2.6-§2.10) against hand-computed expectations.

The 6 x 5 matrix ``X`` below has these column facts, worked out by hand:

* column 0 is all zeros (sum 0, variance 0);
* column 1 = [1, 0, 3, 0, 2, 0]: mean 1, squared deviations 0+1+4+1+1+1 = 8, so the
  population variance is 8/6 = 4/3;
* column 2 = [0, 0, 0, 2, 0, 0]: 4/6 - (1/3)^2 = 5/9 (the sample variance would be 2/3);
* column 3 = [4, 2, 0, 4, 0, 2]: mean 2, squared deviations 16, variance 8/3;
* column 4 = [0, 3, 1, 0, 0, 2]: mean 1, squared deviations 8, variance 4/3 (a tie
  with column 1).

Row count sums are 5, 5, 4, 6, 2, 4 and the rows have 2, 2, 2, 2, 1, 2 non-zeros.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from scvae.data import preprocessing, processing
from scvae.errors import ConfigError

X = np.array(
    [
        [0, 1, 0, 4, 0],
        [0, 0, 0, 2, 3],
        [0, 3, 0, 0, 1],
        [0, 0, 2, 4, 0],
        [0, 2, 0, 0, 0],
        [0, 0, 0, 2, 2],
    ],
    dtype=np.float32,
)
LABELS = ["B", "T", "T", "No class", "B cells", "NK"]


@pytest.fixture
def values() -> sp.csr_matrix:
    return sp.csr_matrix(X)


def _unchanged(matrix: sp.csr_matrix) -> None:
    assert np.array_equal(matrix.toarray(), X)
    assert matrix.dtype == np.float32


# ---------------------------------------------------------------- statistics
def test_population_variances_by_hand(values):
    expected = [0, 4 / 3, 5 / 9, 8 / 3, 4 / 3]
    assert processing.feature_variances(values) == pytest.approx(expected)
    assert processing.count_sums(values).tolist() == [5, 5, 4, 6, 2, 4]
    stored_zero = sp.csr_matrix((np.array([0.0, 1.0]), ([0, 0], [0, 1])), shape=(1, 2))
    assert processing.nonzero_counts(stored_zero).tolist() == [1]


def test_variances_are_stable_for_large_counts():
    column = np.array([1e8, 1e8 + 1, 1e8 + 2, 0.0])
    got = processing.feature_variances(sp.csr_matrix(column[:, None]))
    assert got[0] == pytest.approx(np.var(column), rel=1e-12)


# ----------------------------------------------------------- feature mapping
def test_map_features_sums_ids_in_order_of_first_appearance(values):
    mapping = {"A": ["g2", "g4"], "B": ["g5"], "unused": ["zz"]}
    mapped, names = processing.map_features(values, ["g1", "g2", "g3", "g4", "g5"], mapping)
    assert names.tolist() == ["g1", "A", "g3", "B"]
    expected = np.column_stack([X[:, 0], X[:, 1] + X[:, 3], X[:, 2], X[:, 4]])
    assert np.array_equal(mapped.to_csr().toarray(), expected)
    _unchanged(values)


# --------------------------------------------------------- feature selection
@pytest.mark.parametrize(
    ("method", "parameters", "expected"),
    [
        ("remove_zeros", [], [1, 2, 3, 4]),
        ("keep_variances_above", [], [1, 2, 3, 4]),  # default 0.5 < 5/9
        ("keep_variances_above", ["0.6"], [1, 3, 4]),  # population 5/9 < 0.6 < sample 2/3
        ("keep_variances_above", ["1.4"], [3]),
        ("keep_highest_variances", ["2"], [1, 3]),  # 8/3, then the first of the 4/3 tie
        ("keep_highest_variances", [], [1, 3]),  # default floor(5 / 2) = 2
        ("keep_highest_variances", ["3"], [1, 3, 4]),
    ],
)
def test_feature_selection(values, method, parameters, expected):
    kept = processing.select_features(values, method, parameters)
    assert kept.tolist() == expected
    _unchanged(values)


@pytest.mark.parametrize(
    ("method", "parameters", "message"),
    [
        ("keep_highest_variances", ["abc"], "'abc' is not a whole number"),
        ("keep_highest_variances", ["0"], "at least 1"),
        ("keep_highest_variances", ["5"], "keeps all 5 features"),
        ("keep_variances_above", ["x"], "'x' is not a number"),
        ("keep_variances_above", ["9"], "keeps no features"),
        ("remove_zeros", ["1"], "takes no parameters"),
        ("keep_variances_above", ["1", "2"], "at most 1 parameter"),
        ("highest", [], "unknown method 'highest'"),
    ],
)
def test_feature_selection_errors(values, method, parameters, message):
    with pytest.raises(ConfigError, match=message):
        processing.select_features(values, method, parameters)


# ------------------------------------------------------------ example filters
@pytest.mark.parametrize(
    ("method", "parameters", "expected"),
    [
        ("remove_count_sum_above", ["4"], [2, 4, 5]),
        ("keep", ["t"], [1, 2]),  # class names compare case-insensitively
        ("keep", ["B", "nk"], [0, 5]),
        ("keep", ["b-cells"], [4]),  # '-' and ' ' are the same
        ("remove", ["T"], [0, 3, 4, 5]),
        ("excluded_classes", [], [0, 1, 2, 4, 5]),
    ],
)
def test_example_filters(values, method, parameters, expected):
    kept = processing.filter_examples(
        values, method, parameters, labels=LABELS, excluded_classes=["No class"]
    )
    assert kept.tolist() == expected
    _unchanged(values)


def test_random_filter_is_seeded_and_permuted(values):
    kept = processing.filter_examples(values, "random", ["3"])
    assert kept.tolist() == np.random.RandomState(90).permutation(6)[:3].tolist()
    assert len(set(kept.tolist())) == 3
    assert processing.filter_examples(values, "random", ["3"]).tolist() == kept.tolist()


def test_macosko_filters_at_900_non_zero_features():
    rows = [np.ones(900), np.ones(901), np.r_[np.ones(950), np.zeros(50)], np.zeros(1000)]
    values = sp.csr_matrix(np.vstack([np.r_[row, np.zeros(1000 - len(row))] for row in rows]))
    assert processing.filter_examples(values, "macosko").tolist() == [1, 2]
    assert processing.filter_examples(values, "inverse_macosko").tolist() == [0, 3]


@pytest.mark.parametrize(
    ("method", "parameters", "labels", "message"),
    [
        ("keep", ["T"], None, "needs labels"),
        ("keep", [], LABELS, "at least 1 parameter"),
        ("remove_count_sum_above", ["many"], LABELS, "'many' is not a number"),
        ("remove_count_sum_above", ["100"], LABELS, "keeps all 6 examples"),
        ("random", ["6"], LABELS, "keeps all 6 examples"),
        ("random", ["-2"], LABELS, "at least 1"),
        ("keep", ["nobody"], LABELS, "keeps no examples"),
        ("everything", [], LABELS, "unknown method"),
    ],
)
def test_example_filter_errors(values, method, parameters, labels, message):
    with pytest.raises(ConfigError, match=message):
        processing.filter_examples(values, method, parameters, labels=labels)


# -------------------------------------------------------------- preprocessing
@pytest.mark.parametrize(
    ("methods", "expected"),
    [
        (["log"], np.log1p(X)),
        (["exp"], np.expm1(X)),
        (["normalise"], normalize(X, norm="l2", axis=0)),
        (["binarise"], (X > 0.5).astype(np.float32)),
        (["log", "normalise"], normalize(np.log1p(X), norm="l2", axis=0)),
        (["normalise", "log"], np.log1p(normalize(X, norm="l2", axis=0))),
    ],
)
def test_preprocessing_matches_dense_reference(values, methods, expected):
    result = preprocessing.preprocess(values, methods)
    assert result.format == "csr" and result.nnz <= values.nnz
    assert np.allclose(result.toarray(), expected, rtol=1e-6)
    _unchanged(values)


def test_normalise_by_hand(values):
    column = preprocessing.preprocess(values, ["normalise"]).toarray()[:, 3]
    assert column == pytest.approx(np.array([4, 2, 0, 4, 0, 2]) / np.sqrt(40))


def test_bernoulli_sample_keeps_zeros_and_frequencies():
    probabilities = np.tile([0.0, 0.25, 1.0], (4000, 1))
    sampled = preprocessing.preprocess(
        sp.csr_matrix(probabilities), ["bernoulli_sample"], rng=np.random.default_rng(5)
    ).toarray()
    assert set(np.unique(sampled)) <= {0.0, 1.0}
    assert sampled[:, 0].sum() == 0 and sampled[:, 2].sum() == 4000
    assert sampled[:, 1].mean() == pytest.approx(0.25, abs=0.03)


def test_bernoulli_sample_refuses_values_above_one(values):
    with pytest.raises(ConfigError, match="between 0 and 1"):
        preprocessing.preprocess(values, ["bernoulli_sample"])


def test_unknown_preprocessing_method(values):
    with pytest.raises(ConfigError, match="unknown method 'sqrt'"):
        preprocessing.preprocess(values, ["sqrt"])


def test_noisy_methods_swap_binarise_and_append_for_bernoulli():
    assert preprocessing.noisy_methods(["normalise", "binarise"]) == (
        "normalise",
        "bernoulli_sample",
    )
    assert preprocessing.noisy_methods(["normalise"], bernoulli=True) == (
        "normalise",
        "bernoulli_sample",
    )
    assert preprocessing.noisy_methods([], bernoulli=True) == ()


def test_noisy_normalise_uses_whole_set_norms(values):
    noisy = preprocessing.NoisyPreprocessing.fit(values, ["normalise"])
    rows = values[[0, 3]]
    result = noisy(rows, np.random.default_rng(0)).toarray()
    assert np.allclose(result, normalize(X, axis=0)[[0, 3]])
    _unchanged(values)


def test_noisy_sampling_differs_between_draws():
    probabilities = sp.csr_matrix(np.full((50, 20), 0.5))
    noisy = preprocessing.NoisyPreprocessing.fit(probabilities, ["bernoulli_sample"])
    rng = np.random.default_rng(1)
    first, second = noisy(probabilities, rng), noisy(probabilities, rng)
    assert (first != second).nnz > 0
    assert probabilities.toarray().min() == 0.5  # input untouched


# -------------------------------------------------------- superset labels
def test_superset_labels_dictionary_and_infer():
    superset = {"Lymphoid": ["B", "T"], "No class": ["No class"]}
    got = processing.superset_labels(LABELS, superset)
    assert got.tolist() == ["Lymphoid", "Lymphoid", "Lymphoid", "No class", "No class", "No class"]
    inferred = processing.superset_labels(["Amacrine 12", "Rods", "Bipolar cells 3", "7"], "infer")
    assert inferred.tolist() == ["Amacrine", "Rods", "Bipolar cells", "7"]
