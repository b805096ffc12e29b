"""The synthetic ``development`` data set (`scvae data list`, docs/data.md): small, offline, deterministic.

Generation, all from one ``numpy.random.RandomState(seed)``, in this order:

1. For each of the 10,000 examples a uniform draw ``u`` decides whether a new
   parameter set starts there (when ``u > 1 - 1e-4``, so probability 1e-4; the first
   example always starts one). The parameter sets are numbered 1, 2, ... in row
   order and these numbers are the labels. With seed 60 there are three sets (new
   ones start at rows 5678 and 8148), matching the palette and the class superset.
2. Each parameter set draws, per feature, a negative-binomial number of successes
   ``r`` (an integer in 1..10), a success probability ``p`` (uniform in 0.05..0.95)
   and a probability ``q`` that the feature is detected (uniform in 0.5..1).
   Its examples get ``NegativeBinomial(r, p) * Bernoulli(q)`` counts.
3. The rows are shuffled by one permutation.
4. Exactly 10% of the examples (chosen without replacement) get label ``"0"``.

Example names are ``cell 1`` ... ``cell 10000`` in the final (shuffled) row order;
feature names are ``feature 1`` ... ``feature 25``. The feature mapping groups them in
runs of five: ``feature A`` -> features 1-5, ..., ``feature E`` -> features 21-25.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from scvae.data.raw import RawData

NUMBER_OF_EXAMPLES = 10_000
NUMBER_OF_FEATURES = 25
UPDATE_PROBABILITY = 1e-4
UNLABELLED_FRACTION = 0.1
MAXIMUM_SUCCESSES = 10
_GROUPS = "ABCDE"


def generate_development(seed: int = 60) -> RawData:
    """Generate the ``development`` data set (10,000 cells x 25 genes).

    Parameters
    ----------
    seed
        Seed of the ``numpy.random.RandomState``; the same seed gives identical data.

    Returns
    -------
    RawData
        ``float32`` integer counts as CSR, string labels (``"0"`` = no class), names,
        a feature mapping and the data set's metadata (title, terms, palette, ...).
    """
    random_state = np.random.RandomState(seed)
    values, labels = _draw_counts(random_state)
    order = random_state.permutation(NUMBER_OF_EXAMPLES)
    values, labels = values[order], labels[order]
    unlabelled = random_state.choice(
        NUMBER_OF_EXAMPLES, int(UNLABELLED_FRACTION * NUMBER_OF_EXAMPLES), replace=False
    )
    labels[unlabelled] = 0
    feature_names = [f"feature {j}" for j in range(1, NUMBER_OF_FEATURES + 1)]
    return RawData(
        values=sp.csr_matrix(values.astype(np.float32)),
        example_names=np.array(
            [f"cell {i}" for i in range(1, NUMBER_OF_EXAMPLES + 1)], dtype=object
        ),
        feature_names=np.array(feature_names, dtype=object),
        labels=labels.astype(str).astype(object),
        feature_mapping=_feature_mapping(feature_names),
        metadata=development_metadata(),
    )


def _draw_counts(random_state: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """Counts (examples x features, int64) and the parameter-set number of each example."""
    starts = random_state.random_sample(NUMBER_OF_EXAMPLES) > 1 - UPDATE_PROBABILITY
    starts[0] = True
    labels = np.cumsum(starts)
    boundaries = [*np.flatnonzero(starts), NUMBER_OF_EXAMPLES]
    values = np.empty((NUMBER_OF_EXAMPLES, NUMBER_OF_FEATURES), dtype=np.int64)
    for begin, end in zip(boundaries[:-1], boundaries[1:], strict=True):
        successes = random_state.randint(1, MAXIMUM_SUCCESSES + 1, size=NUMBER_OF_FEATURES)
        probability = random_state.uniform(0.05, 0.95, size=NUMBER_OF_FEATURES)
        detection = random_state.uniform(0.5, 1.0, size=NUMBER_OF_FEATURES)
        size = (end - begin, NUMBER_OF_FEATURES)
        counts = random_state.negative_binomial(successes, probability, size=size)
        values[begin:end] = counts * random_state.binomial(1, detection, size=size)
    return values, labels


def _feature_mapping(feature_names: list[str]) -> dict[str, list[str]]:
    width = NUMBER_OF_FEATURES // len(_GROUPS)
    return {
        f"feature {group}": feature_names[index * width : (index + 1) * width]
        for index, group in enumerate(_GROUPS)
    }


def development_metadata() -> dict[str, Any]:
    """Title, kind, terms, palette and class supersets of the ``development`` set."""
    from scvae.data.raw import COUNT_TERMS

    return {
        "title": "Development",
        "example type": "counts",
        "class palette": {"0": "#000000", "1": "#ff0000", "2": "#008000", "3": "#0000ff"},
        "label superset": {"Rods": ["1"], "Cones": ["2", "3"], "No class": ["0"]},
        "excluded classes": ["0"],
        "excluded superset classes": ["No class"],
        "terms": dict(COUNT_TERMS),
    }
