"""Former home of values on disk; they are now :class:`~scvae.data.matrix.CountMatrix`.

Kept for one release so that old imports keep working: use :mod:`scvae.data.matrix`.
"""

from __future__ import annotations

from typing import Any

from scvae.data.matrix import CountMatrix, as_matrix, open_hdf, read_rows

__all__ = ["BackedMatrix", "has_zeros", "read_rows"]


def BackedMatrix(path: Any, group: str = "X") -> CountMatrix:  # noqa: N802 (a former class)
    """The CSR matrix ``group`` of the HDF5 file ``path``, left on disk."""
    return open_hdf(path, group)


def has_zeros(values: Any) -> bool:
    """Whether any of the N x F values is zero (implicit or stored)."""
    return as_matrix(values).has_zeros()
