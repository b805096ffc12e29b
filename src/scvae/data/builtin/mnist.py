"""The three built-in MNIST sets: LeCun's original, the normalised pickle, the binarised set.

The files are parsed by :mod:`scvae.data.readers.mnist`; this module adds what the
built-in sets say about them: the title, the terms (digit images of pixel intensities),
and for the binarised set that its values are already binarised (``preprocessing
methods: [binarise]``, so no other preprocessing is applied to them).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scvae.data.raw import RawData
from scvae.data.readers.mnist import (
    read_binarised_files,
    read_normalised_file,
    read_original_files,
)

SPLIT_KINDS = ("training", "validation", "test")


def _terms(value_type: str) -> dict[str, str]:
    return {
        "example": "image",
        "feature": "pixel",
        "mapped feature": "pixel",
        "class": "digit",
        "type": value_type,
        "item": "intensity",
    }


def _by_split(files: Mapping[str, Path], role: str) -> dict[str, Path]:
    return {kind: files[f"{role}:{kind}"] for kind in SPLIT_KINDS if f"{role}:{kind}" in files}


def _finish(raw: RawData, title: str, value_type: str, **extra: Any) -> RawData:
    raw.metadata = {**raw.metadata, "title": title, "terms": _terms(value_type), **extra}
    return raw


def read_original(files: Mapping[str, Path], title: str) -> RawData:
    """LeCun's IDX files (``values:<split>``, ``labels:<split>``): intensities 0-255."""
    raw = read_original_files(_by_split(files, "values"), _by_split(files, "labels"))
    return _finish(raw, title, "count")


def read_normalised(files: Mapping[str, Path], title: str) -> RawData:
    """The pickle of training, validation and test pairs (``full``): values in [0, 1]."""
    return _finish(read_normalised_file(files["full"]), title, "value")


def read_binarised(files: Mapping[str, Path], title: str) -> RawData:
    """Larochelle's binarised ``.amat`` files (``values:<split>``), without labels."""
    raw = read_binarised_files(_by_split(files, "values"))
    return _finish(raw, title, "value", **{"preprocessing methods": ["binarise"]})
