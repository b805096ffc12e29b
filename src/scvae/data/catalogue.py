"""Built-in data sets: name -> how to obtain it.

Only the offline, synthetic ``development`` set is available so far; the downloadable
public sets of reference §2.2 come with the built-in data sets issue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from scvae.data.raw import RawData


@dataclass(frozen=True)
class BuiltIn:
    """A built-in data set: a title, a description and a builder of its raw data."""

    title: str
    description: str
    build: Callable[[], RawData]


def _development() -> RawData:
    from scvae.data.development import generate_development

    return generate_development()


CATALOGUE: dict[str, BuiltIn] = {
    "development": BuiltIn(
        "Development",
        "synthetic 10,000 x 25 negative-binomial counts with dropout (offline)",
        _development,
    ),
}


def lookup_key(name: str) -> str:
    """Case- and punctuation-insensitive key of a data-set name."""
    return "".join(character for character in name.lower() if character.isalnum())


def find_built_in(name: str) -> tuple[str, BuiltIn] | None:
    """The catalogue entry matching ``name``, or ``None``."""
    key = lookup_key(name)
    for entry_name, entry in CATALOGUE.items():
        if lookup_key(entry_name) == key or lookup_key(entry.title) == key:
            return entry_name, entry
    return None
