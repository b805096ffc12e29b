"""The observed library-size offset and the placement of the GMVAE's mixture components."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.cluster import KMeans

from scvae.config import ModelConfig, TrainingConfig
from scvae.models import ModelInputs, build_module
from scvae.models.base import Decoder, LibraryPrior, uses_library_offset
from scvae.nn.sparse import SPARSE_INPUT_FEATURES
from scvae.training.priors import VARIANCE_FLOOR, kmeans_components

F, L = 7, 3


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _inputs(counts: torch.Tensor) -> ModelInputs:
    return ModelInputs.from_counts(counts, x=torch.log1p(counts))


@pytest.mark.parametrize(
    ("likelihood", "expected"),
    [
        ("negative_binomial", True),
        ("zero_inflated_negative_binomial", True),
        ("poisson", True),
        ("zero_inflated_poisson", True),
        ("constrained_poisson", False),
        ("gaussian", False),
        ("bernoulli", False),
    ],
)
def test_offset_applies_to_count_likelihoods_with_a_mean_scale(likelihood, expected) -> None:
    config = ModelConfig(reconstruction_distribution=likelihood, library_size="observed")
    assert uses_library_offset(config) is expected
    off = ModelConfig(reconstruction_distribution=likelihood, library_size="none")
    assert uses_library_offset(off) is False


def _decoders(likelihood: str) -> tuple[Decoder, Decoder]:
    """Two decoders with the same weights, with and without the library offset."""
    made = []
    for library in ("observed", "none"):
        torch.manual_seed(3)
        config = ModelConfig(
            reconstruction_distribution=likelihood, library_size=library, hidden_sizes=(5,)
        )
        made.append(Decoder(config, L, F).eval())
    return made[0], made[1]


@pytest.mark.parametrize("likelihood", ["negative_binomial", "poisson"])
def test_offset_scales_the_mean_by_total_count_over_features(likelihood) -> None:
    counts = torch.tensor([[0, 1, 2, 0, 5, 1, 1], [30, 0, 9, 4, 0, 0, 7]], dtype=torch.float32)
    z = torch.randn(2, L)
    with_offset, without = _decoders(likelihood)
    scaled = with_offset(z, _inputs(counts))
    plain = without(z, _inputs(counts))
    totals = counts.sum(1, keepdim=True)
    # (N / F) times the network's mean, capped at the cell's total N
    expected = torch.minimum(plain.mean * totals / F, totals)
    torch.testing.assert_close(scaled.mean, expected, rtol=1e-5, atol=1e-6)
    # the variance of the NB keeps its shape r: Var = m + m^2 / r at the scaled mean
    if likelihood == "negative_binomial":
        r = plain.total_count
        torch.testing.assert_close(
            scaled.variance, scaled.mean + scaled.mean**2 / r, rtol=1e-4, atol=1e-5
        )


def test_offset_log_likelihood_matches_scipy_negative_binomial() -> None:
    counts = torch.tensor([[0, 3, 2, 0, 5, 1, 1], [12, 0, 9, 4, 0, 0, 7]], dtype=torch.float32)
    z = torch.randn(2, L)
    decoder, _ = _decoders("negative_binomial")
    distribution = decoder(z, _inputs(counts))
    mean = distribution.mean.detach().numpy().astype(np.float64)
    r = distribution.total_count.detach().numpy().astype(np.float64)
    expected = stats.nbinom.logpmf(counts.numpy(), r, r / (r + mean))
    np.testing.assert_allclose(distribution.log_prob(counts).detach().numpy(), expected, rtol=1e-4)


def test_a_cell_without_counts_gives_a_finite_likelihood() -> None:
    counts = torch.zeros(1, F)
    decoder, _ = _decoders("negative_binomial")
    assert torch.isfinite(decoder(torch.randn(1, L), _inputs(counts)).log_prob(counts)).all()


def _gmvae(latent: str = "gaussian_mixture", classes: int = 3, features: int = F):
    config = ModelConfig(
        model_type="GMVAE",
        latent_size=L,
        hidden_sizes=(8,),
        latent_distribution=latent,
        reconstruction_distribution="negative_binomial",
    )
    return build_module(config, features, number_of_classes=classes)


@pytest.mark.parametrize("latent", ["gaussian_mixture", "full_covariance_gaussian_mixture"])
def test_placed_components_are_the_prior(latent) -> None:
    module = _gmvae(latent)
    means = torch.tensor([[0.0, 1.0, -2.0], [3.0, 3.0, 3.0], [-1.0, 0.5, 0.0]], dtype=torch.float64)
    variances = torch.tensor(
        [[0.5, 1.0, 2.0], [0.1, 0.2, 0.3], [1.5, 1.5, 1.5]], dtype=torch.float64
    )
    module.place_components(means, variances)
    _, prior_means, covariances = module.prior_centroids()
    torch.testing.assert_close(prior_means.double(), means, rtol=1e-5, atol=1e-5)
    expected = torch.diag_embed(variances)
    torch.testing.assert_close(covariances.double(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("latent", ["gaussian_mixture", "full_covariance_gaussian_mixture"])
def test_placing_some_components_leaves_the_others(latent) -> None:
    module = _gmvae(latent)
    with torch.no_grad():  # a prior that has trained: non-zero bias
        module.z_prior.block.linear.bias.normal_()
    weights, means, covariances = module.prior_centroids()
    mean = torch.tensor([[1.0, -2.0, 0.5]])
    variance = torch.tensor([[0.2, 0.4, 0.8]])
    module.place_components(mean, variance, components=torch.tensor([2]))
    new_weights, new_means, new_covariances = module.prior_centroids()
    torch.testing.assert_close(new_means[2], mean[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(new_covariances[2], torch.diag(variance[0]), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(new_means[:2], means[:2])
    torch.testing.assert_close(new_covariances[:2], covariances[:2])
    torch.testing.assert_close(new_weights, weights)


# the wide size gives the encoders' first layers their feature-major weight
@pytest.mark.parametrize("features", [F, SPARSE_INPUT_FEATURES + 3])
def test_a_split_component_copies_its_source_and_takes_part_of_its_weight(features) -> None:
    module = _gmvae(features=features)
    with torch.no_grad():
        module.y_prior.learned_logits.copy_(torch.tensor([0.5, -0.3, -2.0]))
    weights, means, _ = module.prior_centroids()
    module.split_component(0, 2, 0.25)
    new_weights, new_means, _ = module.prior_centroids()
    # a quarter and three quarters of the source's weight; the moved component's former
    # weight is shared out by renormalising
    expected = torch.stack([0.75 * weights[0], weights[1], 0.25 * weights[0]])
    torch.testing.assert_close(new_weights, expected / expected.sum())
    torch.testing.assert_close(new_means, means)  # p(z|y) is placed separately
    module.eval()
    x = torch.log1p(torch.poisson(torch.full((5, features), 3.0)))
    posterior = module.z_encoder(x, module.one_hot)
    torch.testing.assert_close(posterior["loc"][2], posterior["loc"][0])
    assert not torch.allclose(posterior["loc"][1], posterior["loc"][0])
    logits = module.posterior_y_logits(x)
    torch.testing.assert_close(logits[:, 2], logits[:, 0])


def test_kmeans_components_follow_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    values = np.concatenate(
        [
            c + rng.normal(scale=s, size=(40, 2))
            for c, s in zip(centres, (0.5, 1.0, 2.0), strict=True)
        ]
    )
    fit = kmeans_components(values, 3, seed=4)
    means, variances, shares = fit.means, fit.variances, fit.shares
    reference = KMeans(n_clusters=3, n_init=10, random_state=4).fit(values)
    np.testing.assert_allclose(means, reference.cluster_centers_)
    np.testing.assert_array_equal(fit.labels, reference.labels_)
    np.testing.assert_allclose(shares, np.bincount(reference.labels_, minlength=3) / len(values))
    for index in range(3):
        members = values[reference.labels_ == index]
        np.testing.assert_allclose(
            variances[index], np.maximum(members.var(axis=0), VARIANCE_FLOOR)
        )


def test_a_single_member_component_gets_the_overall_variance() -> None:
    values = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [50.0, 50.0]])
    fit = kmeans_components(values, 2, seed=0)
    means, variances = fit.means, fit.variances
    lonely = int(np.argmax(means[:, 0]))
    np.testing.assert_allclose(variances[lonely], values.var(axis=0))


def test_library_prior_is_a_distribution_over_the_integers() -> None:
    prior = LibraryPrior()
    prior.fit(torch.tensor([300.0, 800.0, 1500.0, 2500.0, 6000.0]))
    n = torch.arange(0, 200_000, dtype=torch.float64)
    total = float(torch.exp(prior.log_prob(n)).sum())
    beyond = stats.norm(float(prior.loc), float(prior.scale)).sf(np.log(200_000.0))
    assert total + beyond == pytest.approx(1.0, abs=1e-9)


def test_library_prior_matches_the_normal_cdf_and_the_fitted_moments() -> None:
    totals = torch.tensor([120.0, 900.0, 1000.0, 4000.0, 15000.0])
    prior = LibraryPrior()
    prior.fit(totals)
    logs = np.log(totals.numpy().astype(np.float64))
    assert float(prior.loc) == pytest.approx(logs.mean())
    assert float(prior.scale) == pytest.approx(logs.std(ddof=1))
    n = np.array([0.0, 1.0, 7.0, 350.0, 1200.0, 9000.0, 60000.0])
    cdf = stats.norm(logs.mean(), logs.std(ddof=1)).cdf
    lower = np.where(n > 0, cdf(np.log(np.maximum(n, 1.0))), 0.0)
    expected = np.log(cdf(np.log(n + 1.0)) - lower)
    got = prior.log_prob(torch.from_numpy(n)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    far = prior.log_prob(torch.tensor([1e9], dtype=torch.float64))
    assert torch.isfinite(far).all()


@pytest.mark.parametrize("model_type", ["VAE", "GMVAE"])
def test_bound_is_the_conditional_bound_plus_the_library_term(model_type) -> None:
    config = ModelConfig(
        model_type=model_type,
        latent_size=L,
        hidden_sizes=(8,),
        reconstruction_distribution="negative_binomial",
        library_size="observed",
    )
    module = build_module(config, F, number_of_classes=2).eval()
    counts = torch.poisson(torch.rand(6, F) * 5.0)
    module.decoder.library.fit(counts.sum(1))
    output = module(_inputs(counts))
    library = output.kl["log_p_library"]
    expected = module.decoder.library.log_prob(counts.sum(1, keepdim=True))
    torch.testing.assert_close(library, expected)
    assert bool((library < 0).all())
    if model_type == "VAE":
        conditional = output.reconstruction_error - output.kl["kl_divergence"]
        torch.testing.assert_close(output.lower_bound, conditional + library)
    none = build_module(config.replace(library_size="none"), F, number_of_classes=2)
    assert "log_p_library" not in none.eval()(_inputs(counts)).kl


def test_configurations_saved_before_the_library_option_keep_their_model() -> None:
    saved = ModelConfig().to_dict()
    del saved["library_size"], saved["mixture_initialisation_epoch"]
    del saved["component_revival_interval"], saved["dispersion"]
    restored = ModelConfig.from_dict(saved)
    assert restored.dispersion == "cell"
    assert restored.library_size == "none"
    assert restored.mixture_initialisation_epoch == 0
    assert restored.component_revival_interval == 0


def test_original_defaults_are_one_switch_away() -> None:
    original = ModelConfig.with_defaults("2.1.4")
    assert (original.reconstruction_distribution, original.latent_size) == ("poisson", 2)
    assert original.hidden_sizes == (100,) and original.library_size == "none"
    assert original.prior_probabilities_method == "uniform"
    assert original.component_revival_interval == 0
    assert original.dispersion == "cell" and ModelConfig().dispersion == "gene"
    assert ModelConfig().prior_probabilities_method == "learn"
    assert TrainingConfig.with_defaults("2.1.4").learning_rate == 1e-4
    assert ModelConfig.with_defaults("2.1.4", latent_size=5).latent_size == 5
    assert ModelConfig.with_defaults("current") == ModelConfig()


def test_kmeans_prior_probabilities_take_the_clusters_shares() -> None:
    config = ModelConfig(
        model_type="GMVAE",
        latent_size=L,
        hidden_sizes=(8,),
        prior_probabilities_method="kmeans",
    )
    module = build_module(config, F, number_of_classes=3)
    # uniform until placed
    assert torch.allclose(torch.softmax(module.y_prior.logits(), -1), torch.full((3,), 1 / 3))
    shares = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)
    module.place_components(torch.zeros(3, L), torch.ones(3, L), shares)
    weights, _, _ = module.prior_centroids()
    torch.testing.assert_close(weights.double(), shares, rtol=1e-6, atol=1e-7)
    # the shares are part of the model's state (saved with it)
    assert "y_prior.fixed_logits" in module.state_dict()
    uniform = build_module(
        replace(config, prior_probabilities_method="uniform"), F, number_of_classes=3
    )
    uniform.place_components(torch.zeros(3, L), torch.ones(3, L), shares)
    assert uniform.y_prior.logits() is None
    # the default, learned weights: they start again from the shares, then are trained
    learned = _gmvae()
    with torch.no_grad():
        learned.y_prior.learned_logits.copy_(torch.tensor([4.0, 0.0, -4.0]))
    learned.place_components(torch.zeros(3, L), torch.ones(3, L), shares)
    weights, _, _ = learned.prior_centroids()
    torch.testing.assert_close(weights.double(), shares, rtol=1e-6, atol=1e-7)
    assert learned.y_prior.learned_logits.requires_grad


def test_kmeans_prior_probabilities_need_the_placement() -> None:
    from scvae.models.base import ModelConfigError

    config = ModelConfig(
        model_type="GMVAE", prior_probabilities_method="kmeans", mixture_initialisation_epoch=0
    )
    with pytest.raises(ModelConfigError, match="--mixture-initialisation-epoch"):
        build_module(config, F, number_of_classes=3)


def test_assignments_follow_the_placed_clusters(cells_in_file_order, three_cell_types) -> None:
    from scvae.training.priors import align_assignments

    groups, counts = three_cell_types(3000)
    module = build_module(
        ModelConfig(model_type="GMVAE", latent_size=L, hidden_sizes=(16,)), 21, number_of_classes=3
    )
    labels = (groups + 1) % 3  # any numbering of the clusters
    align_assignments(module, cells_in_file_order(counts), labels, 100, torch.device("cpu"))
    module.eval()
    with torch.no_grad():
        assigned = module.posterior_y_logits(_inputs(counts).x).argmax(1).numpy()
    assert (assigned == labels).mean() > 0.95


@pytest.mark.parametrize("smoothing", [0.0, 1.0, 3.0])
def test_weight_smoothing_settles_the_weights_between_the_shares_and_uniform(smoothing) -> None:
    """With only p(y) trained, its weights reach (mean q(y|x) + lambda / K) / (1 + lambda)."""
    config = ModelConfig(
        model_type="GMVAE",
        latent_size=L,
        hidden_sizes=(8,),
        reconstruction_distribution="negative_binomial",
        mixture_weight_smoothing=smoothing,
    )
    module = build_module(config, F, number_of_classes=3).eval()
    with torch.no_grad():  # q(y|x) far from uniform, so the shares differ from 1/K
        module.y_encoder.heads.block.linear.bias.copy_(torch.tensor([3.0, 1.0, -2.0]))
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    logits = module.y_prior.learned_logits
    logits.requires_grad_(True)
    counts = torch.tensor(np.random.default_rng(0).poisson(3.0, size=(64, F)), dtype=torch.float32)
    inputs = _inputs(counts)
    optimiser = torch.optim.Adam([logits], lr=0.1)
    for _ in range(600):
        optimiser.zero_grad()
        module(inputs).loss.backward()
        optimiser.step()
    shares = module(inputs).y_probabilities.mean(0).double()
    expected = (shares + smoothing / 3) / (1 + smoothing)
    torch.testing.assert_close(
        torch.softmax(logits.detach().double(), -1), expected, atol=2e-3, rtol=0
    )
    # the reported bound leaves the prior on the weights out
    output = module(inputs)
    kl_y = output.kl["kl_divergence_y"]
    assert torch.isfinite(output.lower_bound).all() and (kl_y >= 0).all()


def test_weight_smoothing_is_recorded_in_the_model_folder_name() -> None:
    from scvae.models.naming import model_name

    config = ModelConfig(model_type="GMVAE", mixture_weight_smoothing=0.5)
    assert "ws_0.5" in model_name(config, 4)
    assert "ws_" not in model_name(replace(config, mixture_weight_smoothing=0.0), 4)
    uniform = replace(config, prior_probabilities_method="uniform")
    assert "ws_" not in model_name(uniform, 4)
