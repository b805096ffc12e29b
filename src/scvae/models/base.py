"""Plumbing shared by the VAE and the GMVAE (reference §3.1-§3.2, §3.8).

Both models are built from the same parts: an :class:`Encoder` (MLP and
parameter heads, optionally conditioned on a set of one-hot vectors), a
:class:`Decoder` (MLP and :class:`LikelihoodHeads`), the per-minibatch
:class:`ModelInputs` and the :class:`LossOutput` they return. The models only
differ in their latent posterior and prior.

Sample tensors keep their sample dimensions in front: a latent sample has shape
``(*samples, B, L)``; the decoder flattens the leading dimensions for its dense
layers (so batch normalisation sees every sample, as in scVAE) and restores them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.distributions import Distribution
from torch.nn import functional

from scvae.config import ModelConfig
from scvae.distributions import registry
from scvae.distributions.kernels import log_mean_exp
from scvae.errors import ConfigError
from scvae.nn.inputs import ModelInputs
from scvae.nn.layers import MLP, DenseBlock

__all__ = [
    "Decoder",
    "Encoder",
    "LikelihoodHeads",
    "LibraryPrior",
    "LossOutput",
    "ModelConfigError",
    "ModelInputs",
    "ParameterHeads",
    "keep_probabilities",
    "log_density",
    "log_mean_exp",
    "resolve_samples",
    "weighted_moments",
]


class ModelConfigError(ConfigError, ValueError):
    """Model options that cannot be built (also a ``ValueError``)."""


@dataclass
class LossOutput:
    """What a model's ``forward`` returns.

    Attributes
    ----------
    loss
        Scalar to minimise: minus the batch mean of the weighted objective.
    lower_bound
        Per-cell unweighted lower bound on ``log p(x)``, shape ``(B,)``.
    reconstruction_error
        Per-cell mean ``log p(x|z)`` (a log-likelihood, so negative), ``(B,)``.
    kl
        Per-cell terms of the bound besides the reconstruction, by name, each ``(B,)``:
        ``kl_divergence`` (VAE), or ``kl_divergence_z`` and ``kl_divergence_y`` (GMVAE),
        and ``log_p_library`` (added, not subtracted) when the likelihood's mean is
        scaled by the observed total count.
    kl_neurons
        Batch-mean KL per latent dimension ``(L,)`` (VAE only).
    y_probabilities
        ``q(y|x)``, shape ``(B, K)`` (GMVAE only).
    latent_mean
        The posterior mean of z that ``latent_mean`` gives, ``(B, L)``, found from the
        same encoder outputs as the bound (so evaluation need not run the encoders again);
        the GMVAE gives it in evaluation mode only.
    """

    loss: Tensor
    lower_bound: Tensor
    reconstruction_error: Tensor
    kl: dict[str, Tensor] = field(default_factory=dict)
    kl_neurons: Tensor | None = None
    y_probabilities: Tensor | None = None
    latent_mean: Tensor | None = None


def resolve_samples(config: ModelConfig) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((R_train, M_train), (R_eval, M_eval))`` from the one- or two-value options."""
    importance = _phase_values(config.number_of_importance_samples, "importance")
    monte_carlo = _phase_values(config.number_of_monte_carlo_samples, "Monte Carlo")
    return (importance[0], monte_carlo[0]), (importance[1], monte_carlo[1])


def _phase_values(values: Sequence[int], kind: str) -> tuple[int, int]:
    values = tuple(values)
    if len(values) not in (1, 2) or any(int(value) < 1 for value in values):
        raise ModelConfigError(
            f"The number of {kind} samples must be one or two positive integers "
            f"(training, then evaluation); got {list(values)}."
        )
    return int(values[0]), int(values[-1])


def keep_probabilities(config: ModelConfig) -> tuple[float, float, float, float]:
    """Dropout keep probabilities ``(hidden, x input, z input, y input)``; missing ones are 1."""
    given = tuple(float(value) for value in config.dropout_keep_probabilities)
    padded = given[:4] + (1.0,) * (4 - len(given[:4]))
    return padded  # type: ignore[return-value]


def log_density(distribution: Distribution, value: Tensor) -> Tensor:
    """``log q(z)`` per latent vector: sums over the last dimension for elementwise families."""
    log_prob = distribution.log_prob(value)
    return log_prob if distribution.event_shape else log_prob.sum(-1)


