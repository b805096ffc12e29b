"""What a report shows: figures and files found under its folder, as relative links."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

#: The report's own file name.
REPORT_NAME = "index.html"
#: Suffixes of figures shown inline.
FIGURE_SUFFIXES = (".png",)
#: Suffixes of files listed as downloads (data exports, logs, metrics).
FILE_SUFFIXES = (
    ".tsv",
    ".tsv.gz",
    ".csv",
    ".csv.gz",
    ".h5ad",
    ".loom",
    ".json",
    ".log",
    ".pkl.gz",
)
#: Other versions of a figure linked beside it when they exist.
ALTERNATE_SUFFIXES = (".pdf", ".svg")


@dataclass
class Contents:
    """Everything under a report folder that the page links to.

    Attributes
    ----------
    sections
        Figure section title -> figure files, in display order.
    files
        Data exports and logs.
    reports
        ``index.html`` files of sub-folders (their figures are not repeated here).
    """

    sections: dict[str, list[Path]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)


def collect(folder: Path, sections: Mapping[str, Iterable[str | Path]] | None = None) -> Contents:
    """Walk ``folder`` (skipping hidden entries and sub-folders with their own report).

    Figures are grouped by the sub-folder they are in, unless ``sections`` names
    them explicitly (paths relative to ``folder``, or absolute paths inside it).
    """
    contents = Contents()
    figures: dict[str, list[Path]] = {}
    for directory, names in _walk(folder, contents):
        for name in sorted(names, key=natural_key):
            path = directory / name
            if _has_suffix(name, FIGURE_SUFFIXES):
                figures.setdefault(_section_title(folder, directory), []).append(path)
            elif _has_suffix(name, FILE_SUFFIXES):
                contents.files.append(path)
    if sections is None:
        ordered = sorted(figures, key=lambda title: (title != "", natural_key(title)))
        contents.sections = {title or "Overview": figures[title] for title in ordered}
    else:
        contents.sections = {
            str(title): [inside(folder, path) for path in paths]
            for title, paths in sections.items()
        }
    return contents


def _walk(folder: Path, contents: Contents) -> Iterable[tuple[Path, list[str]]]:
    for directory, subdirectories, names in os.walk(folder):
        current = Path(directory)
        subdirectories[:] = sorted(
            (name for name in subdirectories if not name.startswith(".")), key=natural_key
        )
        if current != folder and REPORT_NAME in names:
            contents.reports.append(current / REPORT_NAME)
            subdirectories[:] = []
            continue
        yield current, [name for name in names if not name.startswith(".")]


def inside(folder: Path, path: str | Path) -> Path:
    """``path`` (relative to ``folder`` or absolute) as an existing file inside ``folder``."""
    candidate = Path(path)
    candidate = candidate if candidate.is_absolute() else folder / candidate
    resolved, root = candidate.resolve(), folder.resolve()
    if not resolved.is_relative_to(root):
        raise ValueError(f"{path} is outside the report folder {folder}; links must stay inside")
    if not resolved.is_file():
        raise ValueError(f"{path} is not a file")
    return folder / resolved.relative_to(root)


def relative_url(folder: Path, path: Path) -> str:
    """A percent-encoded URL of ``path`` relative to ``folder`` (works after moving both)."""
    relative = Path(os.path.relpath(path, folder))
    return "/".join(quote(part, safe="") for part in relative.parts)


def alternates(path: Path) -> list[Path]:
    """Existing other formats of a figure (``x.pdf`` beside ``x.png``)."""
    return [
        path.with_suffix(suffix)
        for suffix in ALTERNATE_SUFFIXES
        if path.with_suffix(suffix).is_file()
    ]


def natural_key(text: str) -> tuple:
    """Sort key comparing embedded numbers by value (``run_2`` before ``run_10``)."""
    parts = re.split(r"(\d+)", str(text).lower())
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in parts)


def _has_suffix(name: str, suffixes: tuple[str, ...]) -> bool:
    return name.lower().endswith(suffixes)


def _section_title(folder: Path, directory: Path) -> str:
    return "" if directory == folder else directory.relative_to(folder).as_posix()
