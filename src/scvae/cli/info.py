"""``scvae info RUN_FOLDER``: what a trained run is, how far it got and where its files are.

Reads the run's own files (``config.json``, ``model.json``, ``learning_curves.csv``,
``metadata_log-*.log``) and any evaluation results (``metrics.json``) found under the
analyses folder, and checks each checkpoint against its digest (sizes and SHA-256 only;
nothing is unpickled). ``--record-digests`` gives checkpoints written by an earlier scvae,
which have no digest file, one, after reading them safely.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
from pathlib import Path
from typing import Any

from scvae.cli.common import add_leaf_options
from scvae.errors import ScvaeError
from scvae.runs import data_identity, read_identity
from scvae.training.checkpoints import checkpoint_status, record_digest

#: the run's model versions: sub-folder holding the checkpoint -> name
VERSIONS = {"": "end of training", "best": "best model", "early_stopping": "early stopping"}


class NotARun(ScvaeError):
    """The folder given to ``scvae info`` is not a trained run."""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "info",
        help="Describe a trained run: data, options, epochs, metrics and folders.",
        description="Describe a trained run (a folder with config.json, as printed by "
        "'scvae train'): its data, options, epochs trained, best epoch, last metrics "
        "and folders.",
        short_usage="scvae info RUN_FOLDER",
    )
    parser.add_argument("run_folder", metavar="RUN_FOLDER", help="a run folder")
    parser.add_argument(
        "--analyses-directory",
        "-A",
        metavar="DIR",
        default="analyses",
        help="where 'scvae evaluate' wrote its results, to show their metrics",
    )
    parser.add_argument(
        "--record-digests",
        action="store_true",
        help="give checkpoints written by an earlier scvae (which have no digest file) "
        "their SHA-256 digest, after checking that each holds a valid scvae state",
    )
    add_leaf_options(parser)
    parser.set_defaults(run=run)


def run(namespace: argparse.Namespace) -> int:
    folder = Path(namespace.run_folder)
    configs = read_run(folder)
    if namespace.record_digests:
        for path in _checkpoints(folder):
            if record_digest(path):
                print(f"Recorded the digest of {path}")
    facts = _read_json(folder / "model.json")
    facts = facts if isinstance(facts, dict) else {}
    curves = read_curves(folder / "learning_curves.csv")
    for label, value in describe(folder, configs, facts, curves, namespace.analyses_directory):
        print(f"{label + ':':<12} {value}")
    return 0


def read_run(folder: Path) -> dict[str, Any]:
    """The run's ``config.json``; :class:`NotARun` (one line) for any other folder."""
    if not folder.is_dir():
        raise NotARun(f"{folder}: {'not a folder' if folder.exists() else 'no such folder'}")
    config = folder / "config.json"
    if not config.is_file():
        runs = sorted(path.name for path in folder.glob("run_*") if path.is_dir())
        where = f"; it holds the runs {', '.join(runs)}: give one of them" if runs else ""
        raise NotARun(f"{folder}: not a run folder (no config.json){where}")
    configs = _read_json(config)
    if not isinstance(configs, dict) or not isinstance(configs.get("model"), dict):
        raise NotARun(f"{config}: not a run's configuration")
    return configs


def read_curves(path: Path) -> dict[str, dict[int, dict[str, float]]]:
    """``learning_curves.csv`` as ``{set: {epoch: {term: value}}}`` (empty if absent)."""
    curves: dict[str, dict[int, dict[str, float]]] = {}
    if not path.is_file():
        return curves
    try:
        with path.open(newline="") as file:
            for row in csv.DictReader(file):
                values = {
                    str(key): _float(value)
                    for key, value in row.items()
                    if key not in ("epoch", "set")
                }
                curves.setdefault(str(row["set"]), {})[int(row["epoch"])] = values
    except (OSError, KeyError, TypeError, ValueError, csv.Error) as error:
        raise NotARun(f"{path}: not readable as learning curves ({error})") from None
    return curves


