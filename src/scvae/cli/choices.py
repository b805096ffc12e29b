"""The names an option accepts, read from the tables that define them.

Each :class:`Choices` loads its table (the likelihood registry, the preprocessing and
filter method tables, ...) the first time help is printed or a value is checked, so
``scvae --help`` and ``scvae info`` start without importing torch, and the help can
never list a name that the code does not accept.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence

#: a loader returns the canonical names and a mapping of other accepted names to them
Loader = Callable[[], "tuple[Sequence[str], Mapping[str, str]]"]


def normalise(name: str) -> str:
    """Lower case, with ``_`` for ``-`` and spaces (how the tables spell names)."""
    return str(name).strip().lower().replace("-", "_").replace(" ", "_")


class Choices:
    """Accepted names of one option: canonical names plus aliases, loaded lazily.

    Parameters
    ----------
    load
        Returns ``(names, aliases)``; ``aliases`` maps another accepted (normalised)
        spelling to its canonical name.
    describe
        Optionally, a function of ``(names, aliases)`` giving the help text's list.
    hidden
        Canonical names that are accepted but not listed.
    """

    def __init__(
        self,
        load: Loader,
        *,
        describe: Callable[[Sequence[str], Mapping[str, str]], str] | None = None,
        hidden: Sequence[str] = (),
    ) -> None:
        self._load = load
        self._describe = describe
        self._hidden = tuple(hidden)
        self._table: tuple[tuple[str, ...], dict[str, str]] | None = None

    def _loaded(self) -> tuple[tuple[str, ...], dict[str, str]]:
        if self._table is None:
            names, aliases = self._load()
            table = {normalise(name): name for name in names}
            table.update({normalise(alias): name for alias, name in aliases.items()})
            self._table = (tuple(names), table)
        return self._table

    @property
    def names(self) -> tuple[str, ...]:
        """Canonical names in table order (hidden ones left out)."""
        return tuple(name for name in self._loaded()[0] if name not in self._hidden)

    @property
    def aliases(self) -> dict[str, str]:
        """Other accepted spellings -> canonical name."""
        names, table = self._loaded()
        return {key: name for key, name in table.items() if key not in names}

    def canonical(self, value: str) -> str:
        """The canonical name for ``value``; an unknown value comes back normalised."""
        key = normalise(value)
        return self._loaded()[1].get(key, key)

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and normalise(value) in self._loaded()[1]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def describe(self) -> str:
        """The help text's list: ``a, b (or b2), c``."""
        if self._describe is not None:
            return self._describe(self.names, self.aliases)
        return describe_names(self.names, self.aliases)

    def suggest(self, value: str) -> str | None:
        """The closest accepted name to a misspelt ``value`` (``None`` if none is close)."""
        table = self._loaded()[1]
        matches = difflib.get_close_matches(normalise(value), list(table), n=1, cutoff=0.6)
        return table[matches[0]] if matches else None


def describe_names(names: Sequence[str], aliases: Mapping[str, str]) -> str:
    """``name (or alias)`` for each name, joined by commas."""
    parts = []
    for name in names:
        others = [alias for alias, target in aliases.items() if target == name and alias != name]
        parts.append(f"{name} (or {', '.join(others)})" if others else name)
    return ", ".join(parts)


def suggestion(value: str, candidates: Sequence[str] | Choices, cutoff: float = 0.6) -> str:
    """``"; did you mean X?"`` for a near miss of ``candidates``, else ``""``."""
    if isinstance(candidates, Choices):
        match = candidates.suggest(value)
    else:
        lowered = {str(c).lower(): str(c) for c in candidates}
        found = difflib.get_close_matches(str(value).lower(), list(lowered), 1, cutoff)
        match = lowered[found[0]] if found else None
    return f"; did you mean {match}?" if match else ""


# ------------------------------------------------------------------ the tables


