"""Which analyses to run: ``--included-analyses`` groups and names."""

from __future__ import annotations

from collections.abc import Iterable

from scvae.errors import ConfigError

SIMPLE = ("metrics", "images", "learning_curves", "latent_values", "predictions")
STANDARD = SIMPLE + ("profile_comparisons", "distributions", "decompositions", "latent_space")
ALL = STANDARD + (
    "heat_maps",
    "distances",
    "feature_value_standard_deviations",
    "latent_distributions",
    "latent_correlations",
    "latent_features",
    "kl_heat_maps",
    "accuracies",
)
GROUPS = {"simple": SIMPLE, "standard": STANDARD, "all": ALL, "default": STANDARD}


def included_analyses(names: Iterable[str]) -> frozenset[str]:
    """The analysis names selected by groups and individual names."""
    chosen: set[str] = set()
    for name in names:
        if name in GROUPS:
            chosen.update(GROUPS[name])
        elif name in ALL:
            chosen.add(name)
        else:
            raise ConfigError(
                f"unknown analysis {name!r}; choose simple, standard, all, or any of: "
                + ", ".join(ALL)
            )
    return frozenset(chosen)
