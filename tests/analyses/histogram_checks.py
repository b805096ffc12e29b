"""A shared check: count histograms in chunks against NumPy and against the stored values."""

from __future__ import annotations

import numpy as np

from scvae.analyses.data import count_histograms, implicit_zeros
from scvae.plotting.distributions import Binning, histogram_counts, histogram_edges


def check_count_histograms(values, dense: np.ndarray, stored: np.ndarray, *, cutoff, discrete):
    """Histograms of ``values`` (all, log x, below ``cutoff``) equal ``np.histogram`` of
    the ``dense`` values and :func:`histogram_counts` of the ``stored`` ones; returns them."""
    zeros = implicit_zeros(values)
    assert zeros == np.count_nonzero(dense == 0)
    binnings = [Binning(zeros), Binning(zeros, log_x=True), Binning(zeros, cutoff=cutoff)]
    counted = count_histograms(values, binnings)
    for binning, (numbers, edges) in zip(binnings, counted, strict=True):
        kept = dense if binning.cutoff is None else dense[dense <= binning.cutoff]
        shifted = kept + binning.shift
        expected = histogram_edges(shifted, discrete=discrete, log_x=binning.log_x)
        np.testing.assert_array_equal(edges, expected)
        np.testing.assert_array_equal(numbers, np.histogram(shifted, bins=edges)[0])
        single = histogram_counts(stored, binning)  # the stored values all at once
        np.testing.assert_array_equal(numbers, single[0])
        np.testing.assert_array_equal(edges, single[1])
    return counted
