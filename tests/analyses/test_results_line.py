"""The printed evaluation line names both bounds when the library size is observed."""

from __future__ import annotations

from scvae.analyses.results import evaluation_line


def test_line_gives_the_bound_given_the_total_count() -> None:
    terms = {
        "lower_bound": -660.0,
        "reconstruction_error": -638.5,
        "kl_divergence_z": 12.25,
        "kl_divergence_y": 1.5,
        "log_p_library": -7.75,
    }
    line = evaluation_line("test", terms, accuracy=0.5)
    assert line == (
        "Test set: ELBO: -660, bound given N: -652.25, ENRE: -638.5, KL_z: 12.25, KL_y: 1.5, "
        "log P(N): -7.75, Acc: 50.00 %."
    )


def test_line_without_library_size_is_unchanged() -> None:
    line = evaluation_line("validation", {"lower_bound": -10.0, "kl_divergence": 2.0})
    assert line == "Validation set: ELBO: -10, KL: 2."
