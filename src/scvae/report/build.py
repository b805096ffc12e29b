"""``write_report``: one self-contained ``index.html`` per evaluation folder."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from pathlib import Path
from typing import Any

from scvae.io import atomic_write_text
from scvae.report.collect import REPORT_NAME, collect
from scvae.report.html import (
    anchor,
    configuration_html,
    files_html,
    gallery_html,
    metrics_html,
    page,
)


def write_report(
    folder: str | Path,
    *,
    title: str,
    metrics: Mapping[str, Any],
    configuration: Mapping[str, Any],
    sections: Mapping[str, Iterable[str | Path]] | None = None,
    subtitle: str | None = None,
) -> Path:
    """Write ``folder/index.html`` (atomically) and return its path.

    The page holds a table of contents, the summary metrics, the model
    configuration, the figures and links to exported files. Every link is
    relative, so the folder can be moved or archived as a whole. The page needs
    no network and no JavaScript.

    Parameters
    ----------
    folder
        The evaluation (or analysis) folder; created when missing.
    title
        Page heading, e.g. the model name and version.
    metrics
        Summary metrics (e.g. the content of ``metrics.json``); nested mappings
        become one table each, a mapping of flat mappings one grid.
    configuration
        The model's configuration (e.g. the content of ``config.json``).
    sections
        Figure sections in display order: title -> PNG paths (relative to
        ``folder`` or absolute inside it). By default every PNG under ``folder``
        is shown, grouped by sub-folder. Sub-folders with their own
        ``index.html`` are linked, not repeated.
    subtitle
        A line under the heading (e.g. the data and run folders).

    The page shows the metrics first, then the figures, the configuration and the
    files; metric names that scvae writes get their usual titles ("ELBO").
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    contents = collect(folder, sections)
    used: set[str] = set()
    parts: list[tuple[str, str, str]] = []  # (id, heading, body)
    parts.append((anchor("Metrics", used), "Metrics", "\n".join(metrics_html(metrics)) or _none()))
    for name, figures in contents.sections.items():
        heading = f"Figures: {name}"
        parts.append((anchor(heading, used), heading, gallery_html(folder, figures)))
    parts.append(
        (anchor("Configuration", used), "Configuration", configuration_html(configuration))
    )
    if contents.files or contents.reports:
        parts.append((anchor("Files", used), "Files", files_html(folder, contents)))
    body = [f"<h1>{escape(title)}</h1>"]
    if subtitle:
        body.append(f'<p class="muted">{escape(subtitle)}</p>')
    body += [_summary_line(contents), _navigation(parts)]
    for identifier, heading, html in parts:
        body += [f'<section id="{identifier}">', f"<h2>{escape(heading)}</h2>", html, "</section>"]
    return atomic_write_text(folder / REPORT_NAME, page(title, body))


def _navigation(parts: list[tuple[str, str, str]]) -> str:
    items = "".join(
        f'<li><a href="#{identifier}">{escape(heading)}</a></li>'
        for identifier, heading, _ in parts
    )
    return f"<nav><ul>{items}</ul></nav>"


def _summary_line(contents) -> str:
    figures = sum(len(paths) for paths in contents.sections.values())
    return (
        f'<p class="muted">{figures} figure(s) in {len(contents.sections)} section(s); '
        f"{len(contents.files)} file(s).</p>"
    )


def _none() -> str:
    return '<p class="muted">No metrics.</p>'
