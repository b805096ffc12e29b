"""Clustering scores against hand-computed values; memory against /proc/self/status."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from measures import current_rss_mb, kmeans_scores, label_scores, median_after_first, peak_rss_mb


def test_label_scores_hand_values():
    assert label_scores(np.array([0, 0, 1, 1]), np.array(["a", "a", "b", "b"])) == {
        "ari": pytest.approx(1.0),
        "nmi": pytest.approx(1.0),
    }
    # contingency [[1, 1], [1, 1]]: index 0, expected 2*2/6, maximum 2 -> ARI -0.5; no information
    crossed = label_scores(np.array([0, 1, 0, 1]), np.array([1, 1, 2, 2]))
    assert crossed["ari"] == pytest.approx(-0.5)
    assert crossed["nmi"] == pytest.approx(0.0, abs=1e-12)


def test_kmeans_fitted_on_training_recovers_separated_groups():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]])
    training = np.concatenate([centre + rng.normal(size=(30, 2)) for centre in centres])
    test_labels = np.repeat(["x", "y", "z"], 5)
    test = np.concatenate([centre + rng.normal(size=(5, 2)) for centre in centres])
    scores = kmeans_scores(training, test, test_labels, 3)
    assert scores == {"ari": pytest.approx(1.0), "nmi": pytest.approx(1.0)}


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    raise AssertionError(field)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_memory_agrees_with_proc_status():
    block = np.ones(64 * 2**20 // 8)  # 64 MiB touched
    assert peak_rss_mb() == pytest.approx(_status_mb("VmHWM"), abs=2.0)
    assert current_rss_mb() == pytest.approx(_status_mb("VmRSS"), abs=2.0)
    assert peak_rss_mb() >= current_rss_mb() - 1.0 >= 64.0
    del block


def test_median_after_first():
    assert median_after_first([10.0, 2.0, 4.0, 3.0]) == 3.0
    assert median_after_first([10.0, 2.0]) == 2.0
    assert median_after_first([7.0]) == 7.0
