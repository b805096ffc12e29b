"""benchmarks/atlas.py: its file, its end-to-end runs and its table, read back independently."""

from __future__ import annotations

import argparse
import json
import math
import re

import anndata
import atlas
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse


def _table(markdown: str) -> dict[tuple[str, str], dict[str, str]]:
    """The rows of the atlas table, by (model, phase)."""
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[1:]:
        cells = dict(
            zip(header, (cell.strip() for cell in line.strip("|").split("|")), strict=True)
        )
        rows[(cells["model"], cells["phase"])] = cells
    return rows


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _megabytes(text: str) -> float:
    value, unit = text.split()
    return float(value) * (1000 if unit == "GB" else 1)


def test_default_nonzero_keeps_the_mbc_density():
    assert atlas.default_nonzero(27_998) == 2_000
    assert atlas.default_nonzero(60_000) == 2_000
    assert atlas.default_nonzero(500) == round(500 * 2_000 / 27_998) == 36


def test_model_presets_and_custom_options():
    assert atlas.model_options("default") == ("default", "default model", [])
    slug, _, options = atlas.model_options("paper-gmvae")
    assert options == "-m GMVAE -r negative_binomial -l 100 -H 100 100 -K 10".split()
    slug, title, options = atlas.model_options("-m GMVAE -K 5 --backed")
    assert options == ["-m", "GMVAE", "-K", "5", "--backed"]
    assert re.fullmatch(r"custom-[A-Za-z0-9_]+", slug) and "GMVAE" in title


def test_section_replaced_in_place_or_appended():
    old = "# Results\n\n## Training\n\nrows\n\n## Atlas: 5 cells\n\nold\n\n## Loading\n\nfast\n"
    new = atlas.replace_section(old, "## Atlas: 7 cells\n\nnew table")
    assert new == (
        "# Results\n\n## Training\n\nrows\n\n## Atlas: 7 cells\n\nnew table\n\n## Loading\n\nfast\n"
    )
    appended = atlas.replace_section("# Results\n\n## Training\n\nrows\n", "## Atlas: 7\n\nt")
    assert appended == "# Results\n\n## Training\n\nrows\n\n## Atlas: 7\n\nt\n"
    assert atlas.replace_section(appended, "## Atlas: 7\n\nt") == appended


