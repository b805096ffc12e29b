"""Neural-network building blocks shared by every model, and the minibatch contract."""

from __future__ import annotations

from scvae.nn.inputs import ModelInputs
from scvae.nn.layers import MLP, DenseBlock

__all__ = ["MLP", "DenseBlock", "ModelInputs"]
