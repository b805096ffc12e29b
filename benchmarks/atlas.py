"""Atlas scale, end to end: write a 10x-MBC-shaped .h5ad, then train and evaluate on it.

Writes synthetic counts shaped like the 1.3-million-cell 10x mouse brain set (27,998
genes, about 2,000 non-zero counts a cell, skewed gene popularities) to ``atlas.h5ad``
chunk by chunk (the writer of ``memory_streaming.py``; the whole matrix is never in
memory), then runs, each in its own process, what a user would run::

    scvae train atlas.h5ad --split-data-set -e 1 [model options]
    scvae evaluate --model-directory RUN

The library decides by itself whether the values stay on disk (``--backed-above``,
default 8 GB at 8 bytes a stored value: from about 500,000 cells of this shape).
``evaluate`` writes the metrics, the standard analyses and ``scvae.h5ad`` with every
cell's latent values; the script checks that file's ``obsm["X_scvae"]`` and deletes it
afterwards (for an .h5ad input it is a copy of the input: 20.9 GB at 1.3 million cells)
unless ``--keep-export``.

Per phase (writing, train, evaluate) it prints the wall time, the process's peak RSS
(``ru_maxrss`` from ``wait4``), the peak GPU memory (``torch.cuda.max_memory_allocated``
in that process, when it used a GPU) and cells per second: training cells / the
``seconds`` column of the run's ``learning_curves.csv`` (the optimisation steps, not the
per-epoch evaluation passes) for training, all cells / wall time for evaluation. The
table goes to ``WORK/atlas.md`` (and ``WORK/atlas.json``), and with ``--write-results``
into an "Atlas" section of ``benchmarks/RESULTS.md``. The library has no option that
stops an epoch early, so a quick check is a smaller ``--cells``.

Run: .venv/bin/python benchmarks/atlas.py [--cells 1300000] [--model default paper-gmvae]
     [--threads N] [--device cuda] [--keep] [--write-results]   (see docs/benchmarks.md)
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from scvae.workflows.training_output import duration

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
WORK = HERE / "_work" / "atlas"
MBC_GENES = 27_998
MBC_NONZERO = 2_000
SECTION = "## Atlas"
PRESETS = {
    "default": "",
    "paper-gmvae": "-m GMVAE -r negative_binomial -l 100 -H 100 100 -K 10",
}
TITLES = {"default": "default model", "paper-gmvae": "paper's GMVAE"}

# The child of a train or evaluate phase: the `scvae` command's own entry point, plus a
# report of the GPU memory it used (read inside the process, where CUDA's counters are).
CHILD = """
import json, sys
report, argv, code = sys.argv[1], sys.argv[2:], 1
try:
    from scvae.cli import main
    code = main(argv)
finally:
    facts = {"exit": code}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        facts["gpu_name"] = torch.cuda.get_device_name()
        facts["gpu_peak_bytes"] = torch.cuda.max_memory_allocated()
        facts["gpu_reserved_bytes"] = torch.cuda.max_memory_reserved()
    with open(report, "w") as file:
        json.dump(facts, file)
