"""Cross-analysis data: the options, the evaluations found under an analyses folder, their
filters, abbreviated model titles, the comparison table and the correlations."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scvae.config import _Config, option

OUTPUT_FOLDER = "cross_analysis"
VERSION_PATTERN = re.compile(r"^e_(\d+)(-best_model|-early_stopping)?-mc_\d+-iw_\d+$")
VERSIONS = {"": "EOT", "-best_model": "OP", "-early_stopping": "ES"}
TERMS = {
    "lower_bound": "ELBO",
    "reconstruction_error": "ENRE",
    "kl_divergence": "KL",
    "kl_divergence_z": "KL_z",
    "kl_divergence_y": "KL_y",
}
CLUSTERING = {
    "adjusted_rand_index": "ARI",
    "adjusted_mutual_information": "AMI",
    "silhouette_score": "SS",
}
#: baselines of --other-methods: the folder beside the models, and the name shown
OTHER_METHODS = {
    "kmeans": ("kmeans", "k-means"),
    "seurat": ("seurat", "Seurat"),
    "scvi": ("scvi", "scVI-kM"),
    "factor_analysis": ("factor_analysis", "LFA-kM"),
}


@dataclass(frozen=True)
class CrossAnalysisConfig(_Config):
    """cross-analysis options"""

    include_data_sets: tuple[str, ...] = option(
        (), "--include-data-sets", "-d", nargs="+", help="keep data sets whose path has all texts"
    )
    exclude_data_sets: tuple[str, ...] = option(
        (), "--exclude-data-sets", "-D", nargs="+", help="drop data sets whose path has any text"
    )
    include_models: tuple[str, ...] = option(
        (), "--include-models", "-m", nargs="+", help="keep models whose name has all texts"
    )
    exclude_models: tuple[str, ...] = option(
        (), "--exclude-models", "-M", nargs="+", help="drop models whose name has any text"
    )
    include_prediction_methods: tuple[str, ...] = option(
        (),
        "--include-prediction-methods",
        "-p",
        nargs="+",
        help="keep predictions whose file name has all texts",
    )
    exclude_prediction_methods: tuple[str, ...] = option(
        (),
        "--exclude-prediction-methods",
        "-P",
        nargs="+",
        help="drop predictions whose file name has any text",
    )
    extra_model_specification_for_plots: str | None = option(
        None,
        "--extra-model-specification-for-plots",
        "-a",
        help="one more model option (e.g. wu_200) allowed in the figures",
    )
    no_prediction_methods_for_gmvae_in_plots: bool = option(
        False,
        "--no-prediction-methods-for-gmvae-in-plots",
        action="flag",
        help="figures show a GMVAE's own clusters only",
    )
    epoch_cut_off: int | None = option(
        None, "--epoch-cut-off", "-e", type=int, help="drop models trained for more epochs"
    )
    other_methods: tuple[str, ...] = option(
        (),
        "--other-methods",
        "-o",
        nargs="+",
        help="baselines beside the models",
        choices=tuple(OTHER_METHODS),
    )
    export_options: tuple[str, ...] = option((), "--export-options", nargs="+", help="publication")
    log_summary: bool = option(
        False, "--log-summary", "-s", action="flag", help="also write the summary to a log"
    )


@dataclass
class Evaluated:
    """One evaluated model version (one run) and its predictions."""

    data_set: str
    model: str
    run: str
    version: str
    epochs: int
    terms: dict[str, float]
    predictions: dict[str, dict] = field(default_factory=dict)  # specification -> metrics


# ------------------------------------------------------------------ finding
def find_evaluations(root: str | Path) -> list[Evaluated]:
    """Every test-set evaluation under ``root`` (sorted by path).

    A data set that is not split is evaluated on all its examples (``full``); those
    evaluations count too. Evaluations of other sets lie in sub-folders of the version
    folders and are left out.
    """
    root = Path(root)
    found = []
    for path in sorted(root.rglob("metrics.json")):
        parts = path.relative_to(root).parts[:-1]
        match = VERSION_PATTERN.match(parts[-1]) if parts else None
        if match is None or parts[0] == OUTPUT_FOLDER or len(parts) not in (7, 8):
            continue
        if len(parts) == 8 and not parts[6].startswith("run_"):
            continue
        try:
            metrics = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        # the test set; or all examples of a data set that is not split ("full")
        if not isinstance(metrics, dict) or metrics.get("evaluation_set", "test") not in (
            "test",
            "full",
        ):
            continue
        predictions = {
            entry.get("specification", method): entry
            for method, entry in (metrics.get("predictions") or {}).items()
            if isinstance(entry, dict)
        }
        found.append(
            Evaluated(
                data_set="/".join(parts[:3]),
                model="/".join(parts[3:6]),
                run=parts[6] if len(parts) == 8 else "default",
                version=VERSIONS[match.group(2) or ""],
                epochs=int(metrics.get("epochs_trained", match.group(1))),
                terms={k: float(v) for k, v in metrics.items() if k in TERMS and _number(v)},
                predictions=predictions,
            )
        )
    return found


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kept(text: str, include, exclude) -> bool:
    """Every include text is in ``text`` and no exclude text is."""
    return all(part in text for part in include) and not any(part in text for part in exclude)


def select(evaluations: list[Evaluated], config: CrossAnalysisConfig) -> list[Evaluated]:
    """The evaluations (and predictions) the include/exclude texts and epoch cut-off keep."""
    kept = []
    for item in evaluations:
        if not _kept(item.data_set, config.include_data_sets, config.exclude_data_sets):
            continue
        if not _kept(item.model, config.include_models, config.exclude_models):
            continue
        if config.epoch_cut_off is not None and item.epochs > config.epoch_cut_off:
            continue
        predictions = {
            spec: metrics
            for spec, metrics in item.predictions.items()
            if _kept(
                f"test-prediction-{spec}",
                config.include_prediction_methods,
                config.exclude_prediction_methods,
            )
        }
        kept.append(Evaluated(**{**item.__dict__, "predictions": predictions}))
    return kept


def output_name(config: CrossAnalysisConfig) -> str:
    """``d_<texts>-D_...-m_...-M_...-p_...-P_...-a_<option>-e_<epochs>``, or ``all``."""
    parts = []
    for letter, texts in (
        ("d", config.include_data_sets),
        ("D", config.exclude_data_sets),
        ("m", config.include_models),
        ("M", config.exclude_models),
        ("p", config.include_prediction_methods),
        ("P", config.exclude_prediction_methods),
    ):
        if texts:
            parts.append(f"{letter}_" + "_".join(_safe(text) for text in texts))
    if config.extra_model_specification_for_plots:
        parts.append(f"a_{_safe(config.extra_model_specification_for_plots)}")
    if config.epoch_cut_off is not None:
        parts.append(f"e_{config.epoch_cut_off}")
    return "-".join(parts)[:200] or "all"


def _safe(text: str) -> str:
    """A file-name part: letters, digits and ``_.+`` (``/`` and the like become ``_``)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.+]", "_", str(text)).strip(".")
    return cleaned or "_"


