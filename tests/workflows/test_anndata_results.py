"""Every cell back in the user's own AnnData: ``scvae.h5ad``, ``--write-into``, full disks.

The files are read back with anndata and compared with the input file and with what
``scvae.load`` computes for the same run.
"""

from __future__ import annotations

import errno
import shutil

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import scvae
from scvae.analyses import exports
from scvae.analyses.exports import CellResults, write_anndata, write_into_h5ad
from scvae.cli import main
from scvae.data import DataSet

MODEL = ["-m", "GMVAE", "-l", "3", "-H", "8"]
READ = ["--layer", "counts", "--label-key", "cell_type", "--batch-key", "batch"]
QUICK = ["--model-versions", "end_of_training", "--included-analyses", "metrics"]


def _dense(matrix) -> np.ndarray:
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


@pytest.fixture(scope="module")
def trained(scanpy_h5ad, tmp_path_factory):
    """A GMVAE with batch correction trained by the CLI on a split of the cells."""
    folder = tmp_path_factory.mktemp("cli_round_trip")
    data = shutil.copy(scanpy_h5ad, folder / "cells.h5ad")
    options = [str(data), *MODEL, *READ, "--batch-correction", "--split-data-set"]
    options += ["-D", str(folder / "d"), "-M", str(folder / "m")]
    assert main(["train", *options, "-e", "2", "--seed", "3", "--quiet"]) == 0
    return folder, options


@pytest.fixture(scope="module")
def evaluated(trained):
    folder, options = trained
    code = main(["evaluate", *options, "-A", str(folder / "a"), "-P", "kmeans", *QUICK])
    assert code == 0
    (path,) = (folder / "a").rglob("scvae.h5ad")
    return path


def test_cli_returns_the_users_anndata_with_every_cell(trained, evaluated, scanpy_h5ad):
    original = anndata.read_h5ad(scanpy_h5ad)
    result = anndata.read_h5ad(evaluated)
    # all cells, in the file's order, with everything the user had
    assert list(result.obs_names) == list(original.obs_names)
    assert list(result.var_names) == list(original.var_names)
    np.testing.assert_array_equal(_dense(result.X), _dense(original.X))
    np.testing.assert_array_equal(
        _dense(result.layers["counts"]), _dense(original.layers["counts"])
    )
    np.testing.assert_array_equal(result.obsm["X_pca"], original.obsm["X_pca"])
    pd.testing.assert_frame_equal(result.var, original.var)
    pd.testing.assert_frame_equal(result.obs[list(original.obs.columns)], original.obs)
    assert result.uns["made_by"] == original.uns["made_by"]
    assert list(result.obs["batch"].cat.categories) == ["donor A", "donor B"]
    # the results, for every cell (no missing values) and consistent with each other
    z, y = result.obsm["X_scvae"], result.obsm["scvae_cluster_probabilities"]
    assert z.shape == (original.n_obs, 3) and np.isfinite(z).all()
    assert y.shape == (original.n_obs, 3)  # three cell types: three components
    np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-5)
    clusters = result.obs["scvae_cluster"].astype(int).to_numpy()
    np.testing.assert_array_equal(clusters, y.argmax(axis=1))
    assert result.obs["scvae_kmeans_cluster"].notna().all()
    assert result.obs["scvae_set"].value_counts().to_dict().keys() == {
        "training",
        "validation",
        "test",
    }
    settings = result.uns["scvae"]
    assert settings["model"]["model_type"] == "GMVAE" and settings["model"]["latent_size"] == 3
    assert settings["model"]["batch_correction"]
    assert settings["data"]["layer"] == "counts"
    assert settings["metrics_set"] == "test"
    assert settings["data_fingerprint"]["examples"] == original.n_obs
    assert (evaluated.parent / "metrics.json").is_file()


