"""Markdown tables of the suite's measurements (pure functions: dictionaries in, text out)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from measures import median_after_first

FLOP_FORMULA = (
    "Model FLOPs are counted analytically over the dense layers only: a layer with weight "
    "`in x out` that `n` vectors pass through costs `2·n·in·out` FLOPs forward, "
    "`2·n·in·out` for its weight gradient and `2·n·in·out` for its input gradient, the "
    "last only where autograd needs one (not for layers reading the data or the GMVAE's "
    "fixed one-hot class vectors); that is `6·n·in·out` per step for most layers and "
    "`4·n·in·out` for the input layers. `n` is the minibatch size times the samples "
    "`R·M`, times `K` for the GMVAE's per-component z-encoder layers and decoder. "
    "Activations, batch norm, likelihoods and Adam are not counted, so the achieved rate "
    "is a lower bound. Achieved FLOP/s = FLOPs per cell x cells per second; the peak is "
    "the best rate of a 2048 x 2048 x 2048 float32 `torch.mm` on the same thread count, "
    "measured at the start and end of the run (the larger is used). The last column is "
    "the `torch.mm` rate at the shape of the model's largest layer (what those shapes "
    "allow at best)."
)


def number(value: float | None, digits: int = 2) -> str:
    """A rounded number with thousands separators, or an en dash when missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def speed(result: dict) -> dict:
    """Seconds per epoch (median after the first), cells per second, achieved FLOP/s."""
    seconds = median_after_first(result["epoch_seconds"])
    cells = result["train_cells"] / seconds if seconds > 0 else float("nan")
    flops = result.get("flops_per_example")
    return {
        "seconds": seconds,
        "cells_per_second": cells,
        "flops_per_second": flops * cells if flops is not None else None,
    }


def median_run(repeats: Sequence[dict]) -> dict:
    """One configuration's repeated runs as one: the run with the median ours/peer speed
    ratio (or, without a peer, the median speed), with every pair's ratio in ``ratios``."""
    done = [run for run in repeats if run.get("ours") is not None]
    if not done:
        return dict(repeats[0])
    paired = [run for run in done if run.get("peer") is not None]
    ratios = [speed_ratio(run) for run in paired]

    def ordering(run: dict) -> float:
        return speed_ratio(run) if paired else speed(run["ours"])["cells_per_second"]

    pool = sorted(paired or done, key=ordering)
    chosen = dict(pool[(len(pool) - 1) // 2])
    chosen["ratios"] = ratios
    chosen["repeats"] = len(repeats)
    return chosen


def speed_ratio(run: dict) -> float:
    """Our cells per second over the peer's, for one pair of runs."""
    return speed(run["ours"])["cells_per_second"] / speed(run["peer"])["cells_per_second"]


def throughput_table(runs: Sequence[dict], peak: float) -> str:
    """Speed, memory and FLOP/s per configuration and data set."""
    headers = [
        "configuration",
        "data set",
        "train cells",
        "epochs",
        "s/epoch",
        "cells/s",
        "peak RSS (MiB)",
        "RSS before training (MiB)",
        "MFLOP/cell",
        "achieved GFLOP/s",
        "% of mm peak",
        "mm at largest layer (GFLOP/s)",
    ]
    rows = []
    for run in runs:
        result = run.get("ours")
        if result is None:
            rows.append([run["title"], run["data_set"], "failed"] + [""] * (len(headers) - 3))
            continue
        measured = speed(result)
        achieved = measured["flops_per_second"]
        rows.append(
            [
                run["title"],
                run["data_set"],
                f"{result['train_cells']:,}",
                str(len(result["epoch_seconds"])),
                number(measured["seconds"], 3),
                number(measured["cells_per_second"], 0),
                number(result["peak_rss_mb"], 0),
                number(result["baseline_rss_mb"], 0),
                number(result["flops_per_example"] / 1e6, 2),
                number(achieved / 1e9 if achieved else None, 2),
                number(100 * achieved / peak if achieved and peak else None, 1),
                number(run.get("layer_mm_flops", 0) / 1e9 or None, 1),
            ]
        )
    return table(headers, rows)


def quality_table(runs: Sequence[dict]) -> str:
    """Test ELBO and clustering scores per configuration and data set."""
    headers = [
        "configuration",
        "data set",
        "test ELBO (nats/cell)",
        "k-means ARI",
        "k-means NMI",
        "GMVAE clusters ARI",
        "GMVAE clusters NMI",
    ]
    rows = []
    for run in runs:
        result = run.get("ours") or {}
        rows.append(
            [run["title"], run["data_set"]]
            + [
                number(result.get(key), 2 if key == "test_elbo" else 3)
                for key in ("test_elbo", "kmeans_ari", "kmeans_nmi", "gmvae_ari", "gmvae_nmi")
            ]
        )
    return table(headers, rows)


def peer_table(runs: Sequence[dict]) -> str:
    """Ours against scvi-tools, pair by pair: values and ratios (ELBO: difference)."""
    headers = ["data set", "measure", "scvae", "scvi-tools", "scvae / scvi-tools"]
    rows = []
    for run in runs:
        ours, theirs = run.get("ours"), run.get("peer")
        if ours is None or theirs is None:
            continue
        a, b = speed(ours), speed(theirs)
        pairs = [
            ("cells/s (higher is better)", a["cells_per_second"], b["cells_per_second"], 0),
            ("s/epoch", a["seconds"], b["seconds"], 3),
            ("peak RSS (MiB)", ours["peak_rss_mb"], theirs["peak_rss_mb"], 0),
            ("RSS before training (MiB)", ours["baseline_rss_mb"], theirs["baseline_rss_mb"], 0),
        ]
        for name, mine, peer, digits in pairs:
            rows.append([run["data_set"], name, number(mine, digits), number(peer, digits)])
            rows[-1].append(number(mine / peer if peer else None, 2))
        ratios = run.get("ratios") or []
        if len(ratios) > 1:
            listed = ", ".join(f"{ratio:.2f}" for ratio in ratios)
            rows.append(
                [
                    run["data_set"],
                    f"cells/s ratio of each of the {len(ratios)} pairs",
                    "",
                    "",
                    f"{listed} (median {statistics.median(ratios):.2f})",
                ]
            )
        difference = ours["test_elbo"] - theirs["test_elbo"]
        rows.append(
            [
                run["data_set"],
                "test ELBO (nats/cell)",
                number(ours["test_elbo"], 2),
                number(theirs["test_elbo"], 2),
                f"difference {difference:+.2f}",
            ]
        )
        for key, name in (("kmeans_ari", "k-means ARI"), ("kmeans_nmi", "k-means NMI")):
            if key in ours and key in theirs:
                rows.append(
                    [
                        run["data_set"],
                        name,
                        number(ours[key], 3),
                        number(theirs[key], 3),
                        f"difference {ours[key] - theirs[key]:+.3f}",
                    ]
                )
    return table(headers, rows)


def loading_table(rows: Sequence[tuple[str, float, float]]) -> str:
    """Median read seconds of scvae and scanpy per input."""
    return table(
        ["input", "scvae (s)", "scanpy (s)", "scvae / scanpy"],
        [[name, f"{a:.4f}", f"{b:.4f}", f"{a / b:.2f}"] for name, a, b in rows],
    )