def _likelihoods() -> tuple[Sequence[str], Mapping[str, str]]:
    from scvae.distributions import registry

    return registry.LIKELIHOODS, registry.LIKELIHOOD_ALIASES


def _preprocessing() -> tuple[Sequence[str], Mapping[str, str]]:
    from scvae.data.preprocessing import PREPROCESSING_METHODS

    return PREPROCESSING_METHODS, {}


def _feature_selection() -> tuple[Sequence[str], Mapping[str, str]]:
    from scvae.data.processing import FEATURE_SELECTION_METHODS

    return FEATURE_SELECTION_METHODS, {}


def _example_filters() -> tuple[Sequence[str], Mapping[str, str]]:
    from scvae.data.processing import EXAMPLE_FILTER_METHODS

    return EXAMPLE_FILTER_METHODS, {}


def _latent_distributions() -> tuple[Sequence[str], Mapping[str, str]]:
    from scvae.models.naming import GMVAE_LATENT_DISTRIBUTIONS, VAE_LATENT_DISTRIBUTIONS

    return VAE_LATENT_DISTRIBUTIONS + GMVAE_LATENT_DISTRIBUTIONS, {}


def _describe_latent(names: Sequence[str], aliases: Mapping[str, str]) -> str:
    vae = [name for name in names if "mixture" not in name]
    gmvae = [name for name in names if "mixture" in name]
    return f"{', '.join(vae)} (VAE); {', '.join(gmvae)} (GMVAE)"


def _decomposition_methods() -> tuple[Sequence[str], Mapping[str, str]]:
    from scvae.analyses.decompositions import METHOD_ALIASES

    return tuple(dict.fromkeys(METHOD_ALIASES.values())), METHOD_ALIASES


#: decomposition method -> (module to import, package to install)
OPTIONAL_PACKAGES = {"umap": ("umap", "umap-learn")}


def _describe_decompositions(names: Sequence[str], aliases: Mapping[str, str]) -> str:
    text = describe_names(names, aliases)
    for method, (_, package) in OPTIONAL_PACKAGES.items():
        text = re.sub(rf"\b{method}\b(?! \()", f"{method} (needs {package})", text, count=1)
    return text


def _analyses() -> tuple[Sequence[str], Mapping[str, str]]:
    from scvae.analyses.selection import ALL, GROUPS

    return tuple(GROUPS) + ALL, {}


def _prediction_methods() -> tuple[Sequence[str], Mapping[str, str]]:
    from scvae.evaluation.predict import METHOD_ALIASES

    aliases = {alias: name for name, spellings in METHOD_ALIASES.items() for alias in spellings}
    return tuple(METHOD_ALIASES), aliases


def _model_versions() -> tuple[Sequence[str], Mapping[str, str]]:
    from scvae.evaluation.restore import VERSION_ALIASES

    aliases = {alias: name for name, spellings in VERSION_ALIASES.items() for alias in spellings}
    return (*VERSION_ALIASES, "all"), aliases


#: config field -> the names it accepts (for the methods of -F and -E: the first value)
CHOICES: dict[str, Choices] = {
    "reconstruction_distribution": Choices(_likelihoods),
    "preprocessing_methods": Choices(_preprocessing),
    "noisy_preprocessing_methods": Choices(_preprocessing),
    "feature_selection": Choices(_feature_selection),
    "example_filter": Choices(_example_filters),
    "latent_distribution": Choices(
        _latent_distributions, describe=_describe_latent, hidden=("legacy_gaussian_mixture",)
    ),
    "decomposition_methods": Choices(_decomposition_methods, describe=_describe_decompositions),
    "included_analyses": Choices(_analyses, hidden=("default",)),
    "prediction_method": Choices(_prediction_methods),
    "model_versions": Choices(_model_versions),
}

#: options whose first value is a method and the rest its parameters
METHOD_WITH_PARAMETERS = frozenset({"feature_selection", "example_filter"})
