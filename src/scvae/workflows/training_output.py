"""What ``scvae train`` prints: the model description, its trainable parameters, epoch lines.

The description lists the model's setup the way scVAE 2.1.4 did (type, sizes, latent and
reconstruction distributions, samples, KL, normalisation, corrections, warm-up, dropout,
early stopping) plus the data and the run folder. Each epoch is one line with human
names (ELBO, ENRE, KL or KL_z and KL_y, accuracy) for the training and, when there is
one, the validation set, and the time of the epoch's training pass and of its evaluation
passes. The legend above the first epoch line says how many cells each set is evaluated
on; an epoch line repeats the numbers where a set is evaluated on a subsample.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from scvae.analyses.results import TERM_TITLES
from scvae.config import ModelConfig, TrainingConfig
from scvae.distributions import registry
from scvae.models.build import ModelFacts
from scvae.models.naming import latent_distribution

#: row keys that are not terms of the bound
NOT_TERMS = (
    "epoch",
    "set",
    "seconds",
    "evaluation_seconds",
    "evaluated_cells",
    "set_cells",
    "accuracy",
    "superset_accuracy",
)
INDENT = "    "


def describe_model(
    config: ModelConfig,
    facts: ModelFacts,
    training: TrainingConfig,
    run: Path,
    examples: Sequence[tuple[str, int]] = (),
) -> str:
    """The model's setup, one ``name: value`` line per property, under ``Model setup:``.

    ``examples`` gives (set name, number of examples) of the sets trained and validated on.
    """
    latent = latent_distribution(config)
    mixture = config.model_type == "GMVAE" or "mixture" in latent
    lines = [
        ("type", config.model_type),
        ("feature size", f"{facts.feature_size:,}"),
        ("latent size", config.latent_size),
        ("hidden sizes", ", ".join(str(size) for size in config.hidden_sizes) or "none"),
        ("latent distribution", latent.replace("_", " ")),
    ]
    if mixture:
        prior = config.prior_probabilities_method if config.model_type == "GMVAE" else "uniform"
        lines.append(("components", f"{facts.number_of_classes} (prior probabilities: {prior})"))
    lines.append(("reconstruction distribution", _likelihood(config)))
    if config.number_of_reconstruction_classes > 0:
        lines.append(("reconstruction classes", config.number_of_reconstruction_classes))
    lines += [
        ("Monte Carlo samples", config.number_of_monte_carlo_samples[0]),
        ("importance samples", config.number_of_importance_samples[0]),
        ("KL weight", f"{config.kl_weight:g}"),
        ("analytical KL term", _yes(latent in ("gaussian", "legacy_gaussian_mixture"))),
        ("batch normalisation", _yes(config.minibatch_normalisation)),
        ("batch correction", _batch_correction(config, facts)),
        ("warm-up", _epochs(config.number_of_warm_up_epochs)),
        ("dropout keep probabilities", _values(config.dropout_keep_probabilities)),
        ("count sum", _yes(config.count_sum)),
    ]
    if config.model_type == "GMVAE":
        placement = config.mixture_initialisation_epoch
        lines.append(
            ("component placement", f"k-means after epoch {placement}" if placement else "none")
        )
        revival = getattr(config, "component_revival_interval", 0)
        if revival > 0:
            every = "every epoch" if revival == 1 else f"every {revival} epochs"
            lines.append(("empty components", f"moved {every} after the placement"))
        if config.proportion_of_free_nats_for_y_kl_divergence > 0:
            lines.append(("free nats for KL_y", config.proportion_of_free_nats_for_y_kl_divergence))
    stopping = "after 10 epochs with no improvement" if training.early_stopping else "no"
    lines += [
        ("early stopping", stopping),
        ("learning rate", f"{training.learning_rate:g}"),
        ("minibatch size", training.minibatch_size),
        ("seed", facts.seed),
        ("data", _data(facts, examples)),
        ("folder", run),
    ]
    return "Model setup:\n" + "\n".join(f"{INDENT}{name}: {value}" for name, value in lines)


def _likelihood(config: ModelConfig) -> str:
    name = registry.canonical_name(config.reconstruction_distribution).replace("_", " ")
    notes = []
    if registry.scale_head(config.reconstruction_distribution):
        if config.library_size == "observed":
            notes.append("mean scaled by each cell's total count")
        elif config.library_size == "proportions":
            notes.append("mean: each cell's total count times proportions over the genes")
    if registry.dispersion_head(config.reconstruction_distribution):
        per_gene = config.dispersion == "gene"
        notes.append("r learned per gene" if per_gene else "r per cell and gene")
    return f"{name} ({'; '.join(notes)})" if notes else name


def _batch_correction(config: ModelConfig, facts: ModelFacts) -> str:
    if facts.number_of_batches:
        return f"yes ({facts.number_of_batches} batches)"
    return "no (the data have no batches)" if config.batch_correction else "no"


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _epochs(number: int) -> str:
    return f"{number} epoch{'s' if number != 1 else ''}" if number else "none"


def _values(values: Sequence[float]) -> str:
    return ", ".join(f"{value:g}" for value in values) or "none"


def _data(facts: ModelFacts, examples: Sequence[tuple[str, int]]) -> str:
    counts = ", ".join(f"{number:,} {name}" for name, number in examples)
    return f"{facts.data_set}" + (f" ({counts} examples)" if counts else "")


def parameter_table(module: torch.nn.Module) -> str:
    """The trainable parameters: name, shape and count of each, then the total."""
    rows = [
        (name, " x ".join(str(size) for size in parameter.shape) or "scalar", parameter.numel())
        for name, parameter in module.named_parameters()
        if parameter.requires_grad
    ]
    total = sum(count for _, _, count in rows)
    name_width = max([len("total"), *(len(name) for name, _, _ in rows)])
    shape_width = max([len("shape"), *(len(shape) for _, shape, _ in rows)])
    count_width = max(len("number"), len(f"{total:,}"))
    lines = [f"Trainable parameters ({len(rows)} tensors, {total:,} numbers):"]
    header = f"{'name':<{name_width}}  {'shape':<{shape_width}}  {'number':>{count_width}}"
    lines.append(INDENT + header)
    for name, shape, count in rows:
        lines.append(
            f"{INDENT}{name:<{name_width}}  {shape:<{shape_width}}  {count:>{count_width},}"
        )
    lines.append(f"{INDENT}{'total':<{name_width}}  {'':<{shape_width}}  {total:>{count_width},}")
    return "\n".join(lines)


# ------------------------------------------------------------------ epoch lines
def _times(rows: Sequence[dict]) -> str:
    """``1.02 s + 0.21 s`` (training + evaluation), ``... on 20,000/5,000 cells`` if sampled."""
    if not rows or all(row.get("evaluation_seconds") is None for row in rows):
        return duration(epoch_seconds(rows))
    training = duration(float(rows[0].get("seconds") or 0.0))
    text = f"{training} + {duration(evaluation_seconds(rows))}"
    if any(_subsampled(row) for row in rows):
        text += " on " + "/".join(f"{row['evaluated_cells']:,}" for row in rows) + " cells"
    return text


def number(value: float) -> str:
    """A value with the decimals that matter at its size (-625.9, -32.54, 4.14, 0.183)."""
    size = abs(value)
    if size >= 1000:
        return f"{value:.0f}"
    if size >= 100:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    if size >= 0.001 or size == 0:
        return f"{value:.3f}"
    return f"{value:.2g}"


def duration(seconds: float) -> str:
    """``0.93 s``, ``12.3 s``, ``2 min 5 s``, ``1 h 2 min``."""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def epoch_rows(epoch: int, rows: Sequence[dict]) -> list[dict]:
    """The rows of 0-based ``epoch`` (one per evaluated set, training first)."""
    return [row for row in rows if row["epoch"] == epoch + 1]


def epoch_seconds(rows: Sequence[dict]) -> float:
    """The epoch's time: its training pass and the evaluation passes of each set."""
    if not rows:
        return 0.0
    return float(rows[0].get("seconds") or 0.0) + evaluation_seconds(rows)