def describe(folder, configs, facts, curves, analyses) -> list[tuple[str, str]]:
    """The ``(label, text)`` lines printed by ``scvae info``."""
    model, training = configs["model"], configs.get("training")
    training = training if isinstance(training, dict) else {}
    lines = [("Run", str(folder)), ("Data", _data(folder, facts, model))]
    trained_on = _trained_on(folder)
    if trained_on:
        lines.append(("Trained on", trained_on))
    lines.append(("Model", _model(model, facts)))
    lines.append(("Training", _training(training, facts)))
    lines += _epochs(folder, training, curves)
    lines.append(("Versions", _versions(folder)))
    results, found = _results(folder, training, analyses)
    for path in found:
        lines.append(("Evaluated", _metrics_line(path, results or folder)))
    lines.append(("Folders", _folders(folder, results if found else None)))
    return lines


def _data(folder: Path, facts: dict, model: dict) -> str:
    name = facts.get("data_set", "?")
    parts = [f"{facts['feature_size']} features"] if "feature_size" in facts else []
    for key in ("number_of_examples", "examples"):
        if key in facts:
            parts.insert(0, f"{facts[key]} examples")
    if facts.get("number_of_batches"):
        parts.append(f"{facts['number_of_batches']} batches")
    text = f"{name} ({', '.join(parts)})" if parts else str(name)
    data_path = _data_path(folder, model)
    return f"{text}; data folder {data_path}" if data_path else text


def _trained_on(folder: Path) -> str | None:
    """The data the run's record names, and whether that input still matches it."""
    identity = read_identity(folder)
    if identity is None:
        return None
    data = identity.data
    text = data.describe()
    if data.size is None:
        return text
    path = Path(data.input)
    if not path.exists():
        return f"{text}; that input no longer exists"
    now = data_identity(path, data.shape)
    if (now.size, now.modified) == (data.size, data.modified):
        return f"{text}; unchanged since training"
    if now.size == data.size:
        return f"{text}; modified since training (same size)"
    return f"{text}; changed since training ({data.size:,} bytes then, {now.size:,} now)"


def _data_path(folder: Path, model: dict) -> str | None:
    """``<name>/<split>/<preprocessing>``: the three folders above the model type's."""
    parts = folder.resolve().parts
    if parts and parts[-1].startswith("run_"):
        parts = parts[:-1]
    if len(parts) < 6 or parts[-3] != model.get("model_type"):
        return None
    return "/".join(parts[-6:-3])


def _model(model: dict, facts: dict) -> str:
    latent = model.get("latent_distribution") or (
        "gaussian" if model.get("model_type") == "VAE" else "gaussian_mixture"
    )
    hidden = " ".join(str(size) for size in model.get("hidden_sizes", ()))
    text = (
        f"{model.get('model_type')}, {model.get('reconstruction_distribution')} likelihood, "
        f"{latent} latent of {model.get('latent_size')}, hidden layers {hidden or 'none'}"
    )
    if model.get("model_type") == "GMVAE" and facts.get("number_of_classes"):
        text += f", {facts['number_of_classes']} components"
    if model.get("number_of_warm_up_epochs"):
        text += f", {model['number_of_warm_up_epochs']} warm-up epochs"
    return text


def _training(training: dict, facts: dict) -> str:
    seed = facts.get("seed", training.get("seed"))
    parts = [
        f"learning rate {training.get('learning_rate', '?')}",
        f"minibatch size {training.get('minibatch_size', '?')}",
        f"seed {seed if seed is not None else '?'}",
    ]
    if training.get("early_stopping"):
        parts.append("early stopping")
    if training.get("defaults") not in (None, "current"):
        parts.append(f"scVAE {training['defaults']} defaults")
    return ", ".join(parts)


def _epochs(folder: Path, training: dict, curves: dict) -> list[tuple[str, str]]:
    trained = max((epoch for rows in curves.values() for epoch in rows), default=None)
    if trained is None:
        trained = _epochs_from_logs(folder)
    asked = training.get("number_of_epochs")
    text = f"{trained if trained is not None else 0} trained"
    if asked is not None:
        text += f" (of {asked} asked)"
    kind = "validation" if "validation" in curves else "training"
    rows = curves.get(kind, {})
    bounds = {e: v.get("lower_bound", math.nan) for e, v in rows.items()}
    bounds = {e: v for e, v in bounds.items() if not math.isnan(v)}
    if bounds:
        best = max(bounds, key=bounds.__getitem__)
        text += f"; best epoch {best} ({kind} ELBO {_number(bounds[best])})"
    lines = [("Epochs", text)]
    if trained in rows or any(trained in r for r in curves.values()):
        last = [f"{name} {_terms(r[trained])}" for name, r in curves.items() if trained in r]
        lines.append(("Last epoch", "; ".join(last)))
    return lines


