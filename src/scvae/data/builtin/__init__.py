"""Parsers of the downloadable built-in data sets, one module per family.

Each parser takes the downloaded files (a mapping from source key to path, see
:mod:`scvae.data.catalogue`) and returns a :class:`~scvae.data.raw.RawData`.
"""

from __future__ import annotations
