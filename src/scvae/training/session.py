"""A training session: data set -> model folder, ``config.json``, model, fit, metadata log."""

from __future__ import annotations

import datetime
import json
import math
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from scvae.config import DataConfig, ModelConfig, TrainingConfig, save_configs
from scvae.data.backed_source import source_for
from scvae.data.data_set import DataSet
from scvae.distributions.registry import canonical_name
from scvae.errors import ConfigError
from scvae.folders import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    MODEL_FACTS,
    cache_run_directory,
    choose_run,
    intermediate_folder,
    metadata_log_name,
    model_directory,
    move_run,
)
from scvae.io import atomic_write_json, atomic_write_text
from scvae.runtime import keep_freed_memory, resolve_device
from scvae.training.curves import GMVAE_TERMS, VAE_TERMS
from scvae.training.distributed import current as current_processes
from scvae.training.fit import FitOptions, LabelledSource, fit


@dataclass(frozen=True)
class ModelFacts:
    """What a model's shape depends on besides its config (saved as ``model.json``)."""

    feature_size: int
    number_of_classes: int
    number_of_batches: int
    prior_probabilities: tuple[float, ...] | None
    seed: int
    data_set: str
    feature_names_sample: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in self.__dict__.items()
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelFacts:
        converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**converted)


def number_of_classes(config: ModelConfig, data_set: DataSet) -> int:
    """``-K``, else (classes - excluded classes) of a labelled set, else 1."""
    if config.number_of_classes is not None:
        if config.number_of_classes < 1:
            raise ConfigError("--number-of-classes must be at least 1")
        return config.number_of_classes
    if data_set.has_labels:
        return max(data_set.number_of_classes - data_set.number_of_excluded_classes, 1)
    return 1


def class_frequencies(data_set: DataSet, k: int) -> tuple[float, ...]:
    """Frequencies of the non-excluded labels (for ``--prior-probabilities-method infer``)."""
    if not data_set.has_labels:
        raise ConfigError("--prior-probabilities-method infer needs a labelled data set")
    excluded = set(data_set.excluded_classes)
    counts = Counter(str(label) for label in data_set.labels if str(label) not in excluded)
    ordered = [counts[name] for name in data_set.class_names if counts.get(name)]
    if len(ordered) != k:
        raise ConfigError(
            f"--prior-probabilities-method infer found {len(ordered)} classes but the model "
            f"has {k} components; give -K {len(ordered)} or another method"
        )
    total = sum(ordered)
    return tuple(count / total for count in ordered)


def build_facts(config: ModelConfig, training_set: DataSet, training: TrainingConfig) -> ModelFacts:
    k = number_of_classes(config, training_set)
    prior = None
    if config.model_type == "GMVAE" and config.prior_probabilities_method == "infer":
        prior = class_frequencies(training_set, k)
    batches = training_set.number_of_batches or 0 if config.batch_correction else 0
    seed = training.seed if training.seed is not None else random.SystemRandom().randrange(2**31)
    return ModelFacts(
        feature_size=training_set.number_of_features,
        number_of_classes=k,
        number_of_batches=batches,
        prior_probabilities=prior,
        seed=seed,
        data_set=training_set.input,
    )


def zero_is_supported(likelihood: str) -> bool:
    """Whether the likelihood gives a zero value a finite log-density."""
    from scvae.distributions.registry import build, head_specs

    raw = {
        name: torch.zeros(1, 1, spec.size) if spec.size > 1 else torch.zeros(1, 1)
        for name, spec in head_specs(likelihood).items()
    }
    distribution = build(likelihood, raw, library_size=torch.ones(1, 1))
    with torch.no_grad():
        return bool(torch.isfinite(distribution.log_prob(torch.zeros(1, 1))).all())


def check_likelihood_fits(likelihood: str, data_set: DataSet) -> None:
    """Refuse likelihoods that cannot score the data (e.g. log-normal with zero counts)."""
    from scvae.data.backed import has_zeros

    if has_zeros(data_set.values) and not zero_is_supported(likelihood):
        raise ConfigError(
            f"the {likelihood} likelihood gives zero values a log-density of -inf or +inf, and "
            "these data have zeros; use a count likelihood (poisson, negative_binomial, ...) "
            "or strictly positive values"
        )