def test_a_suite_rewrite_keeps_the_atlas_section(tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text("# Old\n\n## Training\n\nold\n\n## Atlas: 9 cells\n\n| a |\n\n## Loading\n")
    fresh = "# New\n\n## Training\n\nnew\n"
    assert atlas.keep_section(results, fresh) == fresh + "\n## Atlas: 9 cells\n\n| a |\n"
    assert atlas.keep_section(tmp_path / "absent.md", fresh) == fresh
    results.write_text("# Old\n\n## Training\n")
    assert atlas.keep_section(results, fresh) == fresh


def _phase(seconds: float, **facts) -> dict:
    return {"seconds": seconds, "peak_rss_bytes": 2e9, "exit": 0, "log": "x.log", **facts}


def _model(slug: str, title: str) -> dict:
    train = _phase(100.0, loop_seconds=50.0, training_cells=810, cells_per_second=16.2)
    evaluate = _phase(20.0, cells_per_second=50.0, all_cells=True, exports=[])
    return {"slug": slug, "title": title, "train": train, "evaluate": evaluate}


def test_models_run_one_invocation_at_a_time_share_one_table(tmp_path):
    shape = {"cells": 1000, "genes": 400, "nonzero": 29, "seed": 0}
    earlier = {
        **shape,
        "date": "2026-12-01",
        "started": "2026-12-01 10:00 UTC",
        "write": _phase(10.0, file_bytes=5e8),
        "models": [_model("default", "default model")],
    }
    (tmp_path / "atlas.json").write_text(json.dumps(earlier))
    args = argparse.Namespace(keep=True, work=tmp_path)
    now = {
        **shape,
        "write": {"reused": True, "file_bytes": 5e8},
        "models": [_model("paper-gmvae", "paper's GMVAE")],
    }
    atlas.add_earlier_runs(args, now)
    assert [model["slug"] for model in now["models"]] == ["default", "paper-gmvae"]
    rows = _table(atlas.table(now))
    assert set(rows) == {
        ("–", "writing"),
        ("default model (run of 2026-12-01 10:00 UTC)", "train"),
        ("default model (run of 2026-12-01 10:00 UTC)", "evaluate"),
        ("paper's GMVAE", "train"),
        ("paper's GMVAE", "evaluate"),
    }
    assert rows[("–", "writing")]["wall time"] == "10.0 s"
    assert rows[("–", "writing")]["notes"] == "500 MB on disk; written by an earlier run"
    assert rows[("paper's GMVAE", "train")]["cells/s"] == "16"
    # another file (other seed), or no --keep: the earlier runs are not added
    for other, keep in (({**now, "seed": 1}, True), (dict(now), False)):
        other["models"] = [_model("paper-gmvae", "paper's GMVAE")]
        other["write"] = {"reused": True, "file_bytes": 5e8}
        atlas.add_earlier_runs(argparse.Namespace(keep=keep, work=tmp_path), other)
        assert [model["slug"] for model in other["models"]] == ["paper-gmvae"]


def test_too_little_disk_stops_before_writing(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        atlas.main(["--cells", str(10**10), "--work", str(tmp_path)])
    assert stopped.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "GB free" in error[0]
    assert not (tmp_path / "atlas.h5ad").exists()


def test_written_file_and_keep(tmp_path):
    args = atlas.parse_args(["--cells", "500", "--genes", "400", "--work", str(tmp_path)])
    path = tmp_path / "atlas.h5ad"
    result = atlas.write_phase(args, path)
    adata = anndata.read_h5ad(path)
    assert adata.shape == (500, 400) and scipy.sparse.issparse(adata.X)
    matrix = scipy.sparse.csr_matrix(adata.X)
    stored = np.diff(matrix.indptr)
    assert abs(stored.mean() - atlas.default_nonzero(400)) < 0.1 * atlas.default_nonzero(400)
    assert (matrix.data >= 1).all() and np.array_equal(matrix.data, np.round(matrix.data))
    assert result["file_bytes"] == path.stat().st_size and result["peak_rss_bytes"] > 0
    modified = path.stat().st_mtime_ns
    kept = atlas.parse_args(["--cells", "500", "--genes", "400", "--work", str(tmp_path), "--keep"])
    assert atlas.write_phase(kept, path)["reused"] and path.stat().st_mtime_ns == modified
    wider = atlas.parse_args(
        ["--cells", "500", "--genes", "402", "--work", str(tmp_path), "--keep"]
    )
    atlas.write_phase(wider, path)
    with h5py.File(path) as file:
        assert tuple(file["X"].attrs["shape"]) == (500, 402)


@pytest.mark.slow
def test_end_to_end_at_300_cells(tmp_path):
    work, results = tmp_path / "work", tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n## Training\n\nrows\n\n## Atlas: old\n\nold table\n")
    command = ["--cells", "300", "--genes", "500", "--work", str(work), "--threads", "1"]
    assert atlas.main([*command, "--keep-export", "--write-results", str(results)]) == 0

    rows = _table((work / "atlas.md").read_text())
    assert set(rows) == {
        ("–", "writing"),
        ("default model", "train"),
        ("default model", "evaluate"),
    }
    assert _number(rows[("–", "writing")]["cells"]) == 300
    # --split-data-set: floor(0.9 x 300) = 270 for training and validation, floor(0.9 x 270)
    train = rows[("default model", "train")]
    assert _number(train["cells"]) == math.floor(0.9 * math.floor(0.9 * 300)) == 243
    (curves,) = (work / "runs" / "default" / "models").rglob("learning_curves.csv")
    frame = pd.read_csv(curves)
    seconds = frame.loc[frame["set"] == "training", "seconds"].sum()
    assert _number(train["cells/s"]) == pytest.approx(243 / seconds, abs=0.5)
    assert "values in memory" in train["notes"]  # 300 x 36 stored values: far below 8 GB
    for phase in ("train", "evaluate"):
        assert 50 < _megabytes(rows[("default model", phase)]["peak RSS"]) < 4000
        assert rows[("default model", phase)]["peak GPU memory"] == "–"

    (export,) = (work / "runs" / "default" / "analyses").rglob("scvae.h5ad")
    exported = anndata.read_h5ad(export)
    data = anndata.read_h5ad(work / "atlas.h5ad")
    assert exported.obsm["X_scvae"].shape == (300, 10)
    assert list(exported.obs_names) == list(data.obs_names)
    evaluate = rows[("default model", "evaluate")]
    assert "latent values of all 300 cells" in evaluate["notes"]
    (metrics,) = export.parent.glob("metrics.json")
    elbo = pd.read_json(metrics, typ="series")["lower_bound"]
    assert f"test ELBO {elbo:,.0f}" in evaluate["notes"]

    text = results.read_text()
    assert "old table" not in text and text.startswith("# Benchmark results\n\n## Training\n")
    assert "## Atlas: 300 cells x 500 genes, end to end" in text
    assert _table(text.split("## Atlas")[1]) == rows
