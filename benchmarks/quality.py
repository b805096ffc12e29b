"""Quality benchmark: scvae's GMVAE (default options) beside scVI on labelled real sets.

For every labelled count set in ``../shared/data`` and every seed, both tools train on the
same training cells (scvae's own split: 81 % training, 9 % validation, 10 % test) and genes
(a set with more than 2,000 is reduced to the 2,000 of largest variance for both, with
scvae's ``-F keep_highest_variances 2000``), and are scored with the same code on the same
test cells and on all cells:

- test ELBO and importance-weighted bound (nats per cell). scvae's default model and scVI
  both condition on each cell's observed total count, so these are bounds on
  ``log p(x | total)``; with ``--library-size none`` scvae's are bounds on ``log p(x)``.
  The table says which.
- ARI and NMI of k-means on the latent means (fitted on the training cells' latent means,
  predicting the scored cells; K = the number of labels), and of the GMVAE's own clusters
  (argmax q(y|x));
- the share of test cells that a 15-nearest-neighbour classifier, fitted on the training
  cells' latent means and labels, labels correctly: how well the latent space separates
  the labels locally, whatever partition k-means draws in it;
- the number of mixture components the GMVAE uses (non-empty argmax clusters on all
  cells) and the cluster sizes on the test cells; training time.

scvae runs as a user runs it (``scvae train`` and ``scvae evaluate`` in subprocesses);
scVI runs in the peer environment (``make bench-peer`` builds it) through
``peer_scvi_quality.py``. Prints a Markdown table (median and range over seeds) and writes
``benchmarks/QUALITY.md``.

    python benchmarks/quality.py --peer .venv-peer/bin/python [--seeds 1 2 3]
        [--data-sets pbmc4k bladder] [--jobs 2] [--epochs 50] [--options "-K 10"] [--output FILE]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.neighbors import KNeighborsClassifier

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared" / "data"
SCVAE = [sys.executable, "-m", "scvae"]


@dataclass(frozen=True)
class QualitySet:
    key: str
    title: str
    path: str
    # scvae's ``-F`` for sets not already reduced to 2,000 genes by their providers: both
    # tools then see the same genes (the peer reads the selected cells.h5ad).
    feature_selection: tuple[str, ...] = ()


SETS = {
    spec.key: spec
    for spec in (
        QualitySet("pbmc4k", "PBMC 4k", "scdeepcluster_10x_pbmc4k_top2000/10X_PBMC_top2000.h5"),
        QualitySet("cbmc", "CBMC", "scdcc_cite_cbmc_top2000/CITE_CBMC_counts_top2000.h5"),
        QualitySet(
            "bladder",
            "mouse bladder",
            "scdeepcluster_mouse_bladder/mouse_bladder_cell_top2000.h5",
        ),
        QualitySet(
            "worm",
            "worm neurons",
            "scdeepcluster_worm_neuron/worm_neuron_cell.h5",
            ("keep_highest_variances", "2000"),
        ),
        QualitySet("citepbmc", "CITE-PBMC", "scdcc_cite_pbmc_top2000/CITE_PBMC_counts.h5"),
    )
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--peer", help="Python of the scvi-tools environment (none: skip)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (one thread each)")
    parser.add_argument(
        "--options",
        default="-m GMVAE -r negative_binomial",
        help="scvae options besides the split, seed and folders (default: %(default)s)",
    )
    parser.add_argument(
        "--epochs", type=int, help="scvae's number of epochs (default: scvae's default)"
    )
    parser.add_argument("--peer-epochs", type=int, default=100, help="scVI's epochs")
    parser.add_argument("--importance-samples", type=int, default=100)
    parser.add_argument("--work", default=str(HERE / "_work" / "quality"))
    parser.add_argument("--output", default=str(HERE / "QUALITY.md"))
    parser.add_argument(
        "--collect",
        action="store_true",
        help="run nothing: write the report from the runs already finished in --work",
    )
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(f"[quality {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(command: list[str], log_file: Path) -> float:
    """Run a command with its output in ``log_file``; its wall seconds (raises on failure)."""
    started = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with log_file.open("w") as handle:
        done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    if done.returncode != 0:
        tail = "\n".join(log_file.read_text().splitlines()[-10:])
        raise RuntimeError(f"{shlex.join(command)} failed ({done.returncode}):\n{tail}")
    return time.perf_counter() - started


def read_table(path: Path) -> tuple[list[str], np.ndarray]:
    """Row names and values of an exported ``.tsv.gz`` (first column: names)."""
    with gzip.open(path, "rt") as handle:
        lines = handle.read().splitlines()[1:]
    names = [line.split("\t", 1)[0] for line in lines]
    values = np.array([[float(v) for v in line.split("\t")[1:]] for line in lines])
    return names, values


def prepare(spec: QualitySet, work: Path) -> dict:
    """Labels, the split's cell indices and, for the peer, one ``.h5ad`` of every cell."""
    from scvae.data import DataSet, load, to_anndata

    folder = work / spec.key
    folder.mkdir(parents=True, exist_ok=True)
    data = load(
        DataSet(
            str(SHARED / spec.path),
            directory=str(work / "data"),
            feature_selection=list(spec.feature_selection),
        )
    )
    training, _, test = data.split("random", 0.9)
    names = list(map(str, data.example_names))
    position = {name: index for index, name in enumerate(names)}
    cells = folder / "cells.h5ad"
    if not cells.exists():
        to_anndata(data).write_h5ad(cells)
    labels = np.asarray(data.labels).astype(str)
    return {
        "names": names,
        "labels": labels,
        "classes": int(len(np.unique(labels))),
        "training": [position[str(n)] for n in training.example_names],
        "test": [position[str(n)] for n in test.example_names],
        "cells": str(cells),
    }