# ----------------------------------------------------------------- titles
def describe_model(model: str) -> dict[str, str]:
    """Short fields of a model name: type, likelihood, sizes and other options.

    ``GMVAE/gaussian_mixture-c_9/negative_binomial-l_10-h_100_100-mc_1-iw_1-bn-wu_200``
    gives ``GMVAE(9)``, ``NB``, ``100×100×10`` and ``BN, WU(200)``.
    """
    kind, latent, likelihood = (model.split("/") + ["", "", ""])[:3]
    latent_parts = latent.split("-")
    components = next((p[2:] for p in latent_parts if p.startswith("c_")), None)
    if kind == "GMVAE":
        title = f"GMVAE({components})"
    else:
        initials = "".join(word[0].upper() for word in latent_parts[0].split("_") if word)
        title = f"VAE({initials}{components or ''})"
    other = [_option_title(p) for p in latent_parts[1:] if not p.startswith("c_")]
    tokens = likelihood.split("-")
    name = "".join(word[0].upper() for word in tokens[0].split("_") if word)
    latent_size, hidden = "?", ""
    for token in tokens[1:]:
        if token.startswith("k_"):
            name = f"PC{name}({token[2:]})"
        elif token.startswith("l_"):
            latent_size = token[2:]
        elif token.startswith("h_"):
            hidden = token[2:].replace("_", "×")
        elif token in ("mc_1", "iw_1", "kl"):
            continue
        else:
            other.append(_option_title(token))
    sizes = f"{hidden}×{latent_size}" if hidden else latent_size
    return {"type": title, "likelihood": name, "sizes": sizes, "other": ", ".join(other)}


_OPTION_TITLES = {
    "bn": "BN",
    "bc": "BC",
    "sum": "CS",
    "lib": "LIB",
    "libp": "LIBP",
    "rg": "RG",
    "parameterised": "PLP",
}


def _option_title(token: str) -> str:
    if token in _OPTION_TITLES:
        return _OPTION_TITLES[token]
    key, _, value = token.partition("_")
    if key == "dropout":
        return f"DO({value.replace('_', ', ')})"
    if key in ("klw", "wu", "fn", "mi", "cr", "ws", "mc", "iw", "p", "ia", "ga"):
        return f"{key.upper()}({value})"
    return token


def _raw_options(model: str) -> set[str]:
    _, latent, likelihood = (model.split("/") + ["", "", ""])[:3]
    tokens = latent.split("-")[1:] + likelihood.split("-")[1:]
    ignored = {"kl", "mc_1", "iw_1"}
    return {t for t in tokens if not t.startswith(("c_", "l_", "h_", "k_")) and t not in ignored}