def _epochs_from_logs(folder: Path) -> int | None:
    ends = []
    for path in folder.glob("metadata_log-*-*.log"):
        found = re.fullmatch(r"metadata_log-\d+-(\d+)\.log", path.name)
        if found:
            ends.append(int(found.group(1)))
    return max(ends, default=None)


_TERMS = {"lower_bound": "ELBO", "reconstruction_error": "reconstruction", "accuracy": "accuracy"}


def _terms(values: dict[str, float]) -> str:
    shown = []
    for key, value in values.items():
        if key in ("seconds", "evaluation_seconds", "set_cells") or math.isnan(value):
            continue
        if key == "evaluated_cells":  # all of the set's cells, or the per-epoch sample
            total = values.get("set_cells", math.nan)
            of = f" of {int(total):,}" if total > value else ""
            shown.append(f"on {int(value):,}{of} cells")
            continue
        label = _TERMS.get(key, key.replace("kl_divergence", "KL").replace("_", " "))
        shown.append(f"{label} {_number(value)}")
    return ", ".join(shown)


def _checkpoints(folder: Path) -> list[Path]:
    """The checkpoint files of the run's model versions."""
    found = []
    for sub in VERSIONS:
        if (folder / sub).is_dir():
            found += sorted((folder / sub).glob("*.pt"))
    return found


def _versions(folder: Path) -> str:
    have = []
    for sub, name in VERSIONS.items():
        checkpoints = sorted((folder / sub).glob("*.pt")) if (folder / sub).is_dir() else []
        if checkpoints:
            details = [f"{sub}/"] if sub else []
            details += sorted({checkpoint_status(path) for path in checkpoints})
            have.append(f"{name} ({', '.join(details)})")
    return ", ".join(have) or "no checkpoints"


def _results(folder: Path, training: dict, analyses: str) -> tuple[Path | None, list[Path]]:
    """The run's analyses folder and the ``metrics.json`` of its evaluations (or the run's)."""
    found = sorted(folder.glob("metrics.json"))
    models = Path(training.get("models_directory") or "models").resolve()
    try:
        results = Path(analyses) / folder.resolve().relative_to(models)
    except ValueError:
        return None, found
    if not results.is_dir():
        return None, found
    found += sorted(results.glob("e_*/metrics.json")) + sorted(results.glob("e_*/*/metrics.json"))
    return results, found


def _metrics_line(path: Path, results: Path) -> str:
    metrics = _read_json(path) or {}
    version = str(metrics.get("model_version", "?")).replace("_", " ")
    text = f"{version}, {metrics.get('evaluation_set', '?')} set"
    if isinstance(metrics.get("lower_bound"), (int, float)):
        text += f": ELBO {_number(metrics['lower_bound'])}"
    for method, values in (metrics.get("predictions") or {}).items():
        scores = [
            f"{key} {_number(values[key])}"
            for key in ("adjusted_rand_index", "adjusted_mutual_information", "accuracy")
            if isinstance(values.get(key), (int, float))
        ]
        if scores:
            text += f"; {method}: {', '.join(scores).replace('_', ' ')}"
    where = path.parent.relative_to(results) if path.parent != results else Path(".")
    return f"{text} (in {where}/)"


def _folders(folder: Path, results: Path | None) -> str:
    subs = sorted(path.name + "/" for path in folder.iterdir() if path.is_dir())
    text = str(folder) + (f" (with {', '.join(subs)})" if subs else "")
    return f"{text}; analyses in {results}" if results else text


def _read_json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise NotARun(f"{path}: unreadable ({error})") from None


def _float(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def _number(value: float) -> str:
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.4g}"