sys.exit(code)
"""


# ------------------------------------------------------------------------ arguments
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1_300_000)
    parser.add_argument("--genes", type=int, default=MBC_GENES)
    parser.add_argument(
        "--nonzero",
        type=int,
        help="non-zero counts a cell (default: 2,000 at 27,998 genes or more, else the "
        "same density, 7.1 %%)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic counts")
    parser.add_argument(
        "--model",
        action="append",
        metavar="OPTIONS",
        help="'default', 'paper-gmvae' (-m GMVAE -r negative_binomial -l 100 -H 100 100 "
        "-K 10) or any scvae train options, as one string (one option alone: --model=--backed); "
        "repeat for several models (default: default)",
    )
    parser.add_argument("--epochs", type=int, default=1, help="-e of scvae train")
    parser.add_argument(
        "--evaluate-options", default="", metavar="OPTIONS", help="more scvae evaluate options"
    )
    parser.add_argument("--threads", type=int, help="--threads of scvae (default: torch's)")
    parser.add_argument("--device", help="--device of scvae (default: the library's, auto)")
    parser.add_argument("--work", type=Path, default=WORK, help="every file goes here")
    parser.add_argument(
        "--keep", action="store_true", help="reuse WORK/atlas.h5ad if it has this shape"
    )
    parser.add_argument(
        "--keep-export", action="store_true", help="keep evaluate's scvae.h5ad (a copy)"
    )
    parser.add_argument(
        "--write-results",
        nargs="?",
        const=RESULTS,
        type=Path,
        metavar="FILE",
        help="put the table in an 'Atlas' section of FILE (default: benchmarks/RESULTS.md)",
    )
    parser.add_argument("--note", default="", help="a line for the section's header")
    parser.add_argument("--child-write", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cells < 10 or args.genes < 2:
        parser.error("--cells must be at least 10 and --genes at least 2")
    if args.nonzero is None:
        args.nonzero = default_nonzero(args.genes)
    if not 0 < args.nonzero <= args.genes // 2:
        parser.error(f"--nonzero must lie between 1 and half the genes ({args.genes // 2})")
    args.model = args.model or ["default"]
    return args


def default_nonzero(genes: int) -> int:
    """2,000 non-zero counts a cell at 10x-MBC's width, the same density when narrower."""
    return MBC_NONZERO if genes >= MBC_GENES else max(1, round(genes * MBC_NONZERO / MBC_GENES))


def model_options(model: str) -> tuple[str, str, list[str]]:
    """``(slug, title, train options)`` of a ``--model`` value."""
    if model in PRESETS:
        return model, TITLES[model], shlex.split(PRESETS[model])
    options = shlex.split(model)
    slug = re.sub(r"[^A-Za-z0-9]+", "_", model).strip("_")[:60] or "default"
    return f"custom-{slug}", f"`{model}`", options