def build_module_from(config: ModelConfig, facts: ModelFacts) -> torch.nn.Module:
    from scvae.models import build_module

    return build_module(
        config,
        facts.feature_size,
        number_of_classes=facts.number_of_classes,
        number_of_batches=facts.number_of_batches,
        prior_probabilities=facts.prior_probabilities,
    )


def samples_for(config: ModelConfig) -> tuple[tuple[int, int], tuple[int, int]]:
    """((R, M) for training, (R, M) for evaluation) from the 1-or-2-value options."""
    r = tuple(config.number_of_importance_samples) * 2
    m = tuple(config.number_of_monte_carlo_samples) * 2
    return (r[0], m[0]), (r[1], m[1])


def effective_batch_size(config: ModelConfig, batch_size: int, samples: tuple[int, int]) -> int:
    """The VAE divides the minibatch size by R*M (rounded up), as the original did."""
    if config.model_type == "VAE":
        return max(1, math.ceil(batch_size / (samples[0] * samples[1])))
    return batch_size


def labelled(data_set: DataSet | None, config: ModelConfig, facts: ModelFacts):
    if data_set is None:
        return None
    source = source_for(
        data_set,
        count_sum=config.count_sum,
        batch_correction=facts.number_of_batches > 0,
        number_of_batches=facts.number_of_batches,
        binarise=canonical_name(config.reconstruction_distribution) == "bernoulli",
    )
    labels = data_set.labels if data_set.has_labels else None
    return LabelledSource(source, labels, tuple(data_set.excluded_classes))


def train_session(
    training_set: DataSet,
    validation_set: DataSet | None,
    data_path: str,
    data_config: DataConfig,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    *,
    progress: bool = True,
    log=print,
) -> Path:
    """Train (or continue training) and return the run folder."""
    from scvae.distributions.registry import check_combination

    check_combination(
        model_config.reconstruction_distribution, model_config.number_of_reconstruction_classes
    )
    check_likelihood_fits(canonical_name(model_config.reconstruction_distribution), training_set)
    facts = build_facts(model_config, training_set, training_config)
    directory = model_directory(data_path, model_config, training_config, facts.number_of_classes)
    processes = current_processes()
    if not processes.is_main:
        progress, log = False, _silent
    prepared = None
    if processes.is_main:  # the main process picks the run; the others follow it
        prepared = _prepare_run(directory, facts, data_config, model_config, training_config)
    run, final, facts = processes.share(prepared)
    if training_config.threads:
        torch.set_num_threads(training_config.threads)
    keep_freed_memory()
    torch.manual_seed(facts.seed)  # the initial weights follow the run's seed
    module = build_module_from(model_config, facts)
    log(_describe(module, model_config, facts, run))
    trained = _fit_and_log(
        module,
        training_set,
        validation_set,
        run,
        model_config,
        training_config,
        facts,
        progress,
        log,
        intermediate=intermediate_folder(training_config, final),
    )
    if run != final and processes.is_main:
        return move_run(run, final)
    return final if run != final else trained


def _prepare_run(
    directory: Path,
    facts: ModelFacts,
    data_config: DataConfig,
    model_config: ModelConfig,
    training_config: TrainingConfig,
) -> tuple[Path, Path, ModelFacts]:
    """Choose (and create) the run folder, write its configs and facts: (run, final, facts).

    ``run`` is where training writes; ``final`` differs from it with ``--caches-directory``.
    """
    run = choose_run(directory, training_config)
    final = run
    if training_config.caches_directory:
        run = cache_run_directory(
            training_config.caches_directory, training_config.models_directory, run
        )
    facts = _reuse_saved_facts(run, facts)
    run.mkdir(parents=True, exist_ok=True)
    save_configs(run / CONFIG_NAME, data=data_config, model=model_config, training=training_config)
    atomic_write_json(run / MODEL_FACTS, facts.to_dict())
    return run, final, facts


def _silent(*_: Any) -> None:
    """The log of processes other than the main one."""


def _reuse_saved_facts(run: Path, facts: ModelFacts) -> ModelFacts:
    """A resumed run keeps its seed (so the curves continue exactly)."""
    path = run / MODEL_FACTS
    if path.exists():
        saved = ModelFacts.from_dict(json.loads(path.read_text()))
        return ModelFacts(**{**facts.__dict__, "seed": saved.seed})
    return facts


