"""``--dispersion``: the negative binomials' shape r learned per gene, or per cell and gene."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from scvae.config import ModelConfig
from scvae.models import ModelInputs, build_module
from scvae.models.base import Decoder
from scvae.models.naming import model_name
from scvae.workflows.training_output import _likelihood

F, L, H = 6, 3, 5
COUNTS = torch.tensor(
    [[0, 1, 2, 0, 5, 1], [30, 0, 9, 4, 0, 0], [0, 0, 0, 0, 0, 3], [2, 2, 2, 2, 2, 2]],
    dtype=torch.float32,
)


def _inputs(counts: torch.Tensor) -> ModelInputs:
    return ModelInputs.from_counts(counts, x=torch.log1p(counts))


def _decoder(
    dispersion: str, likelihood: str = "negative_binomial", library_size: str = "observed"
) -> Decoder:
    torch.manual_seed(0)
    config = ModelConfig(
        reconstruction_distribution=likelihood,
        hidden_sizes=(H,),
        dispersion=dispersion,
        library_size=library_size,
    )
    return Decoder(config, L, F).eval()


@pytest.mark.parametrize("likelihood", ["negative_binomial", "zero_inflated_negative_binomial"])
def test_per_gene_r_is_shared_by_every_cell_and_draw(likelihood) -> None:
    decoder = _decoder("gene", likelihood)
    with torch.no_grad():
        decoder.heads.feature_log_r.copy_(torch.linspace(-1.5, 2.0, F))
    z = torch.randn(2, 4, L)  # two draws of four cells
    distribution = decoder(z, _inputs(COUNTS))
    base = getattr(distribution, "base", distribution)
    r = base.total_count.detach()
    assert r.shape == (2, 4, F)
    expected = torch.exp(torch.linspace(-1.5, 2.0, F)).expand(2, 4, F)
    torch.testing.assert_close(r, expected)
    # per cell and gene: r is an output of the network and differs between cells
    cell = _decoder("cell", likelihood)(z, _inputs(COUNTS))
    r_cell = getattr(cell, "base", cell).total_count.detach()
    assert not torch.allclose(r_cell[0, 0], r_cell[0, 1])


def test_per_gene_r_replaces_the_networks_head() -> None:
    gene, cell = _decoder("gene"), _decoder("cell")
    count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    # the r head's weights and biases (F x H + F) give way to F learned values
    assert count(cell) - count(gene) == F * H + F - F
    assert "log_r" not in gene.heads.heads.blocks and "log_r" in cell.heads.heads.blocks


def test_the_gradient_of_per_gene_r_sums_over_cells_as_scipy_says() -> None:
    """d/d log r_g of the summed NB log-pmf, against a central difference of scipy's.

    Without the library size: its cap in evaluation would make the logits depend on r.
    """
    decoder = _decoder("gene", library_size="none")
    with torch.no_grad():
        decoder.heads.feature_log_r.copy_(torch.linspace(-0.5, 1.0, F))
    z = torch.randn(4, L)
    distribution = decoder(z, _inputs(COUNTS))
    distribution.log_prob(COUNTS).sum().backward()
    got = decoder.heads.feature_log_r.grad.double().numpy()
    logits = distribution.logits.detach().double().numpy()
    p = 1.0 / (1.0 + np.exp(-logits))  # the success probability of the (r, p) form
    counts = COUNTS.double().numpy()

    def total(log_r: np.ndarray) -> np.ndarray:
        # scipy's nbinom counts failures with success probability 1 - p
        return stats.nbinom.logpmf(counts, np.exp(log_r), 1.0 - p).sum(axis=0)

    log_r = np.linspace(-0.5, 1.0, F)
    step = 1e-5
    expected = (total(log_r + step) - total(log_r - step)) / (2 * step)
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)


def test_likelihoods_without_r_ignore_the_option() -> None:
    decoder = _decoder("gene", "poisson")
    assert not hasattr(decoder.heads, "feature_log_r")
    config = ModelConfig(reconstruction_distribution="poisson")
    assert "-rg" not in model_name(config)
    assert "r " not in _likelihood(config)


def test_the_run_folder_and_setup_line_say_which() -> None:
    gene, cell = ModelConfig(), ModelConfig(dispersion="cell")
    assert "negative_binomial-lib-rg-" in model_name(gene)
    assert "-rg" not in model_name(cell)
    assert "r learned per gene" in _likelihood(gene)
    assert "r per cell and gene" in _likelihood(cell)


@pytest.mark.parametrize("model_type", ["VAE", "GMVAE"])
def test_models_train_the_per_gene_r(model_type) -> None:
    torch.manual_seed(1)
    config = ModelConfig(model_type=model_type, latent_size=L, hidden_sizes=(H,))
    module = build_module(config, F, number_of_classes=2)
    counts = torch.poisson(torch.rand(8, F) * 6.0)
    module.decoder.library.fit(counts.sum(1))
    output = module(_inputs(counts))
    (-output.lower_bound.mean()).backward()
    gradient = module.decoder.heads.feature_log_r.grad
    assert gradient is not None and bool(torch.isfinite(gradient).all())
    assert float(gradient.abs().sum()) > 0
    assert set(module.state_dict()) >= {"decoder.heads.feature_log_r"}