# ------------------------------------------------------------------ tables
def points_table(evaluations: list[Evaluated]) -> pd.DataFrame:
    """One row per data set, model, run, version and prediction (``-`` without one)."""
    rows = []
    for item in evaluations:
        base = {
            "data_set": item.data_set,
            "model": item.model,
            "run": item.run,
            "version": item.version,
            "epochs": item.epochs,
            **{title: item.terms.get(name, np.nan) for name, title in TERMS.items()},
        }
        predictions = item.predictions or {"-": {}}
        for spec, metrics in predictions.items():
            row = {**base, "method": spec}
            for name, title in CLUSTERING.items():
                value = metrics.get(name)
                row[title] = float(value) if _number(value) else np.nan
            rows.append(row)
    columns = ["data_set", "model", "run", "version", "epochs", *TERMS.values(), "method"]
    return pd.DataFrame(rows, columns=[*columns, *CLUSTERING.values()])


def model_ids(models) -> dict[str, str]:
    """``A``, ``B``, ..., ``Z``, ``AA``, ... for the models in order."""
    ids = {}
    for index, model in enumerate(dict.fromkeys(models)):
        letters = ""
        index += 1
        while index:
            index, remainder = divmod(index - 1, 26)
            letters = chr(65 + remainder) + letters
        ids[model] = letters
    return ids


def comparison_table(points: pd.DataFrame) -> pd.DataFrame:
    """Mean ± sd over runs per model, version and method; the best mean ELBO first."""
    ids = model_ids(points["model"])
    rows = []
    for (model, version, method), group in points.groupby(
        ["model", "version", "method"], sort=False
    ):
        described = describe_model(model)
        epochs = sorted(set(group["epochs"]))
        row = {
            "ID": ids[model],
            **described,
            "clustering method": method,
            "runs": group["run"].nunique(),
            "version": version,
            "epochs": str(epochs[0]) if len(epochs) == 1 else f"{epochs[0]}-{epochs[-1]}",
            "_elbo": group["ELBO"].mean(),
        }
        for title in ("ELBO", *CLUSTERING.values()):
            row[title] = _mean_sd(group[title].to_numpy(dtype=float))
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table = table.sort_values("_elbo", ascending=False, na_position="last", kind="stable")
    return table.drop(columns="_elbo").reset_index(drop=True)


def _mean_sd(values: np.ndarray) -> str:
    values = values[np.isfinite(values)]
    if not len(values):
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{values.mean():.4g} ± {values.std(ddof=1):.2g}"


def correlations(points: pd.DataFrame) -> dict[str, float | None]:
    """Pearson r of the ELBO with each clustering metric (``None`` when undefined)."""
    from scipy.stats import pearsonr

    found: dict[str, float | None] = {}
    for title in CLUSTERING.values():
        kept = points[["ELBO", title]].dropna()
        if len(kept) < 3 or kept["ELBO"].nunique() < 2 or kept[title].nunique() < 2:
            found[title] = None
            continue
        r = float(pearsonr(kept["ELBO"], kept[title])[0])
        found[title] = None if math.isnan(r) else r
    return found


def baselines(root: Path, data_set: str, methods) -> dict[str, dict[str, float]]:
    """Clustering metrics of other methods: ``metrics.json`` files beside the models.

    A baseline lives in ``<root>/<data set path>/<kmeans|seurat|scvi|factor_analysis>/``
    (any depth; the first file found), with the ``predictions`` of ``metrics.json``.
    """
    found = {}
    for method in methods:
        folder_name, title = OTHER_METHODS[method]
        folders = [
            child
            for child in (root / data_set).glob("*")
            if child.is_dir() and child.name.lower() == folder_name
        ]
        for path in sorted(p for folder in folders for p in folder.rglob("metrics.json")):
            try:
                entries = (json.loads(path.read_text()).get("predictions") or {}).values()
            except (OSError, ValueError, AttributeError):
                continue
            entry = next((e for e in entries if isinstance(e, dict)), None)
            if entry is not None:
                found[title] = {
                    t: float(entry[n]) if _number(entry.get(n)) else np.nan
                    for n, t in CLUSTERING.items()
                }
                break
    return found


def summary(data_set: str, points: pd.DataFrame, others: dict[str, dict[str, float]]) -> str:
    """The printed comparison of one data set's models."""
    table = comparison_table(points)
    ids = model_ids(points["model"])
    lines = [f"Data set: {data_set}", "", "Models:"]
    for model, letter in ids.items():
        described = describe_model(model)
        title = " ".join(v for v in described.values() if v)
        lines.append(f"  {letter}: {title}  ({model})")
    for name, metrics in others.items():
        values = ", ".join(f"{t}: {_mean_sd(np.array([v]))}" for t, v in metrics.items())
        lines.append(f"  {name} (baseline): {values}")
    common = {
        column: table[column].iloc[0]
        for column in ("type", "likelihood", "sizes", "other", "clustering method", "version")
        if column in table and table[column].nunique() == 1 and len(table) > 1
    }
    if common:
        lines += ["", "Common to all: " + "; ".join(f"{k}: {v}" for k, v in common.items() if v)]
    shown = table.drop(columns=list(common))
    lines += ["", shown.to_string(index=False)]
    r = correlations(points)
    lines += [
        "",
        "Correlation with the ELBO (Pearson r): "
        + ", ".join(f"{t}: {'n/a' if v is None else f'{v:.3f}'}" for t, v in r.items()),
    ]
    return "\n".join(lines)
