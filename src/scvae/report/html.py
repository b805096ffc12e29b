"""HTML pieces of the report. Every text goes through :func:`html.escape`."""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

from scvae.report.collect import Contents, alternates, relative_url

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 1400px; padding: 1rem 2rem; color: #222; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin-top: 1.5rem; }
nav ul { columns: 3 16rem; padding-left: 1.2rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
caption { text-align: left; font-weight: 600; padding: 0.3rem 0; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
thead th { background: #f3f3f3; }
pre { background: #f7f7f7; border: 1px solid #e3e3e3; padding: 0.8rem; overflow: auto;
      max-height: 40rem; font-size: 0.8rem; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 1rem; }
figure { margin: 0; border: 1px solid #e3e3e3; padding: 0.5rem; background: #fff; }
figure img { width: 100%; height: auto; display: block; }
figcaption { font-size: 0.75rem; color: #666; word-break: break-all; margin-top: 0.3rem; }
.muted { color: #666; }
"""


#: Titles shown for the names scvae writes in metrics.json (other names are shown as they are).
TITLES = {
    "timestamp": "Evaluated at",
    "evaluation_set": "Evaluation set",
    "model_version": "Model version",
    "epochs_trained": "Epochs trained",
    "lower_bound": "ELBO (per cell)",
    "reconstruction_error": "Reconstruction term E[log p(x|z)]",
    "kl_divergence": "KL divergence",
    "kl_divergence_z": "KL divergence of z",
    "kl_divergence_y": "KL divergence of y",
    "log_p_library": "log P(N) (total count)",
    "statistics": "Summary statistics",
    "predictions": "Clusterings",
    "model": "GMVAE (its own clusters)",
    "kmeans": "k-means on the latent means",
    "specification": "Specification",
    "number_of_clusters": "Number of clusters",
    "training_set": "Fitted on",
    "adjusted_rand_index": "Adjusted Rand index",
    "adjusted_mutual_information": "Adjusted mutual information",
    "silhouette_score": "Silhouette score",
    "accuracy": "Accuracy",
    "mean": "Mean",
    "standard deviation": "Standard deviation",
    "dispersion": "Dispersion",
    "minimum": "Minimum",
    "median": "Median",
    "maximum": "Maximum",
    "sparsity": "Sparsity",
    "original": "Original counts",
    "reconstructed": "Reconstructed counts",
    "examples": "Examples",
    "features": "Features",
    "full": "All cells",
    "training": "Training set",
    "validation": "Validation set",
    "test": "Test set",
    "number_of_examples": "Examples",
    "number_of_features": "Features",
    "number_of_classes": "Classes",
    "summary_statistics": "All values",
    "count_sum": "Total count per example",
}


#: name endings of clustering metrics: what the clusters are compared with
SUFFIXES = {
    "_labels_superset": ", predicted superset labels",
    "_superset": ", superset",
    "_labels": ", predicted labels",
}


def title_of(name: Any) -> str:
    """The shown title of a metric name (:data:`TITLES`, else the name itself).

    ``adjusted_rand_index_labels`` is "Adjusted Rand index, predicted labels".
    """
    name = str(name)
    if name in TITLES:
        return TITLES[name]
    for suffix, words in SUFFIXES.items():
        if name.endswith(suffix) and name[: -len(suffix)] in TITLES:
            return TITLES[name[: -len(suffix)]] + words
    return name


def _order(names) -> list:
    """Names in :data:`TITLES` order first (as scvae lists them), the others as given."""
    known = list(TITLES)

    def rank(name) -> tuple:
        base = str(name)
        for suffix in SUFFIXES:
            if base.endswith(suffix) and base[: -len(suffix)] in TITLES:
                base = base[: -len(suffix)]
                break
        return (known.index(base), str(name)) if base in TITLES else (len(known), "")

    return sorted(names, key=rank)


def page(title: str, body: list[str]) -> str:
    """A complete, self-contained HTML document."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<link rel="icon" href="data:,">',
            f"<title>{escape(title)}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def anchor(text: str, used: set[str]) -> str:
    """A unique, HTML-safe ``id`` derived from ``text``."""
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
    candidate, number = base, 2
    while candidate in used:
        candidate, number = f"{base}-{number}", number + 1
    used.add(candidate)
    return candidate


def metrics_html(metrics: Mapping[str, Any], caption: str = "") -> list[str]:
    """Tables of metrics: scalars as name/value rows, a dict of flat dicts as a grid.

    ``{"kmeans": {"adjusted_rand_index": ...}, "model": {...}}`` becomes one table
    with a row per method and a column per metric; deeper nesting becomes one
    table per branch, captioned with its path.
    """
    ordered = {key: metrics[key] for key in _order(metrics)}
    scalars = {key: value for key, value in ordered.items() if not isinstance(value, Mapping)}
    nested = {key: value for key, value in ordered.items() if isinstance(value, Mapping)}
    parts = [_key_value_table(scalars, caption)] if scalars else []
    if nested and all(_is_flat(value) for value in nested.values()) and len(nested) > 1:
        parts.append(_grid_table(nested, caption))
    else:
        for key, value in nested.items():
            name = title_of(key)
            parts += metrics_html(value, f"{caption} / {name}" if caption else name)
    return parts


def configuration_html(configuration: Mapping[str, Any]) -> str:
    """The configuration as indented, sorted JSON in a ``<pre>`` block."""
    text = json.dumps(configuration, indent=2, sort_keys=True, default=str)
    return f"<pre>{escape(text)}</pre>"


def gallery_html(folder: Path, figures: list[Path]) -> str:
    """A grid of figures, each linking to its full-size file (and PDF/SVG versions)."""
    cards = []
    for path in figures:
        url = escape(relative_url(folder, path))
        extra = " ".join(
            f'<a href="{escape(relative_url(folder, other))}">{escape(other.suffix[1:].upper())}</a>'
            for other in alternates(path)
        )
        cards.append(
            f'<figure><a href="{url}"><img src="{url}" alt="{escape(path.stem)}"></a>'
            f"<figcaption>{escape(path.name)} {extra}</figcaption></figure>"
        )
    return '<div class="gallery">\n' + "\n".join(cards) + "\n</div>"


def files_html(folder: Path, contents: Contents) -> str:
    """A table of downloadable files and links to the reports of sub-folders."""
    rows = []
    for path in contents.files:
        url = escape(relative_url(folder, path))
        name = escape(path.relative_to(folder).as_posix())
        size = _size(path.stat().st_size)
        rows.append(f'<tr><td><a href="{url}">{name}</a></td><td class="number">{size}</td></tr>')
    for path in contents.reports:
        url = escape(relative_url(folder, path))
        name = escape(path.parent.relative_to(folder).as_posix())
        rows.append(f'<tr><td><a href="{url}">{name}/ (report)</a></td><td></td></tr>')
    header = "<thead><tr><th>File</th><th>Size</th></tr></thead>"
    return f"<table>{header}<tbody>{''.join(rows)}</tbody></table>"


def _is_flat(value: Mapping[str, Any]) -> bool:
    return not any(isinstance(inner, Mapping) for inner in value.values())


def _key_value_table(values: Mapping[str, Any], caption: str) -> str:
    rows = "".join(
        f"<tr><th>{escape(title_of(key))}</th>{_cell(value)}</tr>" for key, value in values.items()
    )
    return f"<table>{_caption(caption)}<tbody>{rows}</tbody></table>"


def _grid_table(rows: Mapping[str, Mapping[str, Any]], caption: str) -> str:
    """One row per entry and a column per metric; columns empty in every row are left out.

    With many more metrics than entries the table is turned: a row per metric.
    """
    columns: list[str] = []
    for row in rows.values():
        columns += [str(key) for key in row if str(key) not in columns]
    cells = {name: {str(k): v for k, v in row.items()} for name, row in rows.items()}
    columns = [c for c in _order(columns) if any(r.get(c) is not None for r in cells.values())]
    if len(columns) > 2 * len(rows) and len(columns) > 6:  # a row per metric
        header = "".join(f"<th>{escape(title_of(name))}</th>" for name in ["", *rows])
        body = "".join(
            f"<tr><th>{escape(title_of(column))}</th>"
            + "".join(_cell(cells[name].get(column)) for name in rows)
            + "</tr>"
            for column in columns
        )
    else:
        header = "".join(f"<th>{escape(title_of(column))}</th>" for column in ["", *columns])
        body = "".join(
            f"<tr><th>{escape(title_of(name))}</th>"
            + "".join(_cell(cells[name].get(column)) for column in columns)
            + "</tr>"
            for name in rows
        )
    return (
        f"<table>{_caption(caption)}<thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
    )


def _caption(text: str) -> str:
    return f"<caption>{escape(text)}</caption>" if text else ""


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return f"<td>{escape(str(value)) if value is not None else '&ndash;'}</td>"
    if isinstance(value, numbers.Integral):
        return f'<td class="number">{int(value)}</td>'
    if isinstance(value, numbers.Real):
        text = "NaN" if math.isnan(value) else f"{float(value):.4g}"
        return f'<td class="number">{escape(text)}</td>'
    if isinstance(value, str):
        return f"<td>{escape(value)}</td>"
    text = json.dumps(value, default=str)
    return f"<td>{escape(text if len(text) <= 200 else text[:197] + '...')}</td>"


def _size(number: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if number < 1024 or unit == "GiB":
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1024
    return f"{number} B"
