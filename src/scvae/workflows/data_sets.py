"""The data sets a workflow works on: load, split, and wrap them for the training loop."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from scvae.config import DataConfig, ModelConfig
from scvae.data.batches import RowSource, minibatches
from scvae.data.data_set import DataSet
from scvae.data.loading import open_data_set
from scvae.distributions.registry import canonical_name
from scvae.errors import ConfigError
from scvae.models.build import ModelFacts
from scvae.training.fit import LabelledSource

#: the names of the subsets after a split, in the order :func:`split_data_set` gives them
SUBSET_KINDS = ("training", "validation", "test")


def load_data_set(config: DataConfig, input_file_or_name: str, **kwargs: Any) -> DataSet:
    """The loaded DataSet that ``config`` describes (values left on disk if backed).

    ``kwargs`` go to :class:`DataSet` (e.g. ``reconstruction_distribution``).
    """
    return open_data_set(config, input_file_or_name, **kwargs)


def split_data_set(data_set: DataSet, config: DataConfig) -> list[DataSet]:
    """``[full]``, or ``[full, training, validation, test]`` when splitting."""
    if not config.split_data_set:
        return [data_set]
    return [data_set, *data_set.split(config.splitting_method, config.splitting_fraction)]


def named_subsets(data_set: DataSet, config: DataConfig) -> dict[str, DataSet]:
    """``{"full": ...}`` plus ``training``, ``validation`` and ``test`` when splitting."""
    subsets = split_data_set(data_set, config)
    named = {"full": subsets[0]}
    named.update(zip(SUBSET_KINDS, subsets[1:], strict=False))
    return named


def mixture_components(config: ModelConfig, data_set: DataSet) -> int:
    """``-K``, else (classes - excluded classes) of a labelled set, else 1."""
    if config.number_of_classes is not None:
        if config.number_of_classes < 1:
            raise ConfigError("--number-of-classes must be at least 1")
        return config.number_of_classes
    if data_set.has_labels:
        return max(data_set.number_of_classes - data_set.number_of_excluded_classes, 1)
    return 1


def labelled(
    data_set: DataSet | None, config: ModelConfig, facts: ModelFacts
) -> LabelledSource | None:
    """The minibatch source of ``data_set`` for the model, with its labels (``None`` if no set)."""
    if data_set is None:
        return None
    source = RowSource.from_data_set(
        data_set,
        count_sum=config.count_sum,
        batch_correction=facts.number_of_batches > 0,
        number_of_batches=facts.number_of_batches,
        binarise=canonical_name(config.reconstruction_distribution) == "bernoulli",
    )
    labels = data_set.labels if data_set.has_labels else None
    superset = data_set.superset_labels if labels is not None else None
    excluded = data_set.specifications.get("excluded superset classes", ["No class"])
    return LabelledSource(
        source, labels, tuple(data_set.excluded_classes), superset, tuple(map(str, excluded))
    )


@torch.no_grad()
def latent_values(
    module: torch.nn.Module,
    data_set: DataSet,
    config: ModelConfig,
    facts: ModelFacts,
    minibatch_size: int = 250,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Latent means ``(N, L)`` and, for the GMVAE, q(y|x) ``(N, K)`` of every example.

    Deterministic (no sampling; the module in evaluation mode), in the data set's row order.
    """
    module.eval()
    device = next(module.parameters()).device
    source = labelled(data_set, config, facts).source
    z, y, order = [], [], []
    for inputs, rows in minibatches(source, max(int(minibatch_size), 1), device=device):
        latent = module.latent_mean(inputs)
        if isinstance(latent, tuple):
            y.append(latent[1].float().cpu().numpy())
            latent = latent[0]
        z.append(latent.float().cpu().numpy())
        order.append(np.asarray(rows))
    if not z:
        return np.zeros((0, 0), np.float32), None
    # sources may read in another order (values on disk: file order); restore row order
    position = np.argsort(np.concatenate(order), kind="stable")
    return np.concatenate(z)[position], (np.concatenate(y)[position] if y else None)
