"""The user-facing model classes (``scvae.VariationalAutoencoder`` and
``scvae.GaussianMixtureVariationalAutoencoder``), wrapping the pure modules.

Each holds a :class:`~scvae.config.ModelConfig`, the module built from it, and a log
directory (the model folder) where training writes checkpoints, curves and
``config.json``. Training prepares the run folder and trains exactly as
``scvae train`` does (:func:`scvae.workflows.train.prepare_run` and
:func:`~scvae.workflows.train.fit_run`); evaluation and sampling restore a model
version from it.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scvae.config import DataConfig, ModelConfig, TrainingConfig
from scvae.data.data_set import DataSet
from scvae.errors import ConfigError
from scvae.evaluation.evaluate import evaluate_module, sample_model
from scvae.evaluation.restore import load_version
from scvae.folders import move_run, run_directory
from scvae.models.build import ModelFacts, build_module, samples_for
from scvae.models.naming import model_name
from scvae.training.lock import holds_run_locks
from scvae.workflows.data_sets import labelled
from scvae.workflows.train import fit_run, prepare_run


class _Model:
    """Shared behaviour of the two user-facing model classes."""

    model_type = "VAE"

    def __init__(
        self,
        feature_size: int,
        *,
        number_of_batches: int | None = None,
        number_of_latent_clusters: int | None = None,
        prior_probabilities: Any = None,
        log_directory: str | Path | None = None,
        seed: int = 0,
        **options: Any,
    ) -> None:
        self.config = model_config(self.model_type, options)
        self.feature_size = int(feature_size)
        if self.config.batch_correction and not number_of_batches:
            raise ConfigError(
                "batch_correction=True needs number_of_batches (the data set's number of "
                "batches, at least 1); without batches there is nothing to correct"
            )
        self.number_of_batches = int(number_of_batches or 0) if self.config.batch_correction else 0
        self._clusters = int(number_of_latent_clusters or self.config.number_of_classes or 1)
        self.prior_probabilities = (
            None if prior_probabilities is None else tuple(float(p) for p in prior_probabilities)
        )
        self.seed = seed
        self._temporary = None
        if log_directory is None:  # nothing is written into the current folder unless asked
            self._temporary = tempfile.TemporaryDirectory(prefix="scvae-")
            log_directory = Path(self._temporary.name) / "model"
        self.log_directory = Path(log_directory)
        torch.manual_seed(seed)
        self.module = build_module(
            self.config,
            self.feature_size,
            number_of_classes=self._clusters,
            number_of_batches=self.number_of_batches,
            prior_probabilities=self.prior_probabilities,
        )

    # ------------------------------------------------------------ properties
    def __getattr__(self, name: str) -> Any:
        config = self.__dict__.get("config")
        if config is not None and name in {field.name for field in dataclasses.fields(config)}:
            return getattr(config, name)
        raise AttributeError(name)

    @property
    def name(self) -> str:
        """Short name used in folder names (model type, likelihood, sizes, options)."""
        return model_name(self.config, self._clusters)

    @property
    def description(self) -> str:
        """A readable description of the model."""
        config = self.config
        lines = [
            f"{self.model_type}: {self.feature_size} features, latent size {config.latent_size}, "
            f"hidden sizes {list(config.hidden_sizes)}",
            f"reconstruction distribution: {config.reconstruction_distribution}",
            f"number of trainable parameters: {self.number_of_parameters:,}",
        ]
        return "\n".join(lines)

    @property
    def parameters(self) -> dict[str, tuple[int, ...]]:
        """Trainable parameters: name -> shape."""
        return {
            name: tuple(parameter.shape)
            for name, parameter in self.module.named_parameters()
            if parameter.requires_grad
        }

    @property
    def number_of_parameters(self) -> int:
        return sum(int(np.prod(shape)) for shape in self.parameters.values())

    # ---------------------------------------------------------------- train
    @holds_run_locks  # the run folder is locked while it trains
    def train(
        self,
        training_set,
        validation_set=None,
        number_of_epochs: int | None = None,
        minibatch_size: int | None = None,
        learning_rate: float | None = None,
        run_id: str | None = None,
        new_run: bool | None = None,
        reset_training: bool | None = None,
        *,
        progress: bool = True,
        log=print,
        **kwargs: Any,
    ) -> Path:
        """Train (or continue training up to ``number_of_epochs``); return the run folder."""
        values = {
            "number_of_epochs": number_of_epochs,
            "minibatch_size": minibatch_size,
            "learning_rate": learning_rate,
            "run_id": run_id,
            "new_run": new_run,
            "reset_training": reset_training,
            "seed": self.seed,
            **kwargs,
        }
        training = TrainingConfig(**{k: v for k, v in values.items() if v is not None})
        if training_set.number_of_features != self.feature_size:
            raise ConfigError(
                f"the model has {self.feature_size} features but the training set has "
                f"{training_set.number_of_features}"
            )
        batches = training_set.number_of_batches or 0
        if self.number_of_batches and batches != self.number_of_batches:
            raise ConfigError(
                f"the model corrects for {self.number_of_batches} batches but the training set "
                f"has {batches or 'none'}"
            )
        facts = ModelFacts(
            self.feature_size,
            self._clusters,
            self.number_of_batches,
            self.prior_probabilities,
            self.seed,
            str(training_set.input),
        )
        run, final, facts = prepare_run(
            self.log_directory, facts, DataConfig(), self.config, training
        )
        self._run = final
        trained = fit_run(
            self.module,
            training_set,
            validation_set,
            run,
            self.config,
            training,
            facts,
            progress=progress,
            log=log,
        )
        return move_run(run, final, training.caches_directory) if run != final else trained

    # ------------------------------------------------------- evaluate/sample
    def _restore(self, run_id, use_early_stopping_model: bool, use_best_model: bool) -> int:
        version = (
            "early_stopping"
            if use_early_stopping_model
            else "best_model"
            if use_best_model
            else "end_of_training"
        )
        run = (
            run_directory(self.log_directory, run_id)
            if run_id
            else getattr(self, "_run", self.log_directory)
        )
        trained = load_version(run, version, self.module, next(self.module.parameters()).device)
        if trained is None:
            raise ConfigError(
                f'no {version.replace("_", " ")} checkpoint in "{run}"; train the model first'
            )
        return trained.epoch

    def evaluate(
        self,
        evaluation_set,
        minibatch_size: int | None = None,
        run_id: str | None = None,
        use_early_stopping_model: bool = False,
        use_best_model: bool = False,
        **kwargs: Any,
    ):
        """Reconstructions and latent values: ``(reconstructed set, {"z": set[, "y": set]})``.

        The reconstructed set is dense (examples x features); use ``scvae evaluate`` for
        large sets, which keeps only what its plots need.
        """
        self._restore(run_id, use_early_stopping_model, use_best_model)
        facts = ModelFacts(
            self.feature_size, self._clusters, self.number_of_batches, None, self.seed, ""
        )
        source = labelled(evaluation_set, self.config, facts).source
        result = evaluate_module(
            self.module,
            source,
            samples=samples_for(self.config)[1],
            minibatch_size=minibatch_size or TrainingConfig().minibatch_size,
            reconstruction_rows=np.arange(evaluation_set.number_of_examples),
        )
        common = {"example_names": evaluation_set.example_names, "labels": evaluation_set.labels}
        reconstructed = DataSet(
            evaluation_set.input,
            values=result.reconstruction,
            feature_names=evaluation_set.feature_names,
            kind=getattr(evaluation_set, "kind", "full"),
            **common,
        )
        latent = {
            "z": _latent_set(
                evaluation_set,
                result.z,
                "z variable" if result.y is not None else "latent variable",
                common,
            )
        }
        if result.y is not None:
            latent["y"] = _latent_set(evaluation_set, result.y, "y variable", common)
        return reconstructed, latent

    def sample(
        self,
        sample_size: int | None = None,
        minibatch_size: int | None = None,
        run_id: str | None = None,
        use_early_stopping_model: bool = False,
        use_best_model: bool = False,
    ):
        """Draws from the generative model: ``(samples, {"z": set[, "y": set]})`` (E[x|z] per draw)."""
        self._restore(run_id, use_early_stopping_model, use_best_model)
        try:
            drawn = sample_model(self.module, sample_size or 1000, minibatch_size or 250)
        except NotImplementedError as error:
            raise ConfigError(str(error)) from error
        names = [f"sample {i + 1}" for i in range(len(drawn["x"]))]
        features = [f"feature {j + 1}" for j in range(drawn["x"].shape[1])]
        samples = DataSet(
            "samples", values=drawn["x"], example_names=names, feature_names=features, kind="sample"
        )
        common = {"example_names": names}
        latent = {
            "z": _latent_set(
                None, drawn["z"], "z variable" if "y" in drawn else "latent variable", common
            )
        }
        if "y" in drawn:
            latent["y"] = _latent_set(None, drawn["y"], "y variable", common)
        return samples, latent


def _latent_set(data_set, values: np.ndarray, prefix: str, common: dict) -> DataSet:
    features = [f"{prefix} {i + 1}" for i in range(values.shape[1])]
    return DataSet(
        "latent" if data_set is None else data_set.input,
        values=values,
        feature_names=features,
        reconstruction_distribution="gaussian",
        kind="latent",
        **common,
    )


class VariationalAutoencoder(_Model):
    """Variational auto-encoder with the manual's constructor arguments.

    Parameters mirror ``scvae train`` options, in the manual's order: ``feature_size``,
    ``latent_size``, ``hidden_sizes``, ``reconstruction_distribution``,
    ``number_of_reconstruction_classes``, ``latent_distribution``,
    ``minibatch_normalisation``, ``batch_correction``, ``number_of_batches``,
    ``number_of_warm_up_epochs``, ``log_directory``; any other
    :class:`~scvae.config.ModelConfig` field as a keyword. Without ``log_directory`` the
    model trains in a temporary folder.
    """

    model_type = "VAE"

    def __init__(
        self,
        feature_size: int,
        latent_size: int | None = None,
        hidden_sizes: Any = None,
        reconstruction_distribution: str | None = None,
        number_of_reconstruction_classes: int | None = None,
        latent_distribution: str | None = None,
        minibatch_normalisation: bool | None = None,
        batch_correction: bool | None = None,
        number_of_batches: int | None = None,
        number_of_warm_up_epochs: int | None = None,
        log_directory: str | Path | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            feature_size,
            latent_size=latent_size,
            hidden_sizes=hidden_sizes,
            reconstruction_distribution=reconstruction_distribution,
            number_of_reconstruction_classes=number_of_reconstruction_classes,
            latent_distribution=latent_distribution,
            minibatch_normalisation=minibatch_normalisation,
            batch_correction=batch_correction,
            number_of_batches=number_of_batches,
            number_of_warm_up_epochs=number_of_warm_up_epochs,
            log_directory=log_directory,
            **kwargs,
        )


class GaussianMixtureVariationalAutoencoder(_Model):
    """Gaussian-mixture VAE with the manual's constructor arguments.

    As :class:`VariationalAutoencoder`, with ``prior_probabilities_method`` (uniform,
    custom, learn), ``prior_probabilities`` and ``number_of_latent_clusters`` after
    ``latent_distribution``, in the manual's order.
    """

    model_type = "GMVAE"

    def __init__(
        self,
        feature_size: int,
        latent_size: int | None = None,
        hidden_sizes: Any = None,
        reconstruction_distribution: str | None = None,
        number_of_reconstruction_classes: int | None = None,
        latent_distribution: str | None = None,
        prior_probabilities_method: str | None = None,
        prior_probabilities: Any = None,
        number_of_latent_clusters: int | None = None,
        minibatch_normalisation: bool | None = None,
        batch_correction: bool | None = None,
        number_of_batches: int | None = None,
        number_of_warm_up_epochs: int | None = None,
        log_directory: str | Path | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            feature_size,
            latent_size=latent_size,
            hidden_sizes=hidden_sizes,
            reconstruction_distribution=reconstruction_distribution,
            number_of_reconstruction_classes=number_of_reconstruction_classes,
            latent_distribution=latent_distribution,
            prior_probabilities_method=prior_probabilities_method,
            prior_probabilities=prior_probabilities,
            number_of_latent_clusters=number_of_latent_clusters,
            minibatch_normalisation=minibatch_normalisation,
            batch_correction=batch_correction,
            number_of_batches=number_of_batches,
            number_of_warm_up_epochs=number_of_warm_up_epochs,
            log_directory=log_directory,
            **kwargs,
        )

    @property
    def number_of_latent_clusters(self) -> int:
        """Number of mixture components K."""
        return self._clusters


def model_config(model_type: str, options: dict[str, Any]) -> ModelConfig:
    """A :class:`ModelConfig` of ``model_type`` from keyword options (``None``: default)."""
    given = {name: value for name, value in options.items() if value is not None}
    if given.get("prior_probabilities_method") == "custom":
        given["prior_probabilities_method"] = "infer"
    fields = {field.name for field in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(given) - fields)
    if unknown:
        raise TypeError(f"unexpected model arguments: {', '.join(unknown)}")
    for name in (
        "hidden_sizes",
        "number_of_importance_samples",
        "number_of_monte_carlo_samples",
        "dropout_keep_probabilities",
    ):
        if name in given:
            given[name] = tuple(given[name])
    return ModelConfig(model_type=model_type, **given)
