"""The AnnData-first Python API (``scvae.VAE``, ``scvae.GMVAE``, ``scvae.load``) and the
manual's classes with their positional arguments."""

from __future__ import annotations

import os

import anndata
import numpy as np
import pandas as pd
import pytest

import scvae
from scvae.cli import main
from scvae.errors import ConfigError, DataError

SMALL = {"latent_size": 3, "hidden_sizes": [8]}
QUIET = {"progress": False, "log": lambda *_: None}


@pytest.fixture(scope="module")
def adata(scanpy_h5ad):
    return anndata.read_h5ad(scanpy_h5ad)


@pytest.fixture(scope="module")
def trained(adata, tmp_path_factory):
    model = scvae.GMVAE(
        adata,
        layer="counts",
        label_key="cell_type",
        batch_key="batch",
        batch_correction=True,
        **SMALL,
    )
    model.train(epochs=2, seed=1, **QUIET)
    saved = model.save(tmp_path_factory.mktemp("api") / "my_model")
    return model, saved


def test_gmvae_gives_numpy_latents_and_clusters(adata, trained):
    model, _ = trained
    latent = model.get_latent_representation(adata)
    assert isinstance(latent, np.ndarray) and latent.shape == (adata.n_obs, 3)
    assert np.isfinite(latent).all()
    np.testing.assert_array_equal(latent, model.get_latent_representation())
    clusters = model.predict_clusters(adata)
    assert clusters.shape == (adata.n_obs,) and clusters.dtype == np.int64
    probabilities = model.predict_clusters(adata, soft=True)
    assert probabilities.shape == (adata.n_obs, 3)  # three cell types: three components
    np.testing.assert_array_equal(clusters, probabilities.argmax(axis=1))
    # cells and genes in another order, and a subset of the batches: matched by name
    rows = np.flatnonzero(adata.obs["batch"] == "donor B")
    subset = adata[rows][:, np.arange(adata.n_vars)[::-1]].copy()
    np.testing.assert_allclose(
        model.get_latent_representation(subset), latent[rows], rtol=1e-5, atol=1e-5
    )


def test_save_and_load_give_the_same_model(adata, trained):
    model, saved = trained
    assert (saved / "config.json").is_file()
    again = scvae.load(saved, adata)
    assert isinstance(again, scvae.GMVAE)
    np.testing.assert_array_equal(
        again.get_latent_representation(adata), model.get_latent_representation(adata)
    )
    with pytest.raises(ConfigError, match="exists"):
        model.save(saved)


