"""The warning for reconstruction means far above the largest observed count."""

from __future__ import annotations

from scvae.evaluation.evaluate import RECONSTRUCTION_WARNING_FACTOR, reconstruction_warnings


def test_means_orders_of_magnitude_above_the_counts_are_reported() -> None:
    # a mean of 7.9e6 for a gene counted 71 (seen with raw-count input and lr 1e-4)
    (warning,) = reconstruction_warnings(7.9e6, 71.0)
    assert "7.9e+06" in warning and "111268 times" in warning
    assert "--library-size observed" in warning and "-p log" in warning


def test_means_within_the_factor_are_not_reported() -> None:
    assert reconstruction_warnings(3285.0, 777.0) == []
    assert reconstruction_warnings(RECONSTRUCTION_WARNING_FACTOR * 50.0, 50.0) == []
    assert reconstruction_warnings(float("nan"), 5.0) == []


def test_all_zero_counts_compare_with_one() -> None:
    assert reconstruction_warnings(99.0, 0.0) == []
    assert len(reconstruction_warnings(101.0, 0.0)) == 1
