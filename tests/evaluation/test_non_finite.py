"""A model that gives NaN or infinite values stops evaluation with one clear error.

The truth: a VAE whose first batch-norm layer has NaN inference statistics (what broken
statistics become at scale) gives NaN latent means; the encoder-only pass and the full
evaluation refuse them with an error naming what to try, instead of passing them on to
scikit-learn (whose PCA stopped with a traceback).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from scvae.config import ModelConfig
from scvae.data.batches import RowSource
from scvae.errors import ScvaeError
from scvae.evaluation.evaluate import check_finite, evaluate_module, latent_means
from scvae.models.build import ModelFacts, build_module_from
from scvae.nn.layers import ShiftOnlyBatchNorm


def _source(cells: int = 30, genes: int = 12) -> RowSource:
    counts = np.random.default_rng(0).poisson(2.0, size=(cells, genes)).astype(np.float32)
    values = sp.csr_matrix(counts)
    return RowSource(values, np.asarray(values.sum(axis=1)).ravel(), None, None, 0)


def _module(broken: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    model = ModelConfig(reconstruction_distribution="negative_binomial", hidden_sizes=(8,))
    module = build_module_from(model, ModelFacts(12, None, 0, None, 1, "counts"))
    if broken:
        layer = next(m for m in module.modules() if isinstance(m, ShiftOnlyBatchNorm))
        layer.norm.running_var.fill_(float("nan"))
        layer.norm.num_batches_tracked.fill_(10)
    return module.eval()


def test_latent_values_that_are_not_finite_stop_with_a_clear_error():
    z, _ = latent_means(_module(False), _source())
    assert z.shape == (30, 10) and np.isfinite(z).all()
    with pytest.raises(ScvaeError, match="NaN or infinite latent values.*--model-versions"):
        latent_means(_module(True), _source())


def test_a_full_evaluation_refuses_them_too():
    assert np.isfinite(evaluate_module(_module(False), _source()).z).all()
    with pytest.raises(ScvaeError, match="NaN or infinite"):
        evaluate_module(_module(True), _source())


def test_the_check_names_what_is_wrong():
    check_finite("reconstructions", [np.ones(3), None])
    with pytest.raises(ScvaeError, match="infinite reconstructions"):
        check_finite("reconstructions", [np.array([1.0, np.inf])])
