"""Neural-network building blocks shared by every model."""

from __future__ import annotations

from scvae.nn.layers import MLP, DenseBlock

__all__ = ["MLP", "DenseBlock"]
