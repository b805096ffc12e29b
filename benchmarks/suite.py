"""The benchmark suite: speed, memory, FLOP/s, loading and quality; optionally against scVI.

Run ``make bench`` (or ``.venv/bin/python benchmarks/suite.py [--quick]``); ``make
bench-peer`` adds ``--peer .venv-peer/bin/python`` so scvi-tools trains on the same cells
in the same invocation. Every training run is its own subprocess (so its peak RSS is its
own); the tables are printed and written to ``benchmarks/RESULTS.md``. See
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from configurations import CONFIGURATIONS, DATA_SETS, SEED, SHARED, data_config
from flops import matmul_flops_per_second

import report

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
QUICK_EPOCHS = 2
PEER_SETTINGS = {"n_hidden": 128, "n_latent": 10, "batch_size": 100}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs, PBMC 4k only")
    parser.add_argument("--epochs", type=int, help="epochs for every configuration")
    parser.add_argument("--configurations", nargs="+", choices=sorted(CONFIGURATIONS))
    parser.add_argument("--data-sets", nargs="+", choices=sorted(DATA_SETS))
    parser.add_argument("--peer", metavar="PYTHON", help="Python of a venv with scvi-tools")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    parser.add_argument("--skip-loading", action="store_true", help="no loading benchmark")
    parser.add_argument("--output", type=Path, default=RESULTS, help="Markdown file to write")
    parser.add_argument("--work", type=Path, default=HERE / "_work" / "suite")
    parser.add_argument("--note", default="", help="a line for the results header")
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="runs of each configuration (ours and the peer alternate); the tables show "
        "the run with the median speed ratio (or speed) and every pair's ratio",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def plan(args: argparse.Namespace) -> list[tuple]:
    """``(configuration, data set, epochs)`` triples; the GMVAE only on PBMC 4k by default."""
    keys = args.configurations or list(CONFIGURATIONS)
    triples = []
    for key in keys:
        config = CONFIGURATIONS[key]
        if args.data_sets:
            sets = args.data_sets
        elif args.quick or not config.peer:
            sets = ["pbmc4k"]
        else:
            sets = list(DATA_SETS)
        epochs = args.epochs or (QUICK_EPOCHS if args.quick else config.full_epochs)
        triples += [(config, DATA_SETS[name], epochs) for name in sets]
    return triples


def prepare_data_set(spec, work: Path, write_peer_files: bool) -> dict:
    """Load and split once: the number of label classes and, for the peer, two .h5ad files."""
    from scvae import api
    from scvae.data import to_anndata

    config = data_config(work)
    data_set = api.load_data_set(config, str(spec.file))
    _, training, _, test = api.split_data_set(data_set, config)
    prepared = {"classes": int(len(np.unique(np.asarray(data_set.labels).astype(str))))}
    if write_peer_files:
        folder = work / "peer" / spec.key
        folder.mkdir(parents=True, exist_ok=True)
        for name, subset in (("train", training), ("test", test)):
            path = folder / f"{name}.h5ad"
            to_anndata(subset).write_h5ad(path)  # raw counts in X (CSR), obs["label"]
            prepared[name] = str(path)
    return prepared


def run_child(python: str, script: str, job: dict, folder: Path, name: str) -> dict | None:
    """Run ``script`` on ``job`` in a subprocess; its JSON result, or ``None`` if it failed."""
    folder.mkdir(parents=True, exist_ok=True)
    job_path, result_path = folder / f"{name}.job.json", folder / f"{name}.result.json"
    job_path.write_text(json.dumps(job, indent=2))
    result_path.unlink(missing_ok=True)
    threads = str(job["threads"])
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    command = [python, str(HERE / script), str(job_path), str(result_path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=HERE)
    if done.returncode != 0 or not result_path.exists():
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        print(f"[suite] {name} failed (exit {done.returncode}):\n{tail}", file=sys.stderr)
        return None
    return json.loads(result_path.read_text())


def run_pair(config, spec, epochs: int, prepared: dict, args, threads: int) -> dict:
    """Our run of one configuration on one data set, and the peer's when asked for."""
    work = args.work
    run = {"key": config.key, "title": config.title, "data_set": spec.key, "epochs": epochs}
    job = {
        "data": str(spec.file),
        "data_config": data_config(work).to_dict(),
        "model_config": config.model.to_dict(),
        "training_config": config.training(epochs, work / "models", threads).to_dict(),
        "threads": threads,
        "clusters": prepared["classes"],
    }
    log(f"scvae: {config.title} on {spec.key}, {epochs} epochs")
    run["ours"] = run_child(
        sys.executable, "run_ours.py", job, work / "jobs", f"{config.key}-{spec.key}"
    )
    if run["ours"] is not None:
        m, k, n = run["ours"]["largest_layer"]
        run["layer_mm_flops"] = matmul_flops_per_second(m, k, n, repeats=5, seconds=0.2)
    if config.peer and args.peer:
        peer_job = {
            **PEER_SETTINGS,
            "train": prepared["train"],
            "test": prepared["test"],
            "epochs": epochs,
            "learning_rate": config.learning_rate,
            "threads": threads,
            "seed": SEED,
            "clusters": prepared["classes"],
        }
        log(f"scvi-tools: scVI on {spec.key}, {epochs} epochs")
        run["peer"] = run_child(
            args.peer, "peer_scvi.py", peer_job, work / "jobs", f"scvi-{spec.key}"
        )
    return run