def evaluation_seconds(rows: Sequence[dict]) -> float:
    """The time of the epoch's evaluation passes (all sets)."""
    return sum(float(row.get("evaluation_seconds") or 0.0) for row in rows)


def _subsampled(row: dict) -> bool:
    cells, total = row.get("evaluated_cells"), row.get("set_cells")
    return cells is not None and total is not None and cells < total


def _evaluated(rows: Sequence[dict]) -> str | None:
    """``all 270/30 cells evaluated``, or ``cells evaluated: 20,000 of 1,050,000/all 5,000``."""
    if any(row.get("evaluated_cells") is None for row in rows):
        return None
    if not any(_subsampled(row) for row in rows):
        return "all " + "/".join(f"{row['evaluated_cells']:,}" for row in rows) + " cells evaluated"
    parts = [
        f"{row['evaluated_cells']:,} of {row['set_cells']:,}"
        if _subsampled(row)
        else f"all {row['evaluated_cells']:,}"
        for row in rows
    ]
    return "cells evaluated: " + "/".join(parts) + ", the same each epoch"


def epoch_legend(rows: Sequence[dict]) -> str:
    """The line above the first epoch line: which sets the values are of, and log P(N).

    It also says how many cells of each set are evaluated after each epoch and that the
    times are those of the training pass and of the evaluation passes. log P(N), the
    library-size prior's term of the ELBO, is fixed before the first epoch (the prior is
    fitted to the training totals), so it is given once here.
    """
    sets = "/".join(row["set"] for row in rows)
    text = f"Epochs ({sets} set{'s' if len(rows) > 1 else ''}"
    evaluated = _evaluated(rows)
    if evaluated:
        text += f", {evaluated}"
    if any(row.get("evaluation_seconds") is not None for row in rows):
        text += "; time: training + evaluation"
    text += "; nats per cell"
    if rows[0].get("log_p_library") is not None:
        values = "/".join(number(row["log_p_library"]) for row in rows)
        text += f"; the ELBO includes log P(N) = {values}, fixed by the data"
    return text + "):"


def epoch_line(epoch: int, rows: Sequence[dict], number_of_epochs: int) -> str:
    """``Epoch 3/60 (1.02 s + 0.21 s): ELBO -625.9/-630.1, ENRE ..., KL 12.34/12.56, ...``.

    The times are the training pass and the evaluation passes (with the cells evaluated,
    ``on 20,000/20,000 cells``, where a set is evaluated on a subsample). Each value is
    given for the training set, then the validation set when there is one.
    """
    width = len(str(number_of_epochs))
    head = f"Epoch {epoch + 1:>{width}}/{number_of_epochs} ({_times(rows)}):"
    if not rows:
        return head
    parts = []
    for name in rows[0]:
        if name in NOT_TERMS or name == "log_p_library" or rows[0][name] is None:
            continue
        values = "/".join(number(row[name]) for row in rows if row.get(name) is not None)
        parts.append(f"{TERM_TITLES.get(name, name)} {values}")
    for name, title in (("accuracy", "Acc"), ("superset_accuracy", "superset Acc")):
        if any(row.get(name) is not None for row in rows):
            values = "/".join(f"{100 * row[name]:.1f}" for row in rows if row.get(name) is not None)
            parts.append(f"{title} {values} %")
    return f"{head} " + ", ".join(parts)