# -------------------------------------------------------------------------- phases
def run_phase(command: list[str], log: Path, env: dict | None = None) -> dict:
    """Run ``command`` (output to ``log``); its wall time, peak RSS and exit code."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait()
            raise
    process.returncode = os.waitstatus_to_exitcode(status)
    scale = 1 if sys.platform == "darwin" else 1024  # Linux reports KiB, macOS bytes
    return {
        "seconds": time.perf_counter() - started,
        "peak_rss_bytes": usage.ru_maxrss * scale,
        "exit": process.returncode,
        "log": str(log),
    }


def relative(argument: str, work: Path) -> str:
    """``argument`` with the work folder left out of the paths in it (for the tables)."""
    return argument.replace(f"{work}{os.sep}", "")


def scvae_phase(arguments: list[str], folder: Path, name: str, env: dict, work: Path) -> dict:
    """``scvae ARGUMENTS`` in a child process; adds its GPU memory facts."""
    report = folder / f"{name}.gpu.json"
    report.unlink(missing_ok=True)
    command = [sys.executable, "-c", CHILD, str(report), *arguments]
    print(f"[atlas] {name}: scvae {shlex.join(arguments)}", flush=True)
    result = run_phase(command, folder / f"{name}.log", env)
    result["command"] = "scvae " + shlex.join(arguments)
    result["shown"] = "scvae " + shlex.join(relative(argument, work) for argument in arguments)
    if report.exists():
        result.update(json.loads(report.read_text()))
    if result["exit"] != 0:
        tail = Path(result["log"]).read_text(errors="replace").strip().splitlines()[-15:]
        print(f"[atlas] {name} failed (exit {result['exit']}):", *tail, sep="\n  ", flush=True)
    return result


def say(phase: str, result: dict, rate: float | None) -> None:
    """One line as soon as a phase ends (what is left if a later phase is cut short)."""
    shown = "–" if rate is None else f"{rate:,.0f}"
    print(
        f"[atlas] {phase}: {duration(result['seconds'])}, peak RSS "
        f"{gigabytes(result['peak_rss_bytes'])}, peak GPU memory "
        f"{gigabytes(result.get('gpu_peak_bytes'))}, {shown} cells/s",
        flush=True,
    )


def child_environment(threads: int | None) -> dict:
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


# ---------------------------------------------------------------------------- data
def file_shape(path: Path) -> tuple[int, int] | None:
    """The shape of ``X`` in an .h5ad written by the writer (``None`` if unreadable)."""
    import h5py

    try:
        with h5py.File(path, "r") as file:
            return tuple(int(n) for n in file["X"].attrs["shape"])
    except (OSError, KeyError):
        return None


def estimated_file_bytes(cells: int, nonzero: int) -> int:
    """float32 values and int32 indices per stored count, plus row pointers and names."""
    return cells * (8 * nonzero + 40)


def write_phase(args, path: Path) -> dict:
    """Write the file in a child process (or reuse it with ``--keep``)."""
    if args.keep and path.exists() and file_shape(path) == (args.cells, args.genes):
        print(f"[atlas] reusing {path} ({args.cells:,} x {args.genes:,})", flush=True)
        return {"reused": True, "file_bytes": path.stat().st_size}
    path.unlink(missing_ok=True)
    command = [
        sys.executable,
        __file__,
        "--child-write",
        str(path),
        "--cells",
        str(args.cells),
        "--genes",
        str(args.genes),
        "--nonzero",
        str(args.nonzero),
        "--seed",
        str(args.seed),
    ]
    print(f"[atlas] writing {path} ({args.cells:,} cells x {args.genes:,} genes)", flush=True)
    result = run_phase(command, args.work / "write.log")
    if result["exit"] != 0 or not path.exists():
        tail = Path(result["log"]).read_text(errors="replace").strip().splitlines()[-15:]
        fail("writing the file failed:\n  " + "\n  ".join(tail))
    result["file_bytes"] = path.stat().st_size
    say("writing", result, args.cells / result["seconds"])
    return result


def child_write(args) -> int:
    """The writing child: the file, chunk by chunk, with progress lines every 5 %."""
    from memory_streaming import write_synthetic_h5ad

    step = max(1, args.cells // 20)
    marks = iter(range(step, args.cells + step, step))
    mark = next(marks)

    def progress(done: int) -> None:
        nonlocal mark
        if done >= mark:
            print(f"{time.strftime('%H:%M:%S')} {done:,} of {args.cells:,} cells", flush=True)
            while mark <= done:
                mark = next(marks, args.cells + 1)

    write_synthetic_h5ad(
        args.child_write, args.cells, args.seed, args.genes, args.nonzero, progress=progress
    )
    return 0


# ----------------------------------------------------------------------- the runs
def run_folder(models: Path) -> Path | None:
    curves = sorted(models.rglob("learning_curves.csv"))
    return curves[0].parent if len(curves) == 1 else None


def curve_timings(run: Path) -> dict:
    """From ``learning_curves.csv``: the seconds of the optimisation steps (the training
    rows' ``seconds``, all epochs) and, where the library writes them, of the per-epoch
    evaluation passes (``evaluation_seconds``) and the cells they used (``evaluated_cells``).
    """
    with open(run / "learning_curves.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    timings = {
        "loop_seconds": sum(float(row["seconds"]) for row in rows if row["set"] == "training")
    }
    passes = [row for row in rows if row.get("evaluation_seconds")]
    if passes:
        timings["evaluation_seconds"] = sum(float(row["evaluation_seconds"]) for row in passes)
        if all(row.get("evaluated_cells") for row in passes):
            timings["evaluated_cells"] = sum(int(float(row["evaluated_cells"])) for row in passes)
    return timings


def training_cells(log: Path, run: Path, cells: int) -> int:
    """The training cells the run reports, else the split's size for ``cells``."""
    found = re.search(r"\(([\d,]+) training, [\d,]+ validation examples\)", log.read_text())
    if found:
        return int(found.group(1).replace(",", ""))
    from scvae.data.splitting import split_indices

    data = json.loads((run / "config.json").read_text())["data"]
    return len(split_indices(cells, "sequential", data["splitting_fraction"])["training"])


def values_on_disk(run: Path, path: Path) -> bool:
    """The library's own decision for this run's data options (``--backed[-above]``)."""
    from scvae.config import DataConfig
    from scvae.data.loading import use_backed

    data = json.loads((run / "config.json").read_text())["data"]
    return use_backed(DataConfig.from_dict(data), str(path))


def check_export(analyses: Path, cells: int, keep: bool) -> dict:
    """Rows and width of ``obsm/X_scvae`` in evaluate's ``scvae.h5ad`` files; metrics."""
    import h5py

    facts: dict = {"exports": []}
    for export in sorted(analyses.rglob("scvae.h5ad")):
        with h5py.File(export, "r") as file:
            rows, width = file["obsm"]["X_scvae"].shape
        facts["exports"].append({"path": str(export), "rows": rows, "latent_size": width})
        if not keep:
            export.unlink()
    # the end-of-training model's metrics (other versions' folders end in -best_model...)
    found = sorted(
        analyses.rglob("metrics.json"),
        key=lambda path: bool(
            re.search(r"-(best_model|early_stopping)", str(path.relative_to(analyses)))
        ),
    )
    if found:
        facts["lower_bound"] = json.loads(found[0].read_text()).get("lower_bound")
    facts["all_cells"] = bool(facts["exports"]) and all(
        export["rows"] == cells for export in facts["exports"]
    )
    return facts


def run_model(args, path: Path, model: str, env: dict) -> dict:
    """Train and evaluate one model in ``WORK/runs/<slug>`` (emptied first)."""
    slug, title, options = model_options(model)
    folder = args.work / "runs" / slug
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    common = []
    if args.device:
        common += ["--device", args.device]
    if args.threads:
        common += ["--threads", str(args.threads)]
    train = [
        "train",
        str(path),
        "--split-data-set",
        "-e",
        str(args.epochs),
        "-M",
        str(folder / "models"),
        "-D",
        str(folder / "data"),
        "--seed",
        "1",
        *common,
        *options,
    ]
    result = {"slug": slug, "title": title, "options": shlex.join(options)}
    result["train"] = scvae_phase(train, folder, "train", env, args.work)
    run = run_folder(folder / "models")
    if result["train"]["exit"] != 0 or run is None:
        return result
    timings = curve_timings(run)
    seconds = timings["loop_seconds"]
    cells = training_cells(Path(result["train"]["log"]), run, args.cells)
    result["train"].update(
        {
            **timings,
            "training_cells": cells,
            "cells_per_second": cells * args.epochs / seconds if seconds > 0 else None,
            "values_on_disk": values_on_disk(run, path),
        }
    )
    say("train", result["train"], result["train"]["cells_per_second"])
    evaluate = [
        "evaluate",
        "--model-directory",
        str(run),
        "-A",
        str(folder / "analyses"),
        *common,
        *shlex.split(args.evaluate_options),
    ]
    result["evaluate"] = scvae_phase(evaluate, folder, "evaluate", env, args.work)
    if result["evaluate"]["exit"] == 0:
        result["evaluate"].update(check_export(folder / "analyses", args.cells, args.keep_export))
        result["evaluate"]["cells_per_second"] = args.cells / result["evaluate"]["seconds"]
        say("evaluate", result["evaluate"], result["evaluate"]["cells_per_second"])
    return result


# ------------------------------------------------------------------------- report
def gigabytes(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1e9:.2f} GB" if value >= 1e9 else f"{value / 1e6:.0f} MB"


def table(report: dict) -> str:
    """The Markdown table: one row per phase."""
    cells = report["cells"]
    lines = [
        "| model | phase | wall time | peak RSS | peak GPU memory | cells | cells/s | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    write = report["write"]
    if write.get("reused"):
        lines.append(
            f"| – | writing | reused | – | – | {cells:,} | – | "
            f"{gigabytes(write['file_bytes'])} on disk, written earlier |"
        )
    else:
        lines.append(
            f"| – | writing | {duration(write['seconds'])} | {gigabytes(write['peak_rss_bytes'])}"
            f" | – | {cells:,} | {cells / write['seconds']:,.0f} | "
            f"{gigabytes(write['file_bytes'])} on disk"
            + ("; written by an earlier run |" if write.get("earlier") else " |")
        )
    for model in report["models"]:
        for phase in ("train", "evaluate"):
            lines.append(_phase_row(model, phase, cells))
    return "\n".join(lines)


def add_earlier_runs(args, report: dict) -> None:
    """With ``--keep`` on the same file: the models of the last run (``WORK/atlas.json``)
    that this one did not run, and the file's writing figures, so that models run one
    invocation at a time end up in one table."""
    if not (args.keep and report["write"].get("reused")):
        return
    try:
        previous = json.loads((args.work / "atlas.json").read_text())
    except (OSError, ValueError):
        return
    shape = ("cells", "genes", "nonzero", "seed")
    if any(previous.get(key) != report[key] for key in shape):
        return
    if "seconds" in previous["write"]:
        report["write"] = {**previous["write"], "earlier": True}
    now = {model["slug"] for model in report["models"]}
    earlier = [
        {**model, "earlier": model.get("earlier") or previous.get("started", previous["date"])}
        for model in previous["models"]
        if model["slug"] not in now
    ]
    report["models"] = earlier + report["models"]


def _phase_row(model: dict, phase: str, cells: int) -> str:
    if model.get("earlier"):
        model = {**model, "title": f"{model['title']} (run of {model['earlier']})"}
    result = model.get(phase)
    if result is None:
        return f"| {model['title']} | {phase} | not run | – | – | – | – | the training failed |"
    wall = duration(result["seconds"])
    rss = gigabytes(result["peak_rss_bytes"])
    gpu = gigabytes(result.get("gpu_peak_bytes"))
    if result["exit"] != 0:
        return f"| {model['title']} | {phase} | {wall} | {rss} | {gpu} | – | – | failed, exit {result['exit']} (see {Path(result['log']).name}) |"
    if phase == "train" and "loop_seconds" not in result:
        return (
            f"| {model['title']} | {phase} | {wall} | {rss} | {gpu} | – | – | no run folder found |"
        )
    if phase == "train":
        rate = result.get("cells_per_second")
        where = "on disk" if result.get("values_on_disk") else "in memory"
        notes = f"training loop {duration(result['loop_seconds'])}"
        if result.get("evaluation_seconds"):
            notes += f"; per-epoch evaluation passes {duration(result['evaluation_seconds'])}"
            if result.get("evaluated_cells"):
                speed = result["evaluated_cells"] / result["evaluation_seconds"]
                notes += f" ({result['evaluated_cells']:,} cells, {speed:,.0f} cells/s)"
        notes += f"; values {where}"
        count = result["training_cells"]
    else:
        rate = result["cells_per_second"]
        exports = result.get("exports", [])
        if result.get("all_cells"):
            notes = f"latent values of all {cells:,} cells in scvae.h5ad"
        else:
            rows = ", ".join(f"{export['rows']:,}" for export in exports) or "no"
            notes = f"scvae.h5ad rows: {rows} (expected {cells:,})"
        if result.get("lower_bound") is not None:
            notes += f"; test ELBO {result['lower_bound']:,.0f}"
        count = cells
    shown = "–" if rate is None else f"{rate:,.0f}"
    return (
        f"| {model['title']} | {phase} | {wall} | {rss} | {gpu} | {count:,} | {shown} | {notes} |"
    )


def machine() -> dict:
    import torch

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "torch": torch.__version__}


def section(report: dict, note: str) -> str:
    """The "Atlas" section of RESULTS.md."""
    facts = report["machine"]
    gpus = {
        result.get("gpu_name")
        for model in report["models"]
        for result in (model.get("train"), model.get("evaluate"))
        if result and result.get("gpu_name")
    }
    device = ", ".join(sorted(gpus)) or "CPU"
    lines = [
        f"{SECTION}: {report['cells']:,} cells x {report['genes']:,} genes, end to end",
        "",
        f"Written by `benchmarks/atlas.py` on {report['date']}, in "
        f"{duration(report['seconds'])}. Machine: {facts['cpu']}, {facts['logical_cpus']} "
        f"logical CPUs; torch {facts['torch']}; threads: {report['threads']}; device: {device}; "
        f"load average {report['loads'][0]:.2f} at the start and {report['loads'][1]:.2f} at "
        "the end. Synthetic 10x-MBC-shaped counts (about "
        f"{report['nonzero']:,} non-zero counts a cell, skewed gene popularities), written "
        "as a CSR .h5ad chunk by chunk.",
    ]
    if note:
        lines += ["", note]
    lines += ["", table(report), "", "Commands (in the work folder; each phase its own process):"]
    lines += [""]
    for model in report["models"]:
        for phase in ("train", "evaluate"):
            if model.get(phase):
                lines.append(f"- {model['title']}, {phase}: `{model[phase]['shown']}`")
    lines += ["", READING]
    return "\n".join(lines)


READING = (
    "Wall time is the whole command (imports, loading, the epoch, its evaluation passes "
    "over the training and validation sets, saving; for evaluate every analysis and the "
    "export). Peak RSS is `ru_maxrss` of that process (from `wait4`); peak GPU memory is "
    "`torch.cuda.max_memory_allocated()` read in the process at its end. Training cells/s "
    "= training cells x epochs / the `seconds` column of `learning_curves.csv` (the "
    "optimisation steps only); the per-epoch evaluation passes (learning curves), where the "
    "library records them, come from its `evaluation_seconds` and `evaluated_cells` columns; "
    "evaluation cells/s = all cells / wall time. 'values on "
    "disk' is the library's own `--backed-above` decision for the run."
)


def replace_section(text: str, new: str) -> str:
    """``text`` with its "## Atlas" section replaced by ``new`` (appended if absent)."""
    lines = text.rstrip("\n").splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(SECTION)), None)
    if start is None:
        return "\n".join(lines + ["", new]) + "\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    kept_after = lines[end:]
    return (
        "\n".join(lines[:start] + new.splitlines() + ([""] + kept_after if kept_after else []))
        + "\n"
    )