def weighted_moments(
    means: Tensor, variances: Tensor, weights: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Moments of a mixture of sample distributions over the leading dimensions.

    Parameters
    ----------
    means, variances
        ``E[x|z]`` and ``Var[x|z]`` per sample, shape ``(*samples, B, F)``.
    weights
        Sample weights broadcastable to ``means`` and summing to 1 over the
        sample dimensions.

    Returns
    -------
    tuple
        ``(mean, total variance, explained variance)``, each ``(B, F)``; the
        explained variance is ``Var_z E[x|z]``.
    """
    dims = tuple(range(means.dim() - 2))
    mean = (weights * means).sum(dim=dims)
    explained = (weights * (means - mean) ** 2).sum(dim=dims)
    total = (weights * variances).sum(dim=dims) + explained
    return mean, total, explained


class ParameterHeads(nn.Module):
    """Dense outputs (identity activation, no batch norm), one per named parameter.

    With ``shared`` (the default) all heads share one linear layer whose output is split
    by name: one matrix product instead of one per head, and each head's rows of the
    weight are initialised as a layer of its own would be (Xavier on ``in_size x size``).
    Otherwise each head has its own layer: its output is a contiguous tensor, and the
    backward pass needs no concatenation of the heads' gradients, which is cheaper for
    wide heads (a likelihood's ``F``-wide parameters, times the samples and classes).
    """

    def __init__(
        self,
        in_size: int,
        sizes: Mapping[str, int],
        keep_probability: float,
        *,
        shared: bool = True,
    ) -> None:
        super().__init__()
        self.sizes = {name: int(size) for name, size in sizes.items()}
        self.shared = shared
        if not shared:
            self.blocks = nn.ModuleDict(
                {
                    name: DenseBlock(in_size, size, keep_probability=keep_probability)
                    for name, size in self.sizes.items()
                }
            )
            return
        self.block = DenseBlock(
            in_size, sum(self.sizes.values()), keep_probability=keep_probability
        )
        with torch.no_grad():
            for rows in self.split(self.block.linear.weight, dim=0).values():
                nn.init.xavier_uniform_(rows)

    def split(self, values: Tensor, dim: int = -1) -> dict[str, Tensor]:
        """``values`` of the shared layer's output cut into the heads' parts, by name."""
        parts = values.split(list(self.sizes.values()), dim=dim)
        return dict(zip(self.sizes, parts, strict=True))

    def forward(self, hidden: Tensor) -> dict[str, Tensor]:
        if not self.shared:
            return {name: block(hidden) for name, block in self.blocks.items()}
        return self.split(self.block(hidden))


class Encoder(nn.Module):
    """An MLP and parameter heads; optionally conditioned on a set of vectors.

    Parameters
    ----------
    in_size
        Size of the input ``x``.
    hidden_sizes
        Hidden layer sizes (empty: the heads read ``x`` directly).
    heads
        Output size per parameter name.
    batch_norm
        Batch normalisation in the hidden layers.
    input_keep, hidden_keep
        Dropout keep probabilities on ``x`` and on hidden activations.
    condition_size
        Size ``C`` of the conditioning vectors appended to ``x`` (0: none).
    """

    def __init__(
        self,
        in_size: int,
        hidden_sizes: Sequence[int],
        heads: Mapping[str, int],
        *,
        batch_norm: bool,
        input_keep: float = 1.0,
        hidden_keep: float = 1.0,
        condition_size: int = 0,
    ) -> None:
        super().__init__()
        total = in_size + condition_size
        self.mlp = MLP(
            total,
            hidden_sizes,
            batch_norm=batch_norm,
            input_keep=input_keep,
            hidden_keep=hidden_keep,
        )
        head_keep = hidden_keep if hidden_sizes else input_keep
        self.heads = ParameterHeads(self.mlp.out_size, heads, head_keep)
        self.in_size = in_size

    def forward(self, x: Tensor, conditions: Tensor | None = None) -> dict[str, Tensor]:
        """Parameters for ``x`` ``(B, D)``; with ``conditions`` ``(K, C)``: for every pair.

        Conditioned outputs have shape ``(K, B, size)``: the input part of the
        first layer is computed once and the condition part is added per vector,
        which equals running the network on ``[x, c_k]`` for every ``k``. Input
        dropout acts on ``x`` only.
        """
        if conditions is None:
            return self.heads(self.mlp(x))
        blocks = list(self.mlp.blocks)
        if not blocks:
            return self.heads.split(
                _conditioned_block(self.heads.block, x, conditions, self.in_size)
            )
        hidden = _conditioned_block(blocks[0], x, conditions, self.in_size)
        count, size = hidden.shape[:2]
        flat = hidden.flatten(0, 1)
        for block in blocks[1:]:
            flat = block(flat)
        return {name: value.unflatten(0, (count, size)) for name, value in self.heads(flat).items()}


def _conditioned_block(block: DenseBlock, x: Tensor, conditions: Tensor, split: int) -> Tensor:
    """``block([x, c_k])`` for every row ``c_k`` of ``conditions``: shape ``(K, B, out)``."""
    weight = block.linear.weight
    from_x = block.linear_part(x, weight[:, :split])
    from_conditions = functional.linear(conditions, weight[:, split:])
    linear = from_conditions.unsqueeze(1) + from_x.unsqueeze(0)
    count, size = linear.shape[:2]
    activated = block.activation(block.norm(linear.flatten(0, 1)))
    return activated.unflatten(0, (count, size))


class LikelihoodHeads(nn.Module):
    """Dense heads for a likelihood's parameters, then the distribution from the registry.

    Parameters
    ----------
    in_size
        Size of the decoder's hidden output.
    feature_size
        Number of features ``F``.
    likelihood
        Likelihood name (see :data:`scvae.distributions.registry.LIKELIHOODS`).
    k_max
        Piecewise-categorical classes (0: off).
    keep_probability
        Dropout keep probability on the heads' input.
    dispersion
        ``"gene"``: the negative binomials' ``log r`` is one learned value per feature
        (``feature_log_r``, starting at 0), the same for every cell; ``"cell"``: it is a
        head like the others. Likelihoods without an ``r`` ignore it.
    """

    def __init__(
        self,
        in_size: int,
        feature_size: int,
        likelihood: str,
        *,
        k_max: int = 0,
        keep_probability: float = 1.0,
        dispersion: str = "cell",
    ) -> None:
        super().__init__()
        self.likelihood = registry.canonical_name(likelihood)
        self.k_max = k_max
        self.feature_size = feature_size
        self.head_sizes = {
            name: spec.size for name, spec in registry.head_specs(self.likelihood, k_max).items()
        }
        self.per_feature = registry.per_feature_head(self.likelihood, dispersion)
        if self.per_feature:
            self.feature_log_r = nn.Parameter(torch.zeros(feature_size))
        sizes = {
            name: size * feature_size
            for name, size in self.head_sizes.items()
            if name != self.per_feature
        }
        self.heads = ParameterHeads(in_size, sizes, keep_probability, shared=False)

    def forward(
        self,
        hidden: Tensor,
        leading_shape: Sequence[int] | None = None,
        library_size: Tensor | None = None,
        log_scale: Tensor | None = None,
        *,
        proportions: bool = False,
        log_cap: Tensor | None = None,
    ) -> Distribution:
        """The likelihood for hidden outputs ``(N, H)``, reshaped to ``(*leading_shape, F)``.

        ``log_scale`` (broadcastable to ``(*leading_shape, F)``) is added to the raw
        output of the likelihood's scale head, which multiplies its mean by
        ``exp(log_scale)``. With ``proportions``, the scale head's outputs are first
        turned into log-proportions over the features (a log-softmax) and the mean is
        set to ``exp(log_scale)`` times them, whatever the other heads give. Otherwise,
        with ``log_cap`` (broadcastable like ``log_scale``), no mean exceeds
        ``exp(log_cap)``: the scale head is clipped there (as by ``min``).
        """
        leading = tuple(leading_shape) if leading_shape is not None else hidden.shape[:1]
        raw = {}
        for name, value in self.heads(hidden).items():
            size = self.head_sizes[name]
            tail = (self.feature_size,) if size == 1 else (self.feature_size, size)
            raw[name] = value.reshape(leading + tail)
        if self.per_feature:
            # one value a feature, broadcast by the likelihood (not expanded here: the
            # negative binomial's fused sum then finds r's terms once a feature)
            raw[self.per_feature] = self.feature_log_r
        if log_scale is not None:
            name = registry.scale_head(self.likelihood)
            if proportions:
                log_mean = torch.log_softmax(raw[name], dim=-1) + log_scale.to(raw[name].dtype)
                raw[name] = registry.scale_head_for_mean(self.likelihood, raw, log_mean)
            else:
                raw[name] = raw[name] + log_scale.to(raw[name].dtype)
                if log_cap is not None:
                    cap = registry.scale_head_for_mean(
                        self.likelihood, raw, log_cap.to(raw[name].dtype)
                    )
                    raw[name] = torch.minimum(raw[name], cap)
        return registry.build(self.likelihood, raw, library_size=library_size, k_max=self.k_max)


class Decoder(nn.Module):
    """p(x|z): an MLP with the hidden sizes reversed, then :class:`LikelihoodHeads`.

    Parameters
    ----------
    config
        Model options (likelihood, k_max, dispersion, hidden sizes, batch norm, dropout,
        count sum, batch correction).
    latent_size
        Size ``L`` of ``z``.
    feature_size
        Number of features ``F``.
    number_of_batches
        Depth of the one-hot batch input; used only with batch correction.
    linear
        No hidden layers (the LFM generative architecture).
    """

    def __init__(
        self,
        config: ModelConfig,
        latent_size: int,
        feature_size: int,
        number_of_batches: int = 0,
        *,
        linear: bool = False,
    ) -> None:
        super().__init__()
        keep_hidden, _, keep_z, _ = keep_probabilities(config)
        self.batch_size = number_of_batches if config.batch_correction else 0
        self.count_sum = bool(config.count_sum)
        self.likelihood = registry.canonical_name(config.reconstruction_distribution)
        self.library_offset = uses_library_offset(config)
        self.proportions = self.library_offset and config.library_size == "proportions"
        self.log_features = math.log(feature_size)
        self.library = LibraryPrior() if self.library_offset else None
        hidden_sizes = () if linear else tuple(reversed(config.hidden_sizes))
        in_size = latent_size + self.batch_size + int(self.count_sum)
        self.mlp = MLP(
            in_size,
            hidden_sizes,
            batch_norm=config.minibatch_normalisation,
            input_keep=keep_z,
            hidden_keep=keep_hidden,
        )
        self.heads = LikelihoodHeads(
            self.mlp.out_size,
            feature_size,
            self.likelihood,
            k_max=config.number_of_reconstruction_classes,
            keep_probability=keep_hidden if hidden_sizes else keep_z,
            dispersion=config.dispersion,
        )
        self.in_size = in_size

    @property
    def needs_inputs(self) -> bool:
        """Whether decoding needs more than ``z`` (batch, count sum or library size)."""
        return bool(self.batch_size or self.count_sum or self.likelihood == "constrained_poisson")

    def forward(self, z: Tensor, inputs: ModelInputs | None = None) -> Distribution:
        """p(x|z) for ``z`` ``(*samples, B, L)``; the distribution has shape ``(*samples, B, F)``."""
        leading = z.shape[:-1]
        pieces = [z]
        if self.batch_size:
            pieces.append(_extra(inputs, "batch", z))
        if self.count_sum:
            pieces.append(_extra(inputs, "count_sum", z))
        decoder_input = torch.cat(pieces, dim=-1) if len(pieces) > 1 else z
        hidden = self.mlp(decoder_input.reshape(-1, self.in_size))
        library_size = inputs.library_size if inputs is not None else None
        log_scale = log_cap = None
        if self.library_offset and library_size is not None:
            log_total = torch.log(library_size.clamp_min(1.0))
            if self.proportions:
                # the means are the total count times proportions that sum to one
                log_scale = log_total
            else:
                # the mean of each count is (total count / F) times what the network gives,
                # and at most the total count: no gene can hold more than the whole cell.
                # Training steps leave the cap out (it would cost a third of a GMVAE step):
                # the cap only moves means above N towards the counts, which are at most N,
                # so it can only raise log p(x|z), and the uncapped objective is a lower
                # bound on the capped model's.
                log_scale = log_total - self.log_features
                log_cap = None if self.training else log_total
        return self.heads(
            hidden,
            leading,
            library_size,
            log_scale,
            proportions=self.proportions,
            log_cap=log_cap,
        )

    def library_terms(self, inputs: ModelInputs) -> dict[str, Tensor]:
        """``{"log_p_library": log P(N)}`` per cell when the mean is scaled by the total N.

        Added to the bound, it turns the bound on ``log p(x | N)`` into one on ``log p(x)``.
        """
        if self.library is None:
            return {}
        return {"log_p_library": self.library.log_prob(inputs.library_size)}


class LibraryPrior(nn.Module):
    """p(N) of a cell's total count N: a log-normal discretised onto the integers.

    ``P(N = n) = Phi((log(n + 1) - loc) / scale) - Phi((log n - loc) / scale)`` (with
    ``log 0 = -inf``), a proper distribution over n >= 0. Its ``loc`` and ``scale`` are
    buffers set from the training cells' totals (:meth:`fit`), not trained. With the mean
    scaled by the observed total, ``log p(x | N) + log P(N)`` is a lower bound on
    ``log p(x)`` under the model in which N is drawn from ``P`` and x given N: the
    posterior over the discrete N is the point mass at the observed total.
    """

    MINIMUM_SCALE = 0.05

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("loc", torch.zeros(()))
        self.register_buffer("scale", torch.ones(()))

    @torch.no_grad()
    def fit(self, totals: Tensor) -> None:
        """Set ``loc`` and ``scale`` to the mean and SD of ``log(max(N, 1))``."""
        logs = torch.log(totals.double().clamp_min(1.0)).flatten()
        self.loc.fill_(float(logs.mean()))
        spread = float(logs.std()) if logs.numel() > 1 else 1.0
        self.scale.fill_(max(spread, self.MINIMUM_SCALE))

    def log_prob(self, totals: Tensor) -> Tensor:
        """``log P(N = n)`` for ``totals`` ``(B, 1)`` or ``(B,)``, shape ``(B,)``."""
        n = totals.double().reshape(-1).clamp_min(0.0)
        loc, scale = self.loc.double(), self.scale.double()
        upper = (torch.log(n + 1.0) - loc) / scale
        lower = torch.where(n > 0, (torch.log(n.clamp_min(1.0)) - loc) / scale, -math.inf)
        # log(Phi(b) - Phi(a)), taken on the side of the median where it does not cancel
        left = upper <= 0
        high = torch.where(left, upper, -lower)
        low = torch.where(left, lower, -upper)
        log_high = torch.special.log_ndtr(high)
        log_low = torch.special.log_ndtr(low)
        difference = log_high + torch.log1p(-torch.exp(log_low - log_high).clamp_max(1.0 - 1e-16))
        return difference.to(totals.dtype)


def plus_terms(bound: Tensor, terms: Mapping[str, Tensor]) -> Tensor:
    """``bound`` plus every term of ``terms`` (e.g. the library term)."""
    for value in terms.values():
        bound = bound + value
    return bound


def uses_library_offset(config: ModelConfig) -> bool:
    """Whether the likelihood's mean is scaled by each cell's observed total count."""
    if getattr(config, "library_size", "none") not in ("observed", "proportions"):
        return False
    return registry.scale_head(config.reconstruction_distribution) is not None


def _extra(inputs: ModelInputs | None, name: str, z: Tensor) -> Tensor:
    """The per-example input ``name`` ``(B, C)`` tiled over the sample dimensions of ``z``."""
    value = None if inputs is None else getattr(inputs, name)
    if value is None:
        raise ValueError(f"The decoder needs the {name.replace('_', ' ')} input.")
    return value.to(dtype=z.dtype).expand(z.shape[:-1] + value.shape[-1:])


def sample_bounds(
    log_likelihood: Tensor, kl: Tensor, kl_scale: float = 1.0
) -> tuple[Tensor, Tensor]:
    """Importance-weighted bound and its KL-weighted training version.

    ``mean_M log-mean-exp_R (log p(x|z) - kl)``, with dimension 0 indexing the
    R importance samples and dimension 1 the M Monte Carlo samples. ``kl`` is
    ``log q(z|x) - log p(z)`` per sample (or, with R = 1, an analytical KL that
    broadcasts); with R = 1 this is the ordinary ELBO.

    Returns
    -------
    tuple
        ``(bound, weighted)``: the first with ``kl``, the second with
        ``kl_scale * kl``; shapes are those of the inputs without dimensions 0 and 1.
    """
    bound = log_mean_exp(log_likelihood - kl, 0).mean(0)
    if kl_scale == 1.0:
        return bound, bound
    return bound, log_mean_exp(log_likelihood - kl_scale * kl, 0).mean(0)


def parameter_like(module: nn.Module) -> Tensor:
    """A parameter of ``module``, for its device and dtype."""
    return next(module.parameters())
