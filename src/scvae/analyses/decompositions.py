"""Two-component decompositions of data, reconstructions and latent values (reference §4.6)."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from scvae.errors import ConfigError

logger = logging.getLogger(__name__)

#: method token -> column prefix
COLUMN_PREFIXES = {"pca": "PC", "svd": "SVD", "ica": "IC", "t_sne": "tSNE", "umap": "UMAP"}
METHOD_ALIASES = {
    "pca": "pca",
    "svd": "svd",
    "ica": "ica",
    "tsne": "t_sne",
    "t_sne": "t_sne",
    "t-sne": "t_sne",
    "umap": "umap",
}
TSNE_LIMIT = 200_000
TSNE_SEED = 42


def method_token(name: str) -> str:
    """The normalised method name used in file names (``pca``, ``svd``, ``ica``, ``t_sne``)."""
    token = METHOD_ALIASES.get(name.lower())
    if token is None:
        raise ConfigError(
            f"unknown decomposition method {name!r}; choose pca, svd, ica, tsne or umap"
        )
    return token


@dataclass
class Decomposition:
    """A fitted 2-D projection; ``transform`` is ``None`` for methods that cannot project others."""

    method: str
    values: np.ndarray
    model: object | None = None

    @property
    def columns(self) -> list[str]:
        prefix = COLUMN_PREFIXES[self.method]
        return [f"{prefix}1", f"{prefix}2"]

    def transform(self, values) -> np.ndarray | None:
        if self.model is None:
            return None
        return np.asarray(self.model.transform(_dense_if_small(values)))


def decompose(values, method: str, seed: int = 0) -> Decomposition | None:
    """Project ``values`` (dense or sparse, examples x features) onto two components.

    Returns ``None`` when the method does not apply (too few examples or features,
    t-SNE above 200,000 examples, UMAP not installed).
    """
    token = method_token(method)
    n, f = values.shape
    if n < 3 or f < 2:
        return None
    if token == "pca":
        from sklearn.decomposition import PCA, TruncatedSVD

        if sp.issparse(values) and min(values.shape) <= 2:
            model = TruncatedSVD(n_components=2, random_state=seed)
        elif sp.issparse(values):  # ARPACK centres implicitly: the matrix stays sparse
            model = PCA(n_components=2, svd_solver="arpack", random_state=seed)
        else:
            model = PCA(n_components=2, random_state=seed)
    elif token == "svd":
        from sklearn.decomposition import TruncatedSVD

        model = TruncatedSVD(n_components=2, random_state=seed)
    elif token == "ica":
        from sklearn.decomposition import FastICA

        model = FastICA(n_components=2, random_state=seed, whiten="unit-variance", max_iter=400)
    elif token == "t_sne":
        return _tsne(values)
    else:
        return _umap(values, seed)
    projected = model.fit_transform(_dense_if_small(values) if token == "ica" else values)
    return Decomposition(token, np.asarray(projected), model)


def _tsne(values) -> Decomposition | None:
    from sklearn.decomposition import PCA, TruncatedSVD
    from sklearn.manifold import TSNE

    n, f = values.shape
    if n > TSNE_LIMIT or n < 5:
        return None
    if f > 100:
        components = min(50, n - 1)
        reducer = TruncatedSVD(components) if sp.issparse(values) else PCA(components)
        values = reducer.fit_transform(values)
    perplexity = min(30.0, (n - 1) / 3)
    projected = TSNE(n_components=2, random_state=TSNE_SEED, perplexity=perplexity).fit_transform(
        _dense_if_small(values)
    )
    return Decomposition("t_sne", projected, None)


def _umap(values, seed: int) -> Decomposition | None:
    try:
        import umap  # optional
    except ImportError:
        _warn_once("UMAP needs the umap-learn package (pip install umap-learn); no UMAP plots")
        return None
    model = umap.UMAP(n_components=2, random_state=seed)
    return Decomposition("umap", np.asarray(model.fit_transform(values)), model)


@functools.cache
def _warn_once(message: str) -> None:
    logger.warning(message)


def _dense_if_small(values):
    return values.toarray() if sp.issparse(values) else np.asarray(values)
