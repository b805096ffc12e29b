"""Training: a data set -> a run folder with ``config.json``, ``model.json``, the model, curves.

:func:`train` loads (and splits) the data set and calls :func:`train_session`, which
checks the options against the data, chooses and prepares the run folder
(:func:`prepare_run`), builds the model and trains it (:func:`fit_run`). Under
``torchrun`` (or ``scvae train --processes N``) every process runs :func:`train`; the
main one chooses the run folder and writes the files, the others follow it.
"""

from __future__ import annotations

import datetime
import random
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from scvae.config import DataConfig, ModelConfig, TrainingConfig, save_configs
from scvae.data.data_set import DataSet
from scvae.data.matrix import as_matrix
from scvae.distributions.registry import canonical_name
from scvae.errors import ConfigError
from scvae.evaluation.restore import read_model_facts
from scvae.folders import (
    CONFIG_NAME,
    MODEL_FACTS,
    cache_run_directory,
    choose_run,
    corrected_batches,
    data_path,
    features_mapped,
    intermediate_folder,
    metadata_log_name,
    model_directory,
    move_run,
    reset_directory,
)
from scvae.io import atomic_write_json, atomic_write_text
from scvae.models.build import ModelFacts, build_module_from, effective_batch_size, samples_for
from scvae.runs import (
    RunIdentity,
    absolute_configs,
    absolute_input,
    check_same_run,
    data_identity,
    run_identity,
    select_training_run,
    write_identity,
)
from scvae.runtime import keep_freed_memory, resolve_device, training_precision
from scvae.training.checkpoints import trained_epochs
from scvae.training.commit import recover
from scvae.training.curves import GMVAE_TERMS, VAE_TERMS
from scvae.training.fit import FitOptions, fit
from scvae.training.lock import holds_run_locks, lock_run
from scvae.training.parallel import current as current_processes
from scvae.training.parallel import distributed_session
from scvae.workflows.data_sets import labelled, load_data_set, mixture_components, split_data_set
from scvae.workflows.training_output import (
    describe_model,
    epoch_legend,
    epoch_line,
    epoch_rows,
    parameter_table,
)


def train(
    input_file_or_name: str,
    data_config: DataConfig | None = None,
    model_config: ModelConfig | None = None,
    training_config: TrainingConfig | None = None,
    *,
    progress: bool = True,
    log=print,
) -> Path:
    """Train a model on a data set in this process (continuing up to the epoch total).

    With ``--split-data-set`` the model trains on the training set and is validated on
    the validation set. Several processes are started by :mod:`scvae.workflows.launch`
    (or torchrun), each of which calls this function.
    """
    data_config = data_config or DataConfig()
    model_config = model_config or ModelConfig()
    training_config = training_config or TrainingConfig()
    with distributed_session(training_config.device) as processes:
        with processes.main_first():  # one process builds the caches
            data_set = load_data_set(
                data_config,
                input_file_or_name,
                reconstruction_distribution=model_config.reconstruction_distribution,
            )
        sets = split_data_set(data_set, data_config)
        training_set, validation_set = (sets[1], sets[2]) if len(sets) > 1 else (sets[0], None)
        folder = data_path(
            data_set.name,
            data_config,
            data_set.split_indices is not None,
            features_mapped=features_mapped(data_config, data_set),
        )
        shape = (data_set.number_of_examples, data_set.number_of_features)
        identity = run_identity(
            data_identity(input_file_or_name, shape),
            data_config,
            model_config,
            training_config,
            training_config.seed,
        )
        return train_session(
            training_set,
            validation_set,
            folder,
            data_config,
            model_config,
            training_config,
            progress=progress,
            log=log,
            identity=identity,
        )


@holds_run_locks
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
    identity: RunIdentity | None = None,
) -> Path:
    """Train (or continue training) on loaded data sets and return the run folder.

    With ``identity`` (what determines the result) the run is chosen by it: the same
    command continues its run, other data or options never reuse one (see
    :func:`scvae.runs.select_training_run`); without, the model folder is used.
    """
    from scvae.distributions.registry import check_combination

    check_combination(
        model_config.reconstruction_distribution, model_config.number_of_reconstruction_classes
    )
    check_likelihood_fits(canonical_name(model_config.reconstruction_distribution), training_set)
    facts = build_facts(model_config, training_set, training_config)
    build_module_from(model_config, facts)  # options the model refuses: before any folder
    directory = model_directory(
        data_path, model_config, training_config, facts.number_of_classes, facts.number_of_batches
    )
    processes = current_processes()
    if not processes.is_main:
        progress, log = False, _silent
    prepared = None
    if processes.is_main:  # the main process picks the run; the others follow it
        prepared = prepare_run(
            directory, facts, data_config, model_config, training_config, identity, log
        )
    run, final, facts = processes.share(prepared)
    if training_config.threads:
        torch.set_num_threads(training_config.threads)
    keep_freed_memory()
    torch.manual_seed(facts.seed)  # the initial weights follow the run's seed
    module = build_module_from(model_config, facts)
    examples = [
        (kind, data.number_of_examples)
        for kind, data in (("training", training_set), ("validation", validation_set))
        if data is not None
    ]
    log(describe_model(model_config, facts, training_config, final, examples))
    log(parameter_table(module))
    trained = fit_run(
        module,
        training_set,
        validation_set,
        run,
        model_config,
        training_config,
        facts,
        progress=progress,
        log=log,
        intermediate=intermediate_folder(training_config, final),
    )
    if run != final and processes.is_main:
        return move_run(run, final, training_config.caches_directory)
    return final if run != final else trained


