"""The processing options of a data set, as one immutable record.

A :class:`~scvae.data.data_set.DataSet` keeps the options it was asked for and, once
processed, a record of what was done (:mod:`scvae.data.pipeline` resolves the one
into the other); nothing here reads data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ProcessingOptions"]


@dataclass(frozen=True)
class ProcessingOptions:
    """The processing options of a data set (each option: method name, then parameters).

    ``noisy_preprocessing_methods`` are applied by the minibatch source every epoch,
    not here; they are carried so that one record says how the values were processed.
    """

    map_features: bool = False
    feature_selection: tuple[str, ...] = ()
    example_filter: tuple[str, ...] = ()
    preprocessing_methods: tuple[str, ...] = ()
    noisy_preprocessing_methods: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        map_features: bool = False,
        feature_selection: Sequence[str] | None = None,
        example_filter: Sequence[str] | None = None,
        preprocessing_methods: Sequence[str] | None = None,
        noisy_preprocessing_methods: Sequence[str] | None = None,
    ) -> ProcessingOptions:
        """The options from lists (or ``None``), as given on the command line."""
        return cls(
            bool(map_features),
            tuple(str(item) for item in feature_selection or ()),
            tuple(str(item) for item in example_filter or ()),
            tuple(str(item) for item in preprocessing_methods or ()),
            tuple(str(item) for item in noisy_preprocessing_methods or ()),
        )

    @property
    def reshapes(self) -> bool:
        """Whether the counts themselves change (mapping, selection or filter)."""
        return bool(self.map_features or self.feature_selection or self.example_filter)

    @property
    def active(self) -> bool:
        return self.reshapes or bool(self.preprocessing_methods)
