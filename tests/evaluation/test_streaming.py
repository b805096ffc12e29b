"""Evaluating backed (on-disk) data gives the same results as in memory."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from scvae.cli import main


def test_streaming_and_in_memory_evaluations_are_identical(small_labelled_h5ad, tmp_path):
    options = [str(small_labelled_h5ad), "-m", "GMVAE", "-l", "3", "-H", "8", "--split-data-set"]
    options += ["-D", str(tmp_path / "d"), "-M", str(tmp_path / "m"), "--seed", "4"]
    options += ["--number-of-monte-carlo-samples", "1", "20"]  # 20 draws per cell to evaluate
    assert main(["train", *options, "-e", "2"]) == 0
    for kind in ("full", "test"):
        results = {}
        for mode, extra in (("memory", []), ("backed", ["--backed"])):
            analyses = tmp_path / mode
            code = main(
                ["evaluate", *options, *extra, "-A", str(analyses), "--model-versions", "eot"]
                + ["--evaluation-set-kind", kind, "-P", "kmeans"]
                + ["--included-analyses", "metrics", "latent_values", "predictions"]
            )
            assert code == 0
            version = next(analyses.rglob("e_2-mc_20-iw_1"))
            version = version / kind if kind != "test" else version
            results[mode] = (
                json.loads((version / "metrics.json").read_text()),
                pd.read_csv(version / "latent_values-z.tsv.gz", sep="\t", index_col=0),
                pd.read_csv(version / "latent_values-y.tsv.gz", sep="\t", index_col=0),
            )
        memory, backed = results["memory"], results["backed"]
        # the same cells in the same order with seeded draws: the Monte-Carlo estimates
        # agree too (float summation order aside)
        for name in ("lower_bound", "reconstruction_error", "kl_divergence_z", "kl_divergence_y"):
            np.testing.assert_allclose(backed[0][name], memory[0][name], rtol=1e-6)
        assert backed[0]["predictions"] == memory[0]["predictions"]
        for position in (1, 2):
            assert list(backed[position].index) == list(memory[position].index)
            np.testing.assert_allclose(
                backed[position].to_numpy(), memory[position].to_numpy(), rtol=1e-5, atol=1e-6
            )