def loading_rows(repeats: int) -> list[tuple[str, float, float]] | None:
    """scvae and scanpy median read seconds for a 10x mtx folder and v3 .h5 (loading.py)."""
    import loading

    if not loading.MTX_FOLDER.is_dir():
        return None
    try:
        import scanpy
    except ImportError:
        log("scanpy is not installed; the loading comparison is left out")
        return None
    from scvae.data.raw import ReadOptions
    from scvae.data.readers import read

    loading.WORK.mkdir(parents=True, exist_ok=True)
    h5_path = loading.WORK / "mouse_brain_10k_v3.h5"
    loading.write_v3_h5(read(loading.MTX_FOLDER, "10x", ReadOptions()), h5_path)
    cases = [
        ("10x mtx folder (10,000 x 1,000)", loading.MTX_FOLDER, scanpy.read_10x_mtx),
        ("10x v3 h5 (10,000 x 1,000)", h5_path, scanpy.read_10x_h5),
    ]
    rows = []
    for name, path, theirs in cases:
        ours = loading.median_seconds(lambda p=path: read(p, "10x", ReadOptions()), repeats)
        rows.append((name, ours, loading.median_seconds(lambda p=path, f=theirs: f(p), repeats)))
    return rows


def log(message: str) -> None:
    print(f"[suite {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def header(args, threads: int, loads: list, peaks: list[float], seconds: float) -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")),
        platform.processor() or "unknown CPU",
    )
    mode = "quick mode, `--quick`" if args.quick else "full mode"
    lines = [
        "# Benchmark results",
        "",
        f"Written by `benchmarks/suite.py` ({mode}) on {datetime.date.today().isoformat()}, "
        f"in {seconds / 60:.1f} min. Machine: {cpu}, {os.cpu_count()} logical CPUs; "
        f"torch {torch.__version__}, {threads} threads; load average "
        f"{loads[0]:.2f} at the start and {loads[1]:.2f} at the end "
        "(above the thread count means other work shared the CPUs and the figures are noisy).",
        f"Matrix-multiply peak (float32 2048³ `torch.mm`): {peaks[0] / 1e9:.1f} GFLOP/s at "
        f"the start, {peaks[1] / 1e9:.1f} GFLOP/s at the end.",
    ]
    if args.note:
        lines += ["", args.note]
    return "\n".join(lines)


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def render(args, runs: list[dict], loading: list | None, top: str, peak: float) -> str:
    sections = [top, "", "## Training throughput, memory and FLOP/s", ""]
    sections += [
        report.throughput_table(runs, peak),
        "",
        "Seconds per epoch are the median over the epochs after the first, timing the "
        "optimisation steps only (the `seconds` column of `learning_curves.csv`; the "
        "per-epoch evaluation of the training and validation sets is not included). "
        "Cells per second = training cells / seconds per epoch. Peak RSS is "
        "`ru_maxrss` of the training process right after training; the RSS before "
        "training is taken after imports. Configurations:",
        "",
    ]
    used = {run["key"] for run in runs}
    sections += [
        f"- {config.title}: `{config.command}`, learning rate {config.learning_rate:g}, "
        f"minibatch {config.minibatch_size}, seed {SEED}"
        for config in CONFIGURATIONS.values()
        if config.key in used
    ]
    sections += ["", report.FLOP_FORMULA, "", "## Quality (end-of-training model, test set)", ""]
    sections += [
        report.quality_table(runs),
        "",
        "Test ELBO: the model's lower bound on log p(x) per test cell, in nats (higher is "
        "better). k-means (K = number of labels, 10 starts) is fitted on the training "
        "set's latent means and predicts the test set; GMVAE clusters are argmax q(y|x). "
        "ARI and NMI compare them with the labels. After a few epochs these say little "
        "about converged quality; compare them run to run.",
    ]
    peer_runs = [run for run in runs if run.get("peer")]
    if peer_runs:
        version = peer_runs[0]["peer"].get("version", "?")
        sections += ["", f"## Side by side with scvi-tools {version}", ""]
        sections += [report.peer_table(peer_runs), "", PEER_NOTE]
    if loading:
        sections += ["", "## Loading 10x files: scvae against scanpy", ""]
        sections += [
            report.loading_table(loading),
            "",
            "Median seconds over repeated reads after one warm-up read (the file cache is "
            "warm); below 1 in the last column means scvae is faster.",
        ]
    return "\n".join(sections) + "\n"