def build_facts(config: ModelConfig, training_set: DataSet, training: TrainingConfig) -> ModelFacts:
    """The shape facts of a new model for ``training_set`` (a random seed unless given)."""
    k = mixture_components(config, training_set)
    prior = None
    if config.model_type == "GMVAE" and config.prior_probabilities_method == "infer":
        prior = class_frequencies(training_set, k)
    batches = corrected_batches(config, training_set)
    seed = training.seed if training.seed is not None else random.SystemRandom().randrange(2**31)
    return ModelFacts(
        feature_size=training_set.number_of_features,
        number_of_classes=k,
        number_of_batches=batches,
        prior_probabilities=prior,
        seed=seed,
        data_set=absolute_input(training_set.input),
    )


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
    if as_matrix(data_set.values).has_zeros() and not zero_is_supported(likelihood):
        raise ConfigError(
            f"the {likelihood} likelihood gives zero values a log-density of -inf or +inf, and "
            "these data have zeros; use a count likelihood (poisson, negative_binomial, ...) "
            "or strictly positive values"
        )


def prepare_run(
    directory: Path,
    facts: ModelFacts,
    data_config: DataConfig,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    identity: RunIdentity | None = None,
    log=print,
) -> tuple[Path, Path, ModelFacts]:
    """Choose (and create) the run folder, write its configs and facts: (run, final, facts).

    ``run`` is where training writes; ``final`` differs from it with ``--caches-directory``.
    A resumed run keeps its saved seed (so the curves continue exactly). With
    ``identity`` the run is the one of these data and options, and its record is saved
    (paths in ``config.json`` are stored absolute).
    """
    if identity is None:
        run = choose_run(directory, training_config.replace(reset_training=False))
    else:
        run, identity = select_training_run(directory, training_config, identity, log)
    lock_run(run)  # the run folder is locked before --reset-training empties it
    if training_config.reset_training:
        reset_directory(run)
    elif identity is not None:  # another process may have started it meanwhile
        check_same_run(run, identity)
    final = run
    if training_config.caches_directory:
        run = cache_run_directory(
            training_config.caches_directory, training_config.models_directory, run
        )
    recover(run)  # an epoch interrupted while it was committed
    facts = _reuse_saved_facts(run, facts)
    run.mkdir(parents=True, exist_ok=True)
    if trained_epochs(run) < training_config.number_of_epochs:  # else nothing is rewritten
        if identity is not None:  # first: a run with a config.json always has its record
            write_identity(run, identity.with_(seed=facts.seed))
        data_config, saved_training = absolute_configs(data_config, training_config)
        save_configs(
            run / CONFIG_NAME, data=data_config, model=model_config, training=saved_training
        )
        atomic_write_json(run / MODEL_FACTS, facts.to_dict())
    return run, final, facts


def _silent(*_: Any) -> None:
    """The log of processes other than the main one."""


def _reuse_saved_facts(run: Path, facts: ModelFacts) -> ModelFacts:
    """``facts`` with the seed saved in ``run`` (if the run exists)."""
    if (run / MODEL_FACTS).exists():
        saved = read_model_facts(run)
        return ModelFacts(**{**facts.__dict__, "seed": saved.seed})
    return facts


def fit_run(
    module: torch.nn.Module,
    training_set: DataSet,
    validation_set: DataSet | None,
    run: Path,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    facts: ModelFacts,
    *,
    progress: bool = True,
    log=print,
    intermediate: Path | None = None,
) -> Path:
    """Train ``module`` in the prepared ``run`` folder up to the epoch total; return ``run``.

    Logs each epoch, keeps the epoch records and, with ``intermediate``, draws plots
    there after each epoch; writes a metadata log of the session.
    """
    processes = current_processes()
    done = trained_epochs(run)
    epochs = training_config.number_of_epochs
    if done >= epochs:
        log(f"Model has already been trained for {done} epochs (asked for {epochs}).")
        return run
    if done:
        log(f"Continuing training for {epochs - done} more epochs (up to {epochs}).")
    on_epoch_end = _epoch_callback(
        log, intermediate, module, validation_set or training_set, model_config, facts, epochs, run
    )
    options = _fit_options(model_config, training_config, facts, progress, on_epoch_end, log)
    started = datetime.datetime.now(datetime.timezone.utc)
    with training_precision(torch.device(options.device)):
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


def _fit_options(
    model_config: ModelConfig,
    training_config: TrainingConfig,
    facts: ModelFacts,
    progress: bool,
    on_epoch_end,
    log=print,
) -> FitOptions:
    processes = current_processes()
    train_samples, _ = samples_for(model_config)
    return FitOptions(
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
        on_epoch_end=on_epoch_end,
        on_message=log,
        processes=processes,
        evaluation_cells=training_config.epoch_evaluation_cells,
    )


def _epoch_callback(log, intermediate, module, data_set, model_config, facts, epochs, run):
    """Print each epoch's line, keep the epoch records and, with ``-A``, draw plots."""
    from scvae.analyses.intermediate import IntermediatePlots
    from scvae.training.records import EpochRecorder

    data = labelled(data_set, model_config, facts)
    record = EpochRecorder(run, module, data)
    plots = None if intermediate is None else IntermediatePlots(intermediate, module, data, epochs)

    shown = []

    def callback(epoch: int, rows: list[dict]) -> None:
        current = epoch_rows(epoch, rows)
        if not shown and current:  # the legend above the session's first epoch line
            log(epoch_legend(current))
            shown.append(True)
        log(epoch_line(epoch, current, epochs))
        record(epoch, rows)
        if plots is not None:
            plots(epoch, rows)

    return callback


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