def scores(clusters: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    return (
        float(adjusted_rand_score(labels, clusters)),
        float(normalized_mutual_info_score(labels, clusters)),
    )


#: neighbours of the k-nearest-neighbour classifier on the latent means
NEIGHBOURS = 15


def clustering(latent: np.ndarray, prepared: dict, model_clusters: np.ndarray | None) -> dict:
    """k-means (fitted on training cells) and model-cluster scores on test and all cells,
    and the test accuracy of a k-nearest-neighbour classifier fitted on the training cells."""
    labels, training, test = prepared["labels"], prepared["training"], prepared["test"]
    k = prepared["classes"]
    kmeans = KMeans(n_clusters=k, n_init=10, random_state=0).fit(latent[training])
    predicted = kmeans.predict(latent)
    neighbours = KNeighborsClassifier(n_neighbors=NEIGHBOURS).fit(
        latent[training], labels[training]
    )
    result = {
        "kmeans_test": scores(predicted[test], labels[test]),
        "kmeans_all": scores(predicted, labels),
        "knn_test": float(np.mean(neighbours.predict(latent[test]) == labels[test])),
    }
    if model_clusters is not None:
        sizes = np.bincount(model_clusters[test].astype(int), minlength=k)
        result.update(
            {
                "model_test": scores(model_clusters[test], labels[test]),
                "model_all": scores(model_clusters, labels),
                "components_used": int(len(np.unique(model_clusters))),
                "test_cluster_sizes": sorted(map(int, sizes), reverse=True),
            }
        )
    return result


def ours(spec: QualitySet, seed: int, prepared: dict, args) -> dict:
    """Train and evaluate scvae with the benchmark's options; its figures."""
    folder = Path(args.work) / spec.key / f"scvae_s{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    data = str(SHARED / spec.path)
    common = [
        data,
        "--split-data-set",
        "--seed",
        str(seed),
        "--threads",
        "1",
        "-D",
        str(Path(args.work) / "data"),
        "-M",
        str(folder / "models"),
        *(["-F", *spec.feature_selection] if spec.feature_selection else []),
        *shlex.split(args.options),
    ]
    epochs = ["-e", str(args.epochs)] if args.epochs else []
    seconds = run([*SCVAE, "train", *common, *epochs], folder / "train.log")
    analyses = folder / "analyses"
    evaluate = [*SCVAE, "evaluate", *common, "-A", str(analyses), "--model-versions"]
    evaluate += ["end_of_training", "--included-analyses", "metrics", "latent_values"]
    run([*evaluate, "--evaluation-set-kind", "test"], folder / "evaluate-test.log")
    elbo, elbo_full = _bounds(analyses)
    test_names, _ = read_table(_newest(analyses, "test") / "latent_values-z.tsv.gz")
    expected = [prepared["names"][i] for i in prepared["test"]]
    if sorted(test_names) != sorted(expected):
        raise RuntimeError(f"{spec.key}: scvae's test cells differ from the benchmark's split")
    importance = ["--number-of-importance-samples", "1", str(args.importance_samples)]
    run([*evaluate, "--evaluation-set-kind", "test", *importance], folder / "evaluate-iw.log")
    iw, iw_full = _bounds(analyses)
    run([*evaluate, "--evaluation-set-kind", "full"], folder / "evaluate-full.log")
    latent_folder = _newest(analyses, "full")
    names, latent = read_table(latent_folder / "latent_values-z.tsv.gz")
    order = _order(names, prepared["names"])
    model_clusters = None
    y_file = latent_folder / "latent_values-y.tsv.gz"
    if y_file.exists():
        _, probabilities = read_table(y_file)
        model_clusters = probabilities[order].argmax(axis=1)
    result = clustering(latent[order], prepared, model_clusters)
    result.update(
        {
            "train_seconds": seconds,
            "test_elbo": elbo,
            "test_iw": iw,
            "test_elbo_full": elbo_full,
            "test_iw_full": iw_full,
        }
    )
    return result


def _metrics_files(analyses: Path, kind: str) -> list[Path]:
    files = [p for p in analyses.rglob("metrics.json") if _set_of(p) == kind]
    return sorted(files, key=lambda p: p.stat().st_mtime)


def _set_of(path: Path) -> str:
    return json.loads(path.read_text()).get("evaluation_set", "")


def _newest(analyses: Path, kind: str) -> Path:
    files = _metrics_files(analyses, kind)
    if not files:
        raise RuntimeError(f"no {kind} evaluation under {analyses}")
    return files[-1].parent


def _bounds(analyses: Path) -> tuple[float, float | None]:
    """The newest test evaluation's bounds: ``(on log p(x | N), on log p(x))``.

    With the observed library size the reported bound is on log p(x) and includes the
    library term; without it, the bound is on log p(x) and there is no conditional one.
    """
    metrics = json.loads((_newest(analyses, "test") / "metrics.json").read_text())
    bound = float(metrics["lower_bound"])
    if "log_p_library" in metrics:
        return bound - float(metrics["log_p_library"]), bound
    return float("nan"), bound


def _order(names: list[str], all_names: list[str]) -> np.ndarray:
    position = {name: index for index, name in enumerate(names)}
    return np.array([position[name] for name in all_names])


def peer(spec: QualitySet, seed: int, prepared: dict, args) -> dict:
    """scVI on the same training cells; the same scores from its latent means."""
    folder = Path(args.work) / spec.key / f"scvi_s{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    job = {
        "cells": prepared["cells"],
        "training": prepared["training"],
        "test": prepared["test"],
        "seed": seed,
        "threads": 1,
        "epochs": args.peer_epochs,
        "importance_samples": args.importance_samples,
        "output": str(folder),
    }
    finished = folder / "result.json"
    same = (folder / "job.json").exists() and _same_job(folder / "job.json", job)
    if not (same and finished.exists() and (folder / "latent.npy").exists()):
        (folder / "job.json").write_text(json.dumps(job))
        finished.unlink(missing_ok=True)
        command = [args.peer, str(HERE / "peer_scvi_quality.py"), str(folder / "job.json")]
        run([*command, str(finished)], folder / "peer.log")
    result = json.loads((folder / "result.json").read_text())
    latent = np.load(folder / "latent.npy")
    figures = clustering(latent, prepared, None)
    figures.update(
        {
            "train_seconds": result["train_seconds"],
            "test_elbo": result["test_elbo"],
            "test_iw": result["test_iw_log_likelihood"],
            "version": result["version"],
        }
    )
    return figures