def test_load_of_a_cli_run_gives_the_latent_of_evaluate(evaluated, scanpy_h5ad):
    result = anndata.read_h5ad(evaluated)
    run = result.uns["scvae"]["run"]
    model = scvae.load(run)  # the run's own data, read with its options
    np.testing.assert_allclose(
        model.get_latent_representation(), result.obsm["X_scvae"], rtol=1e-5, atol=1e-6
    )
    # the user's AnnData, with the cells and genes in another order
    adata = anndata.read_h5ad(scanpy_h5ad)
    shuffled = adata[::-1, ::-1].copy()
    latent = model.get_latent_representation(shuffled)
    np.testing.assert_allclose(latent[::-1], result.obsm["X_scvae"], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(
        model.predict_clusters(adata), result.obs["scvae_cluster"].astype(int)
    )


def test_write_into_adds_the_results_in_place(trained, evaluated, tmp_path, capsys):
    folder, options = trained
    result = anndata.read_h5ad(evaluated)
    mine = result[:, :5].copy()  # another file of these cells: fewer genes, other order
    for key in ("X_scvae", "scvae_cluster_probabilities"):
        del mine.obsm[key]
    mine = mine[np.random.default_rng(1).permutation(mine.n_obs)].copy()
    mine.obs = mine.obs[["cell_type", "quality"]]
    mine.obs["note"] = "kept"
    target = tmp_path / "mine.h5ad"
    mine.write_h5ad(target)
    code = main(
        ["evaluate", *options, "-A", str(tmp_path / "a"), "--write-into", str(target), *QUICK]
    )
    assert code == 0
    assert f'into "{target}"' in capsys.readouterr().out
    written = anndata.read_h5ad(target)
    assert list(written.obs_names) == list(mine.obs_names)
    np.testing.assert_array_equal(_dense(written.X), _dense(mine.X))
    assert (written.obs["note"] == "kept").all()
    assert written.obs["cell_type"].equals(mine.obs["cell_type"])
    by_name = pd.DataFrame(result.obsm["X_scvae"], index=result.obs_names)
    np.testing.assert_allclose(written.obsm["X_scvae"], by_name.loc[written.obs_names].to_numpy())
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []


def test_a_full_disk_is_one_line_and_leaves_no_file(trained, tmp_path, monkeypatch, capsys):
    folder, options = trained
    target = tmp_path / "mine.h5ad"
    shutil.copy(folder / "cells.h5ad", target)
    before = target.read_bytes()

    def full_disk(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(exports, "_add_results", full_disk)
    analyses = tmp_path / "a"
    code = main(["evaluate", *options, "-A", str(analyses), "--write-into", str(target), *QUICK])
    error = capsys.readouterr().err.strip()
    assert code == 2
    assert error.count("\n") == 0 and "No space left on device" in error
    assert error.startswith("scvae: error: cannot write") and "free some space" in error
    assert target.read_bytes() == before
    leftovers = [path for path in tmp_path.rglob("*") if path.name.endswith(".tmp")]
    assert leftovers == [] and not list(analyses.rglob("scvae.h5ad"))


def test_other_inputs_get_names_not_codes(tmp_path):
    data = DataSet(
        "counts",
        values=sp.csr_matrix(np.arange(12, dtype=np.float32).reshape(4, 3)),
        labels=["T", "B", "T", "NK"],
        example_names=["c1", "c2", "c3", "c4"],
        feature_names=["g1", "g2", "g3"],
        batch_indices=[1, 0, 1, 1],
        batch_names=["plate 1", "plate 2"],
    )
    z = np.arange(8, dtype=np.float32).reshape(4, 2)
    y = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=np.float32)
    results = CellResults(data.example_names, z, y, uns={"run": tmp_path, "none": None})
    path = write_anndata(
        tmp_path / "out.h5ad", data, results, label_key="cell_type", batch_key="plate"
    )
    written = anndata.read_h5ad(path)
    assert list(written.obs["cell_type"]) == ["T", "B", "T", "NK"]
    assert list(written.obs["plate"]) == ["plate 2", "plate 1", "plate 2", "plate 2"]
    assert list(written.obs["scvae_cluster"].astype(int)) == [0, 1, 0, 1]
    np.testing.assert_array_equal(_dense(written.X), np.arange(12).reshape(4, 3))
    np.testing.assert_array_equal(written.obsm["X_scvae"], z)
    assert written.uns["scvae"] == {"run": str(tmp_path)}
    # a file with more cells than were evaluated: the others get missing values
    extra = anndata.AnnData(
        X=np.zeros((5, 3), np.float32),
        obs=pd.DataFrame(index=pd.Index(["c0", "c1", "c2", "c3", "c4"])),
    )
    extra.write_h5ad(tmp_path / "more.h5ad")
    write_into_h5ad(tmp_path / "more.h5ad", tmp_path / "more.h5ad", results)
    more = anndata.read_h5ad(tmp_path / "more.h5ad")
    assert np.isnan(more.obsm["X_scvae"][0]).all()
    np.testing.assert_array_equal(more.obsm["X_scvae"][1:], z)
    assert more.obs["scvae_cluster"].isna().tolist() == [True, False, False, False, False]


def test_cells_missing_from_the_file_are_refused(tmp_path):
    results = CellResults(np.array(["a", "b"], dtype=object), np.zeros((2, 2), np.float32))
    other = anndata.AnnData(
        X=np.zeros((2, 1), np.float32), obs=pd.DataFrame(index=pd.Index(["a", "x"]))
    )
    other.write_h5ad(tmp_path / "other.h5ad")
    before = (tmp_path / "other.h5ad").read_bytes()
    with pytest.raises(scvae.errors.DataError, match="lacks 1 of the 2 evaluated cells"):
        write_into_h5ad(tmp_path / "other.h5ad", tmp_path / "other.h5ad", results)
    assert (tmp_path / "other.h5ad").read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["other.h5ad"]


def test_a_version_equal_to_another_is_evaluated_once(scanpy_h5ad, tmp_path, capsys):
    options = [str(scanpy_h5ad), *MODEL, *READ, "--split-data-set", "-D", str(tmp_path / "d")]
    options += ["-M", str(tmp_path / "m")]
    assert main(["train", *options, "-e", "1", "--seed", "1", "--quiet"]) == 0
    capsys.readouterr()
    code = main(["evaluate", *options, "-A", str(tmp_path / "a"), "--included-analyses", "metrics"])
    assert code == 0
    printed = capsys.readouterr().out
    # after one epoch the best model is the model at the end of training
    assert (
        "Best model is the same model as the end of training (epoch 1): evaluated once." in printed
    )
    folders = sorted(path.parent.name for path in (tmp_path / "a").rglob("metrics.json"))
    assert folders == ["e_1-mc_1-iw_1"]
    written = anndata.read_h5ad(next((tmp_path / "a").rglob("scvae.h5ad")))
    assert list(written.uns["scvae"]["model_versions"]) == ["end_of_training", "best_model"]
    assert "AnnData with all 150 cells: " in printed and "scvae.h5ad" in printed
    assert "Report: " in printed and "index.html" in printed


def test_results_go_into_a_minimal_h5ad_as_anndata_writes_mappings(tmp_path):
    """An .h5ad holding only X, obs and var (no obsm, uns groups) gets well-formed ones."""
    import h5py
    from anndata.io import write_elem

    path = tmp_path / "minimal.h5ad"
    with h5py.File(path, "w") as file:
        file.attrs["encoding-type"], file.attrs["encoding-version"] = "anndata", "0.1.0"
        write_elem(file, "X", sp.csr_matrix(np.eye(3, 4, dtype=np.float32)))
        write_elem(file, "obs", pd.DataFrame(index=pd.Index(["a", "b", "c"], dtype=object)))
        write_elem(file, "var", pd.DataFrame(index=pd.Index(list("wxyz"), dtype=object)))
    z = np.arange(6, dtype=np.float32).reshape(3, 2)
    results = CellResults(np.array(["a", "b", "c"], dtype=object), z, uns={"version": "test"})
    write_into_h5ad(path, path, results)
    with h5py.File(path, "r") as file:
        assert file["obsm"].attrs["encoding-type"] == "dict"
        assert file["uns"].attrs["encoding-type"] == "dict"
    read = anndata.read_h5ad(path)  # the suite turns anndata's format warnings into errors
    np.testing.assert_array_equal(read.obsm["X_scvae"], z)