def _fit_and_log(
    module,
    training_set,
    validation_set,
    run,
    model_config,
    training_config,
    facts,
    progress,
    log,
    intermediate: Path | None = None,
) -> Path:
    from scvae.training.checkpoints import load_checkpoint

    processes = current_processes()

    train_samples, _ = samples_for(model_config)
    checkpoint = run / CHECKPOINT_NAME
    done = int(load_checkpoint(checkpoint)["epoch"]) if checkpoint.exists() else 0
    if done >= training_config.number_of_epochs:
        log(
            f"Model has already been trained for {done} epochs (asked for {training_config.number_of_epochs})."
        )
        return run
    if done:
        log(
            f"Continuing training for {training_config.number_of_epochs - done} more epochs (up to {training_config.number_of_epochs})."
        )
    options = FitOptions(
        number_of_epochs=training_config.number_of_epochs,
        minibatch_size=effective_batch_size(
            model_config, training_config.minibatch_size, train_samples
        ),
        learning_rate=training_config.learning_rate,
        warm_up_epochs=model_config.number_of_warm_up_epochs,
        kl_weight=model_config.kl_weight,
        training_samples=train_samples,
        seed=facts.seed,
        early_stopping=training_config.early_stopping,
        device=str(processes.device(resolve_device(training_config.device))),
        progress=progress,
        terms=GMVAE_TERMS if model_config.model_type == "GMVAE" else VAE_TERMS,
        on_epoch_end=_epoch_callback(
            log,
            intermediate,
            module,
            validation_set or training_set,
            model_config,
            facts,
            training_config.number_of_epochs,
            run,
        ),
        processes=processes,
    )
    started = datetime.datetime.now(datetime.timezone.utc)
    rows = fit(
        module,
        labelled(training_set, model_config, facts),
        labelled(validation_set, model_config, facts),
        run,
        options,
    )
    end = max((row["epoch"] for row in rows), default=done)
    if processes.is_main:
        _write_metadata_log(run, done, end, started, rows, training_config)
    return run


def _epoch_callback(log, intermediate, module, data_set, model_config, facts, epochs, run):
    """Print each epoch's line, keep the epoch records and, with ``-A``, draw plots."""
    from scvae.training.intermediate import IntermediatePlots
    from scvae.training.records import EpochRecorder

    data = labelled(data_set, model_config, facts)
    record = EpochRecorder(run, module, data)
    plots = None if intermediate is None else IntermediatePlots(intermediate, module, data, epochs)

    def callback(epoch: int, rows: list[dict]) -> None:
        log(_epoch_line(epoch, rows))
        record(epoch, rows)
        if plots is not None:
            plots(epoch, rows)

    return callback


def _epoch_line(epoch: int, rows: list[dict]) -> str:
    parts = []
    for row in rows:
        if row["epoch"] != epoch + 1:
            continue
        terms = ", ".join(
            f"{name}: {row[name]:.6g}"
            for name in row
            if name not in ("epoch", "set", "seconds") and row[name] is not None
        )
        parts.append(f"  {row['set'].capitalize()} set: {terms}")
    seconds = next((row["seconds"] for row in rows if row["epoch"] == epoch + 1), 0.0)
    return f"Epoch {epoch + 1} ({seconds:.2f} s):\n" + "\n".join(parts)


def _describe(module, config: ModelConfig, facts: ModelFacts, run: Path) -> str:
    parameters = sum(p.numel() for p in module.parameters() if p.requires_grad)
    lines = [
        f"Model: {config.model_type} with {config.reconstruction_distribution} likelihood",
        f"  features: {facts.feature_size}, latent size: {config.latent_size}, hidden sizes: {list(config.hidden_sizes)}",
        f"  components: {facts.number_of_classes}, trainable parameters: {parameters:,}",
        f"  folder: {run}",
    ]
    return "\n".join(lines)


def _write_metadata_log(
    run: Path, start: int, end: int, started, rows, training: TrainingConfig
) -> None:
    seconds = [row["seconds"] for row in rows if row["epoch"] > start and row["set"] == "training"]
    text = "\n".join(
        [
            f"epochs trained: ({start}, {end})",
            f"start time: {started.isoformat(timespec='seconds')}",
            f"training duration: {sum(seconds):.3f} s",
            f"last epoch duration: {seconds[-1] if seconds else 0.0:.3f} s",
            f"learning rate: {training.learning_rate}",
            f"minibatch size: {training.minibatch_size}",
        ]
    )
    atomic_write_text(run / metadata_log_name(start, end), text + "\n")
