"""Inference batch-norm statistics measured after each epoch with the epoch's weights.

* A layer collecting statistics ends with the averages of its minibatches' means and
  unbiased variances (numpy on the same minibatches), and evaluates with them as they
  are (no start-value correction); a failed pass keeps the old statistics.
* The measuring pass changes no parameter and leaves torch's generator where it was; on
  one minibatch of every cell the encoder's first layer gets numpy's mean and variance
  of its inputs.
* The truth that matters: on counts without structure (every cell drawn from the same
  gene shares) the moving averages gave an evaluated bound hundreds of times below the
  training-mode bound; with the measured statistics the evaluated validation bound of a
  fitted model is the training-mode bound of the same cells, within a few per cent.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from scvae.config import ModelConfig
from scvae.data.batches import RowSource
from scvae.models.build import ModelFacts, build_module_from
from scvae.nn.layers import BATCH_NORM_EPSILON, DenseBlock, ShiftOnlyBatchNorm
from scvae.training.fit import FitOptions, LabelledSource, batch_norm_source, fit
from scvae.training.normalisation import BATCH_NORM_CELLS, batch_norm_layers, measure_batch_norm
from scvae.training.parallel import SINGLE


def _structureless(cells: int, genes: int, seed: int = 0) -> RowSource:
    """Counts of cells that all draw 1,500 reads from the same skewed gene shares."""
    shares = np.random.default_rng(0).permutation(1.0 / np.arange(1, genes + 1) ** 0.8)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(1_500, shares / shares.sum(), size=cells).astype(np.float32)
    values = sp.csr_matrix(counts)
    library = np.asarray(values.sum(axis=1), dtype=np.float32).ravel()
    return RowSource(values, library, None, None, 0)


def _vae(genes: int, hidden: int = 32, seed: int = 1) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = ModelConfig(reconstruction_distribution="negative_binomial", hidden_sizes=(hidden,))
    return build_module_from(model, ModelFacts(genes, None, 0, None, 1, "counts"))


def test_collected_statistics_are_the_minibatch_averages():
    rng = np.random.default_rng(0)
    layer = ShiftOnlyBatchNorm(5)
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([0.0, 1.0, -1.0, 2.0, 0.5]))
    batches = [rng.normal(3.0, 2.0, size=(n, 5)).astype(np.float32) for n in (7, 12, 4)]
    layer.train()
    layer.start_collecting()
    for batch in batches:
        layer(torch.from_numpy(batch))
    layer(torch.ones(1, 5))  # a minibatch of one says nothing about the variance
    assert layer.finish_collecting()
    mean = np.mean([batch.mean(0) for batch in batches], axis=0)
    variance = np.mean([batch.var(0, ddof=1) for batch in batches], axis=0)
    np.testing.assert_allclose(layer.norm.running_mean.numpy(), mean, rtol=1e-6)
    np.testing.assert_allclose(layer.norm.running_var.numpy(), variance, rtol=1e-5)
    layer.eval()
    x = rng.normal(size=(6, 5)).astype(np.float32)
    expected = (x - mean) / np.sqrt(variance + BATCH_NORM_EPSILON) + layer.bias.detach().numpy()
    np.testing.assert_allclose(layer(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-5)


def test_a_failed_pass_keeps_the_statistics():
    layer = ShiftOnlyBatchNorm(3)
    layer.train()
    layer.start_collecting()
    layer(torch.randn(8, 3) + 10.0)
    before = layer.norm.running_mean.clone(), layer.norm.running_var.clone()
    assert not layer.finish_collecting(use=False)
    torch.testing.assert_close(layer.norm.running_mean, before[0])
    torch.testing.assert_close(layer.norm.running_var, before[1])
    layer.start_collecting()
    assert not layer.finish_collecting()  # nothing seen


def test_the_pass_changes_no_parameter_and_no_generator_state():
    genes = 60
    source = _structureless(200, genes)
    module = _vae(genes)
    parameters = {name: value.detach().clone() for name, value in module.named_parameters()}
    torch.manual_seed(123)
    state = torch.get_rng_state()
    assert measure_batch_norm(
        module, source, seed=4, epoch=0, batch_size=50, samples=(1, 1),
        device=torch.device("cpu"), processes=SINGLE,
    )  # fmt: skip
    assert torch.equal(torch.get_rng_state(), state)
    for name, value in module.named_parameters():
        assert torch.equal(value, parameters[name]), name
    # the same seed and epoch give the same statistics
    first = [layer.norm.running_var.clone() for layer in batch_norm_layers(module)]
    measure_batch_norm(
        module, source, seed=4, epoch=0, batch_size=50, samples=(1, 1),
        device=torch.device("cpu"), processes=SINGLE,
    )  # fmt: skip
    for layer, earlier in zip(batch_norm_layers(module), first, strict=True):
        torch.testing.assert_close(layer.norm.running_var, earlier)


def test_one_minibatch_gives_the_first_layer_numpys_statistics():
    genes, cells = 60, 150
    source = _structureless(cells, genes)
    module = _vae(genes)
    measure_batch_norm(
        module, source, seed=0, epoch=0, batch_size=cells, samples=(1, 1),
        device=torch.device("cpu"), processes=SINGLE,
    )  # fmt: skip
    first = next(
        block
        for block in module.modules()
        if isinstance(block, DenseBlock) and block.linear.in_features == genes
    )
    inputs = source.inputs_for(np.arange(cells)).x
    inputs = inputs.to_dense() if inputs.layout != torch.strided else inputs
    pre = inputs.double().numpy() @ first.linear.weight.detach().double().numpy().T
    np.testing.assert_allclose(first.norm.norm.running_mean.numpy(), pre.mean(0), rtol=1e-4)
    np.testing.assert_allclose(first.norm.norm.running_var.numpy(), pre.var(0, ddof=1), rtol=1e-4)


def test_large_sets_are_measured_on_a_fixed_sample():
    small = _structureless(300, 20)
    assert batch_norm_source(small, 0) is small
    large = _structureless(BATCH_NORM_CELLS + 500, 20)
    sample = batch_norm_source(large, 0)
    assert sample.number_of_examples == BATCH_NORM_CELLS
    rows = np.arange(BATCH_NORM_CELLS)
    again = batch_norm_source(large, 0).inputs_for(rows).x
    assert torch.equal(sample.inputs_for(rows).x, again)
    other = batch_norm_source(large, 1).inputs_for(rows).x
    assert not torch.equal(other, again)


@pytest.mark.parametrize("measured", [True, False], ids=["measured", "moving-averages"])
def test_structureless_counts_evaluate_as_in_training(tmp_path, monkeypatch, measured):
    genes = 3_000
    training, validation = _structureless(500, genes, 1), _structureless(100, genes, 2)
    if not measured:
        import scvae.training.fit as fit_module

        monkeypatch.setattr(fit_module, "measure_batch_norm", lambda *a, **k: False)
    module = _vae(genes, hidden=128)
    options = FitOptions(number_of_epochs=3, minibatch_size=100, learning_rate=1e-3, seed=2)
    rows = fit(module, LabelledSource(training), LabelledSource(validation), tmp_path, options)
    evaluated = [row["lower_bound"] for row in rows if row["set"] == "validation"][-1]
    module.train()  # the same cells normalised by their own minibatch
    torch.manual_seed(0)
    with torch.no_grad():
        inputs = validation.inputs_for(np.arange(100))
        in_training = float(module(inputs, kl_scale=1.0).lower_bound.mean())
    close = abs(evaluated - in_training) < 0.05 * abs(in_training)
    assert close == measured, (evaluated, in_training)