def test_an_api_run_evaluated_by_the_cli_gives_the_api_latent(adata, trained, tmp_path, capsys):
    model, saved = trained
    assert main(["evaluate", "--model-directory", str(saved), "-A", str(tmp_path / "x")]) == 2
    assert "in-memory AnnData; give its .h5ad file as DATA" in capsys.readouterr().err
    path = tmp_path / "cells.h5ad"
    adata.write_h5ad(path)
    analyses = tmp_path / "a"
    code = main(
        ["evaluate", str(path), "--model-directory", str(saved), "-A", str(analyses)]
        + ["--included-analyses", "metrics", "--write-into", str(path), "--quiet"]
    )
    assert code == 0
    written = anndata.read_h5ad(path)
    np.testing.assert_allclose(
        written.obsm["X_scvae"], model.get_latent_representation(adata), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_array_equal(
        written.obs["scvae_cluster"].astype(int), model.predict_clusters(adata)
    )
    # the round trip keeps every obs column, layer and name, and the batch and label names
    assert list(written.obs_names) == list(adata.obs_names)
    assert list(written.var_names) == list(adata.var_names)
    pd.testing.assert_frame_equal(written.obs[list(adata.obs.columns)], adata.obs)
    assert set(written.layers) == {"counts"}
    np.testing.assert_array_equal(
        written.layers["counts"].toarray(), adata.layers["counts"].toarray()
    )
    assert sorted(written.obs["batch"].unique()) == ["donor A", "donor B"]
    assert sorted(written.obs["cell_type"].unique()) == ["B cell", "NK cell", "T cell"]


def test_results_stored_by_the_user_round_trip(adata, trained, tmp_path):
    model, _ = trained
    mine = adata.copy()
    mine.obsm["X_scvae"] = model.get_latent_representation(mine)
    mine.obs["scvae_cluster"] = pd.Categorical(model.predict_clusters(mine).astype(str))
    mine.write_h5ad(tmp_path / "mine.h5ad")
    back = anndata.read_h5ad(tmp_path / "mine.h5ad")
    np.testing.assert_array_equal(back.obsm["X_scvae"], mine.obsm["X_scvae"])
    assert back.obs["scvae_cluster"].equals(mine.obs["scvae_cluster"])


def test_mismatched_data_are_refused(adata, trained):
    model, _ = trained
    with pytest.raises(DataError, match="lacks 5 of the model's 40 genes"):
        model.get_latent_representation(adata[:, 5:].copy())
    other = adata.copy()
    other.obs["batch"] = pd.Categorical(["donor C"] * other.n_obs)
    with pytest.raises(DataError, match="donor C"):
        model.get_latent_representation(other)


def test_log_normalised_x_points_to_the_counts_layer(adata):
    with pytest.raises(DataError, match=r"AnnData X: values are not counts.*layers: counts"):
        scvae.VAE(adata, **SMALL)


def test_batch_correction_without_batches_is_an_error(adata):
    no_batches = adata.copy()
    del no_batches.obs["batch"]
    with pytest.raises(ConfigError, match="batch_correction=True needs batches"):
        scvae.VAE(no_batches, layer="counts", batch_correction=True, **SMALL)
    with pytest.raises(ConfigError, match="needs number_of_batches"):
        scvae.VariationalAutoencoder(40, batch_correction=True)
    del no_batches.obs["cell_type"]
    with pytest.raises(ConfigError, match="number of clusters"):
        scvae.GMVAE(no_batches, layer="counts", **SMALL)


def test_nothing_is_written_into_the_current_folder(adata, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = scvae.VAE(adata, layer="counts", **SMALL)
    model.train(epochs=1, **QUIET)
    assert model.get_latent_representation(adata).shape == (adata.n_obs, 3)
    from scvae.data.anndata import from_anndata

    data = from_anndata(adata, layer="counts")
    manual = scvae.VariationalAutoencoder(data.number_of_features, 2, [8], "poisson")
    manual.train(data, number_of_epochs=1, **QUIET)
    assert os.listdir(tmp_path) == []


def test_the_manuals_positional_arguments(tmp_path):
    vae = scvae.VariationalAutoencoder(
        30, 4, [16, 8], "poisson", None, "gaussian", False, False, None, 3, tmp_path / "vae"
    )
    assert vae.latent_size == 4 and tuple(vae.hidden_sizes) == (16, 8)
    assert vae.reconstruction_distribution == "poisson" and vae.number_of_warm_up_epochs == 3
    assert not vae.minibatch_normalisation and vae.log_directory == tmp_path / "vae"
    gmvae = scvae.GaussianMixtureVariationalAutoencoder(
        30, 2, [8], "negative_binomial", None, "gaussian_mixture", "custom", [0.25, 0.75], 2
    )
    assert gmvae.number_of_latent_clusters == 2
    assert gmvae.prior_probabilities == (0.25, 0.75)
    with pytest.warns(FutureWarning):
        from scvae.models import VariationalAutoencoder as old
    assert old(30, 2).latent_size == 2


def test_scvae_exposes_the_api():
    for name in ("VAE", "GMVAE", "load"):
        assert name in scvae.__all__ and callable(getattr(scvae, name))


def test_a_directory_is_not_reused_for_other_options(adata, tmp_path):
    first = scvae.VAE(adata, layer="counts", directory=tmp_path / "run", **SMALL)
    first.train(epochs=1, **QUIET)
    other = scvae.VAE(adata, layer="counts", directory=tmp_path / "run", latent_size=2)
    other.train(epochs=1, **QUIET)
    assert other.run != first.run
    assert other.get_latent_representation(adata).shape == (adata.n_obs, 2)
    again = scvae.VAE(adata, layer="counts", directory=tmp_path / "run", **SMALL)
    again.train(epochs=1, **QUIET)  # the same settings: the first run, already trained
    assert again.run == first.run
    np.testing.assert_array_equal(
        again.get_latent_representation(adata), first.get_latent_representation(adata)
    )


def test_training_in_a_script_with_a_piped_log_draws_no_bar(adata, capsys):
    """The default progress: no bar frames where stderr is no terminal (pytest's capture
    stands for a log piped to a file); an explicit ``progress=True`` still draws one."""
    model = scvae.VAE(adata, layer="counts", **SMALL)
    model.train(epochs=1, seed=1, log=lambda *_: None)
    assert "steps" not in capsys.readouterr().err
    model.train(epochs=2, seed=1, log=lambda *_: None, progress=True)
    assert "steps" in capsys.readouterr().err


def test_a_terminal_or_a_notebook_counts_as_watched(monkeypatch):
    import io
    import sys
    import types

    from scvae.progress import interactive

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert interactive(Terminal())
    assert not interactive(io.StringIO())
    # a Jupyter kernel: IPython's shell is running and ipykernel is loaded
    shell = types.SimpleNamespace(get_ipython=lambda: object())
    monkeypatch.setitem(sys.modules, "IPython", shell)
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert interactive(io.StringIO())
    # plain IPython in a terminal-less pipe, without a kernel, is not
    monkeypatch.delitem(sys.modules, "ipykernel")
    assert not interactive(io.StringIO())
