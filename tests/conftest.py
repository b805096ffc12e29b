"""Shared fixtures: the real data beside the project (../shared/data) and small matrices."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The folder of real data; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _headless(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def small_labelled_h5ad(tmp_path_factory) -> Path:
    """300 labelled cells x 2,000 genes of the CITE-seq PBMC set, as h5ad (built once)."""
    import numpy as np

    from scvae.data import DataSet

    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    folder = tmp_path_factory.mktemp("small_labelled")
    data = DataSet(
        SHARED_DATA / "scdcc_cite_pbmc_top2000/CITE_PBMC_counts.h5", directory=folder / "d"
    ).load()
    subset = data.subset(np.arange(0, data.number_of_examples, 12)[:300], "full")
    path = folder / "pbmc_small.h5ad"
    subset.to_anndata().write_h5ad(path)
    return path
