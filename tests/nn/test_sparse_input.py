"""The sparse first layer: same values and gradients as the dense product, and its use."""

from __future__ import annotations

import io

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional

from scvae.config import ModelConfig
from scvae.data.batches import RowSource, densified_on, filled
from scvae.distributions.entries import StoredEntries
from scvae.models import ModelInputs, build_module
from scvae.nn.layers import MLP, DenseBlock
from scvae.nn.sparse import SPARSE_INPUT_FEATURES, csr_tensor, is_sparse, sparse_linear

WIDE = SPARSE_INPUT_FEATURES + 17


def sparse_counts(rows: int, columns: int, density: float = 0.05, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    matrix = sp.random(rows, columns, density=density, format="csr", random_state=rng)
    matrix.data = np.ceil(matrix.data * 6).astype(np.float32)
    matrix = matrix.astype(np.float32).tolil()
    matrix[1] = 0  # an empty row
    matrix = matrix.tocsr()
    matrix.eliminate_zeros()
    return matrix


@pytest.mark.parametrize("feature_major", [True, False])
def test_sparse_linear_equals_dense_product_and_gradient(feature_major: bool) -> None:
    torch.manual_seed(0)
    block = sparse_counts(9, 300)
    weight = nn.Parameter(torch.randn(7, 300))
    if feature_major:
        weight = nn.Parameter(weight.detach().t().contiguous().t())
    bias = nn.Parameter(torch.randn(7))
    gradient = torch.randn(9, 7)

    sparse_out = sparse_linear(csr_tensor(block), weight, bias)
    sparse_out.backward(gradient)
    sparse_grads = weight.grad.clone(), bias.grad.clone()
    weight.grad = bias.grad = None

    dense_out = functional.linear(torch.from_numpy(block.toarray()), weight, bias)
    dense_out.backward(gradient)
    torch.testing.assert_close(sparse_out, dense_out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sparse_grads[0], weight.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sparse_grads[1], bias.grad)
    # against numpy as well: x W^T + b, and W's gradient g^T x
    expected = block.toarray() @ weight.detach().numpy().T + bias.detach().numpy()
    np.testing.assert_allclose(sparse_out.detach().numpy(), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        sparse_grads[0].numpy(), gradient.numpy().T @ block.toarray(), rtol=1e-4, atol=1e-4
    )


def test_weight_slice_gets_its_gradient() -> None:
    block = sparse_counts(5, 40)
    weight = nn.Parameter(torch.randn(6, 43).t().contiguous().t())
    sparse_linear(csr_tensor(block), weight[:, :40]).sum().backward()
    expected = np.zeros((6, 43), np.float32)
    expected[:, :40] = np.ones((6, 5), np.float32) @ block.toarray()
    np.testing.assert_allclose(weight.grad.numpy(), expected, rtol=1e-5, atol=1e-4)


def test_feature_major_first_layer_keeps_values_and_round_trips() -> None:
    torch.manual_seed(3)
    plain = MLP(WIDE, (8,))
    torch.manual_seed(3)
    reference = nn.Linear(WIDE, 8, bias=False)
    nn.init.xavier_uniform_(reference.weight)
    layer = plain.blocks[0].linear
    weight = layer.weight
    assert weight.shape == (8, WIDE) and weight.t().is_contiguous()
    torch.testing.assert_close(weight, reference.weight, rtol=0, atol=0)
    # the optimiser sees one contiguous parameter in x out, and no other weight
    (parameter,) = [p for name, p in layer.named_parameters() if name != "bias"]
    assert parameter.shape == (WIDE, 8) and parameter.is_contiguous()
    # a narrow first layer is left as nn.Linear made it
    assert MLP(50, (8,)).blocks[0].linear.weight.is_contiguous()

    # its checkpoint entries are nn.Linear's: they load into a plain nn.Linear
    state = plain.state_dict()
    assert [key for key in state if ".linear." in key] == ["blocks.0.linear.weight"]
    assert state["blocks.0.linear.weight"].shape == (8, WIDE)
    linear = nn.Linear(WIDE, 8, bias=False)
    linear.load_state_dict({"weight": state["blocks.0.linear.weight"]})
    torch.testing.assert_close(linear.weight, reference.weight, rtol=0, atol=0)

    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    other = MLP(WIDE, (8,))
    other.load_state_dict(torch.load(buffer, weights_only=True))
    torch.testing.assert_close(other.blocks[0].linear.weight, weight, rtol=0, atol=0)
    # a missing weight is reported as nn.Linear's
    rest = {key: value for key, value in state.items() if ".linear." not in key}
    with pytest.raises(RuntimeError, match="blocks.0.linear.weight_by_feature"):
        MLP(WIDE, (8,)).load_state_dict(rest)


def test_feature_major_layer_changes_in_place_through_its_weight() -> None:
    layer = DenseBlock(WIDE, 3, feature_major=True).linear
    with torch.no_grad():
        layer.weight[:, :2] = 7.0
    assert torch.all(layer.weight_by_feature[:2] == 7.0)
    x = torch.zeros(1, WIDE)
    x[0, 1] = 1.0
    torch.testing.assert_close(layer(x), torch.full((1, 3), 7.0) + layer.bias)


def test_adam_steps_the_feature_major_weight_like_a_plain_one() -> None:
    torch.manual_seed(4)
    wide = DenseBlock(WIDE, 5, feature_major=True)
    plain = DenseBlock(WIDE, 5)
    plain.load_state_dict(wide.state_dict())
    x = torch.from_numpy(sparse_counts(6, WIDE, density=0.01).toarray())
    optimisers = [torch.optim.Adam(b.parameters(), lr=0.1, fused=True) for b in (wide, plain)]
    for _ in range(3):
        for block, optimiser in zip((wide, plain), optimisers, strict=True):
            optimiser.zero_grad()
            block(x).square().sum().backward()
            optimiser.step()
    torch.testing.assert_close(wide.linear.weight, plain.linear.weight, rtol=1e-5, atol=1e-6)


def test_input_dropout_in_training_uses_the_dense_values() -> None:
    block = DenseBlock(WIDE, 4, keep_probability=0.5)
    values = sparse_counts(6, WIDE, density=0.01)
    block.train()
    torch.manual_seed(5)
    sparse = block(csr_tensor(values))
    torch.manual_seed(5)
    dense = block(torch.from_numpy(values.toarray()))
    torch.testing.assert_close(sparse, dense)
    block.eval()
    torch.testing.assert_close(
        block(csr_tensor(values)), block(torch.from_numpy(values.toarray())), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("model_type", ["VAE", "GMVAE"])
def test_model_loss_and_gradients_match_with_sparse_input(model_type: str) -> None:
    torch.manual_seed(0)
    config = ModelConfig(model_type=model_type, latent_size=3, hidden_sizes=(16,))
    module = build_module(config, WIDE, number_of_classes=3, number_of_batches=0)
    values = sparse_counts(12, WIDE, density=0.02)
    dense_inputs = ModelInputs.from_counts(torch.from_numpy(values.toarray()))
    sparse_inputs = ModelInputs.from_counts(
        torch.from_numpy(values.toarray()), x=csr_tensor(values)
    )
    results = []
    for inputs in (sparse_inputs, dense_inputs):
        module.zero_grad(set_to_none=True)
        torch.manual_seed(1)
        output = module(inputs, kl_scale=1.0, samples=(1, 1))
        output.loss.backward()
        grads = [p.grad.clone() for p in module.parameters() if p.grad is not None]
        results.append((output.lower_bound.detach(), grads))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-4, atol=1e-3)
    assert len(results[0][1]) == len(results[1][1])
    for sparse_grad, dense_grad in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(sparse_grad, dense_grad, rtol=1e-3, atol=1e-3)


def row_source(matrix: sp.csr_matrix) -> RowSource:
    return RowSource(
        matrix=matrix,
        library_size=np.asarray(matrix.sum(axis=1)).ravel().astype(np.float32),
        count_sum=None,
        batch_indices=None,
        number_of_batches=0,
    )


def test_row_source_gives_sparse_input_for_wide_data_on_the_cpu_only() -> None:
    wide = sparse_counts(20, WIDE, density=0.02)
    source = row_source(wide)
    rows = np.array([0, 1, 5, 7])
    inputs = source.inputs_for(rows)
    assert is_sparse(inputs.x)
    np.testing.assert_array_equal(inputs.x.to_dense().numpy(), wide[rows].toarray())
    np.testing.assert_array_equal(inputs.target.numpy(), wide[rows].toarray())
    chosen = inputs.select(torch.tensor([2, 0]))
    assert is_sparse(chosen.x)
    np.testing.assert_array_equal(chosen.x.to_dense().numpy(), wide[[5, 0]].toarray())

    assert not is_sparse(row_source(sparse_counts(20, 50)).inputs_for(rows).x)


def test_blocks_filled_from_their_entries_equal_the_dense_block() -> None:
    block = sparse_counts(7, 60)
    entries = StoredEntries.from_csr(block.indptr, block.indices, block.data, 60)
    np.testing.assert_array_equal(filled(entries, block.shape).numpy(), block.toarray())
    dense, cpu_entries = densified_on(block, torch.device("cpu"))
    np.testing.assert_array_equal(dense.numpy(), block.toarray())
    torch.testing.assert_close(cpu_entries.positions, entries.positions)
