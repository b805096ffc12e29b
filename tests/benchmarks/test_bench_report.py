"""The suite's tables from hand-made results: derived speeds, ratios and Markdown shape."""

from __future__ import annotations

import pandas as pd
import pytest
import suite
from configurations import CONFIGURATIONS

import report

OURS = {
    "epoch_seconds": [9.0, 2.0, 4.0, 3.0],
    "train_cells": 300,
    "flops_per_example": 2e6,
    "peak_rss_mb": 500.0,
    "baseline_rss_mb": 300.0,
    "test_elbo": -1000.0,
    "kmeans_ari": 0.5,
    "kmeans_nmi": 0.6,
}
PEER = {
    "epoch_seconds": [5.0, 6.0, 6.0],
    "train_cells": 300,
    "peak_rss_mb": 1000.0,
    "baseline_rss_mb": 800.0,
    "test_elbo": -990.0,
    "kmeans_ari": 0.7,
    "kmeans_nmi": 0.6,
}


def _read(markdown: str) -> pd.DataFrame:
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    return pd.DataFrame(cells[2:], columns=cells[0])


def test_speed_uses_median_after_first_epoch():
    measured = report.speed(OURS)
    assert measured["seconds"] == 3.0
    assert measured["cells_per_second"] == pytest.approx(100.0)
    assert measured["flops_per_second"] == pytest.approx(2e8)


def test_throughput_table_fraction_of_peak():
    runs = [{"title": "t", "data_set": "d", "ours": OURS, "layer_mm_flops": 5e9}]
    frame = _read(report.throughput_table(runs, peak=1e9))
    row = frame.iloc[0]
    assert row["cells/s"] == "100"
    assert row["achieved GFLOP/s"] == "0.20"
    assert row["% of mm peak"] == "20.0"
    assert row["mm at largest layer (GFLOP/s)"] == "5.0"


def test_peer_table_ratios_and_differences():
    frame = _read(report.peer_table([{"data_set": "d", "ours": OURS, "peer": PEER}]))
    values = dict(zip(frame["measure"], frame["scvae / scvi-tools"], strict=True))
    assert values["cells/s (higher is better)"] == "2.00"  # 100 against 50 cells/s
    assert values["s/epoch"] == "0.50"
    assert values["peak RSS (MiB)"] == "0.50"
    assert values["test ELBO (nats/cell)"] == "difference -10.00"
    assert values["k-means ARI"] == "difference -0.200"


def test_repeats_keep_the_pair_with_the_median_ratio_and_list_every_ratio():
    def pair(our_seconds, their_seconds):
        ours = {**OURS, "epoch_seconds": [9.0, our_seconds]}
        return {
            "data_set": "d",
            "ours": ours,
            "peer": {**PEER, "epoch_seconds": [9.0, their_seconds]},
        }

    # ratios 2.0, 1.5 and 3.0 (cells/s = 300 / seconds): the median pair is the first
    runs = [pair(3.0, 6.0), pair(4.0, 6.0), pair(2.0, 6.0), {"data_set": "d", "ours": None}]
    chosen = report.median_run(runs)
    assert chosen["ours"]["epoch_seconds"] == [9.0, 3.0]
    assert chosen["ratios"] == pytest.approx([2.0, 1.5, 3.0])
    assert chosen["repeats"] == 4
    frame = _read(report.peer_table([chosen]))
    values = dict(zip(frame["measure"], frame["scvae / scvi-tools"], strict=True))
    assert values["cells/s (higher is better)"] == "2.00"
    assert values["cells/s ratio of each of the 3 pairs"] == "2.00, 1.50, 3.00 (median 2.00)"
    # without a peer: the run with the median speed
    alone = report.median_run(
        [{"ours": {**OURS, "epoch_seconds": [1.0, s]}} for s in (5.0, 1.0, 3.0)]
    )
    assert alone["ours"]["epoch_seconds"] == [1.0, 3.0] and alone["ratios"] == []
    assert suite.parse_args(["--repeats", "3"]).repeats == 3
    with pytest.raises(SystemExit):
        suite.parse_args(["--repeats", "0"])


def test_failed_run_is_shown_and_skipped_by_the_peer_table():
    runs = [{"title": "t", "data_set": "d", "ours": None, "peer": PEER}]
    assert "failed" in report.throughput_table(runs, peak=1e9)
    assert len(_read(report.peer_table(runs))) == 0


def test_plan_quick_and_full():
    quick = suite.plan(suite.parse_args(["--quick"]))
    assert {(c.key, s.key, e) for c, s, e in quick} == {
        (key, "pbmc4k", suite.QUICK_EPOCHS) for key in CONFIGURATIONS
    }
    full = suite.plan(suite.parse_args([]))
    pairs = {(c.key, s.key) for c, s, _ in full}
    assert ("scvi_equivalent", "cbmc") in pairs and ("paper_gmvae", "cbmc") not in pairs
    chosen = suite.plan(suite.parse_args(["--configurations", "default", "--epochs", "2"]))
    assert [(c.key, e) for c, _, e in chosen] == [("default", 2)]