def _same_job(path: Path, job: dict) -> bool:
    """Whether a finished peer run had the same cells, seed and epochs (it is reused)."""
    done = json.loads(path.read_text())
    keys = ("cells", "training", "test", "seed", "epochs")
    return all(done.get(key) == job[key] for key in keys)


def median_range(values: list[float], digits: int = 2) -> str:
    values = [v for v in values if v is not None and v == v]
    if not values:
        return "–"
    middle = statistics.median(values)
    if len(values) == 1:
        return f"{middle:.{digits}f}"
    return f"{middle:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def render(results: dict, prepared: dict, args) -> str:
    """The Markdown report: one table of medians and ranges, one row per set and tool."""
    lines = [
        "# Quality: scvae's GMVAE beside scVI",
        "",
        f"`python benchmarks/quality.py {' '.join(sys.argv[1:])}` on {time.strftime('%Y-%m-%d')}.",
        f"scvae options: `{args.options}` (defaults otherwise), seeds {args.seeds}; scVI "
        f"(scvi-tools defaults, `gene_likelihood='nb'`) for {args.peer_epochs} epochs on the "
        "same training cells. Median over seeds, range in brackets. ARI/NMI of k-means are "
        "fitted on the training cells' latent means (K = number of labels); 'model' is the "
        "GMVAE's own clusters (argmax q(y|x)); kNN accuracy is the share of test cells a "
        f"{NEIGHBOURS}-nearest-neighbour classifier fitted on the training cells' latent means "
        "labels correctly. ELBO and the importance-weighted bound "
        f"(IW, {args.importance_samples} samples) are nats per test cell: bounds on "
        "log p(x | N) given each cell's observed total count N (scVI's kind), and scvae's "
        "bound on log p(x), which adds its library-size term log P(N).",
        "",
        "| data | tool | runs | test ELBO log p(x\\|N) | test IW log p(x\\|N) | test ELBO log p(x) | "
        "ARI k-means test | NMI k-means test | ARI model test | NMI model test | "
        "ARI k-means all | ARI model all | kNN accuracy test | components used (all cells) | "
        "test cluster sizes (first seed) | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in args.data_sets:
        for tool in ("scvae", "scVI"):
            runs = results.get((key, tool), [])
            if not runs:
                continue

            def pick(name: str, i: int | None = None, runs=runs) -> list:
                return [
                    (r[name][i] if i is not None else r[name]) if name in r else None for r in runs
                ]

            title = f"{SETS[key].title} (K = {prepared[key]['classes']})"
            used = pick("components_used")
            sizes = runs[0].get("test_cluster_sizes")
            lines.append(
                f"| {title} | {tool} | {len(runs)} | {median_range(pick('test_elbo'), 1)} | "
                f"{median_range(pick('test_iw'), 1)} | {median_range(pick('test_elbo_full'), 1)} | "
                f"{median_range(pick('kmeans_test', 0))} | "
                f"{median_range(pick('kmeans_test', 1))} | {median_range(pick('model_test', 0))} | "
                f"{median_range(pick('model_test', 1))} | {median_range(pick('kmeans_all', 0))} | "
                f"{median_range(pick('model_all', 0))} | {median_range(pick('knn_test'), 3)} | "
                f"{median_range(used, 0) if used[0] is not None else '–'} | "
                f"{sizes if sizes else '–'} | {median_range(pick('train_seconds'), 0)} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    prepared = {}
    for key in args.data_sets:
        log(f"preparing {key}")
        prepared[key] = prepare(SETS[key], work)
    if str(args.peer).lower() == "none":
        args.peer = None
    tools = ("scvae", "scVI") if args.peer or args.collect else ("scvae",)
    # seed by seed, so that a run cut short still has every set and both tools
    tasks = [(key, seed, tool) for seed in args.seeds for key in args.data_sets for tool in tools]
    results: dict[tuple[str, str], list[dict]] = {}

    def one(task):
        key, seed, tool = task
        log(f"{tool} {key} seed {seed}: start")
        function = ours if tool == "scvae" else peer
        try:
            figures = function(SETS[key], seed, prepared[key], args)
        except RuntimeError as error:
            log(f"{tool} {key} seed {seed}: FAILED\n{error}")
            return
        results.setdefault((key, tool), []).append(figures)
        (work / key / f"{tool}_s{seed}.json").write_text(json.dumps(figures, indent=2))
        log(f"{tool} {key} seed {seed}: {json.dumps(figures)}")

    if args.collect:
        for key, seed, tool in tasks:
            path = work / key / f"{tool}_s{seed}.json"
            if path.exists():
                results.setdefault((key, tool), []).append(json.loads(path.read_text()))
    else:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            list(pool.map(one, tasks))
    report = render(results, prepared, args)
    print(report)
    Path(args.output).write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