def keep_section(path: Path, text: str) -> str:
    """``text`` (a new RESULTS.md) with the Atlas section of the file at ``path``, if any."""
    old = path.read_text() if path.exists() else ""
    lines = old.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(SECTION)), None)
    if start is None:
        return text
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return replace_section(text, "\n".join(lines[start:end]).rstrip("\n"))


def check_disk(args, path: Path) -> None:
    """Stop before writing if the file and evaluate's copy of it cannot both fit."""
    size = estimated_file_bytes(args.cells, args.nonzero)
    reuse = args.keep and path.exists() and file_shape(path) == (args.cells, args.genes)
    versions = 1 if args.epochs == 1 else 2  # end of training and best model, when they differ
    exports = versions * (len(args.model) if args.keep_export else 1)
    needed = (0 if reuse else size) + exports * size + 1_000_000_000
    free = shutil.disk_usage(args.work).free
    if path.exists() and not reuse:
        free += path.stat().st_size  # deleted before the new one is written
    if needed > free:
        fail(
            f"{args.work} has {free / 1e9:.1f} GB free; the file and "
            f"evaluate's copy of it (scvae.h5ad) need about {needed / 1e9:.1f} GB"
        )


def fail(message: str) -> None:
    print(f"atlas.py: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_write is not None:
        return child_write(args)
    started = time.perf_counter()
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    path = args.work / "atlas.h5ad"
    check_disk(args, path)
    loads = [os.getloadavg()[0]]
    env = child_environment(args.threads)
    report = {
        "cells": args.cells,
        "genes": args.genes,
        "nonzero": args.nonzero,
        "seed": args.seed,
        "date": datetime.date.today().isoformat(),
        "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "write": write_phase(args, path),
        "models": [],
    }
    import torch

    report["threads"] = args.threads or torch.get_num_threads()
    for model in args.model:
        report["models"].append(run_model(args, path, model, env))
    loads.append(os.getloadavg()[0])
    report.update({"loads": loads, "seconds": time.perf_counter() - started})
    add_earlier_runs(args, report)
    text = section(report, args.note)
    print("\n" + text, flush=True)
    from scvae.io import atomic_write_json, atomic_write_text

    atomic_write_text(args.work / "atlas.md", text + "\n")
    atomic_write_json(args.work / "atlas.json", report)
    if args.write_results is not None:
        target = args.write_results
        old = target.read_text() if target.exists() else ""
        atomic_write_text(target, replace_section(old, text))
        print(f"[atlas] wrote the Atlas section of {target}", flush=True)
    failed = any(
        model.get(phase) is None or model[phase]["exit"] != 0
        for model in report["models"]
        if not model.get("earlier")
        for phase in ("train", "evaluate")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