PEER_NOTE = (
    "Same training cells (our 81 % training split, written to .h5ad), same test cells, "
    "same thread count, same number of epochs, one hidden layer of 128, 10 latent "
    "dimensions, negative binomial, minibatches of 100, Adam at learning rate 1e-3, no KL "
    "warm-up in either; scVI keeps its other defaults (gene-wise dispersion, observed "
    "library size, dropout 0.1, batch norm, log1p input). scVI trains on all its cells "
    "(`train_size=1`, so no validation loop runs in its epochs). Its seconds per epoch "
    "come from a Lightning callback timing `on_train_epoch_start` to "
    "`on_train_epoch_end` (model set-up excluded); ours from `learning_curves.csv`. "
    "Both use the median over the epochs after the first. Both test ELBOs are one-sample "
    "estimates of a lower bound on log p(x) per cell in nats with the full negative-binomial "
    "log-pmf (including the log x! term), so they are comparable: scVI's `get_elbo` "
    "returns minus (reconstruction loss + KL(q(z|x) || N(0, I))) per cell; ours is the "
    "same bound (our default NB also learns one dispersion per gene). Peak RSS includes each library's "
    "imports (scvi-tools imports Lightning, Pyro and more), hence the RSS before training."
)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not SHARED.is_dir():
        print("../shared/data is not present; nothing to measure")
        return 0
    started = time.perf_counter()
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    args.work = args.work.resolve()
    if args.peer:
        args.peer = os.path.abspath(args.peer)  # not resolve(): a venv's python is a link
        if not os.access(args.peer, os.X_OK):
            print(f"the peer Python {args.peer} does not exist; run make bench-peer")
            return 2
    loads = [os.getloadavg()[0]]
    log(f"matrix-multiply peak on {threads} threads")
    peaks = [matmul_flops_per_second(repeats=3 if args.quick else 5)]
    triples = plan(args)
    peer_sets = {spec.key for config, spec, _ in triples if config.peer and args.peer}
    prepared = {}
    for spec in {spec.key: spec for _, spec, _ in triples}.values():
        log(f"loading and splitting {spec.key}")
        prepared[spec.key] = prepare_data_set(spec, args.work, spec.key in peer_sets)
    runs = [
        report.median_run(
            [
                run_pair(config, spec, epochs, prepared[spec.key], args, threads)
                for _ in range(args.repeats)
            ]
        )
        for config, spec, epochs in triples
    ]
    loading = None
    if not args.skip_loading:
        log("loading 10x files with scvae and scanpy")
        loading = loading_rows(2 if args.quick else 5)
    peaks.append(matmul_flops_per_second(repeats=3 if args.quick else 5))
    loads.append(os.getloadavg()[0])
    top = header(args, threads, loads, peaks, time.perf_counter() - started)
    text = render(args, runs, loading, top, max(peaks))
    print(text)
    from atlas import keep_section  # atlas.py's section outlives a suite run

    from scvae.io import atomic_write_text

    atomic_write_text(args.output, keep_section(args.output, text))
    log(f"wrote {args.output}")
    failed = [
        run
        for run in runs
        if run.get("ours") is None
        or (run["key"] == "scvi_equivalent" and args.peer and run.get("peer") is None)
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
