"""Peak memory of streaming (backed) training at 50,000 and 200,000 cells.

Writes synthetic count data with the shape and sparsity of 10x-MBC (27,998 genes,
about 2,000 non-zero counts per cell) straight to ``.h5ad`` files, a chunk of cells
at a time (the whole matrix is never in memory), then trains the paper's GMVAE
configuration (GMVAE, negative binomial, ``-l 100 -H 100 100``, ``-K 10``, under
``--defaults 2.1.4`` as the paper ran it) for one epoch with ``--backed``, each size in
its own process, and prints each process's peak resident set size (``ru_maxrss``).

Targets (issue 7): peak RSS at 200,000 cells at most 1.25 times that at 50,000, and at
most 3 GB.

``--steps N`` is a benchmark-only cap: the epoch stops after N minibatches (default
100) and each evaluation pass after ``--evaluation-steps`` (default 10); the library
has no such option. Memory that grows with the number of cells is allocated before
the first step (per-cell arrays, orders, row pointers), and the minibatch path is in
its steady state once the first buffer of 8 x 1,024 cells has been used (about 82
minibatches of 100 cells; the block cache is then full), so the cap changes the
time, not the peak. ``--steps 0`` runs full epochs (hours on a small CPU at 200,000
cells).

Run: .venv/bin/python benchmarks/memory_streaming.py [--cells 50000 200000] [--steps 100]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

GENES = 27_998
NONZERO_PER_CELL = 2_000
CELLS_PER_CHUNK = 2_000
WORK = Path(__file__).resolve().parent / "_work" / "memory_streaming"


# --------------------------------------------------------------------- data
def gene_weights(genes: int = GENES, seed: int = 0) -> np.ndarray:
    """Skewed gene popularities (a few genes are found in most cells, most in few)."""
    rng = np.random.default_rng(seed)
    weights = rng.permutation(1.0 / np.arange(1, genes + 1) ** 0.8)
    return weights / weights.sum()


def draws_for(weights: np.ndarray, nonzero: int) -> int:
    """Draws with replacement whose expected number of distinct genes is ``nonzero``."""
    low, high = nonzero, 20 * nonzero
    while high - low > 1:
        middle = (low + high) // 2
        distinct = np.sum(1.0 - (1.0 - weights) ** middle)
        low, high = (middle, high) if distinct < nonzero else (low, middle)
    return high


def synthetic_chunk(
    rng: np.random.Generator, cells: int, cdf: np.ndarray, draws: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR parts (data, indices, row lengths) of ``cells`` synthetic cells."""
    uniforms = rng.random((cells, draws))
    uniforms.sort(axis=1)  # sorted queries: a faster search, and the genes come out sorted
    genes = np.searchsorted(cdf, uniforms, side="right").astype(np.int32)
    genes = np.minimum(genes, len(cdf) - 1)
    keep = np.ones(genes.shape, dtype=bool)
    keep[:, 1:] = genes[:, 1:] != genes[:, :-1]
    indices = genes[keep]
    lengths = keep.sum(axis=1)
    data = (1 + rng.poisson(1.0, size=indices.size)).astype(np.float32)
    return data, indices, lengths


def write_synthetic_h5ad(
    path: Path,
    cells: int,
    seed: int = 0,
    genes: int = GENES,
    nonzero: int = NONZERO_PER_CELL,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """An h5ad file (anndata layout, CSR ``X``) written chunk by chunk.

    ``genes`` columns with about ``nonzero`` stored counts a cell; ``progress`` is called
    with the number of cells written after each chunk.
    """
    import h5py
    import pandas as pd
    from anndata.io import write_elem

    if not 0 < nonzero <= genes // 2:
        raise ValueError(f"{nonzero} non-zero counts a cell need at least {2 * nonzero} genes")
    weights = gene_weights(genes)
    cdf, draws = np.cumsum(weights), draws_for(weights, nonzero)
    rng = np.random.default_rng(seed)
    temporary = path.with_suffix(".partial")
    with h5py.File(temporary, "w") as file:
        file.attrs["encoding-type"], file.attrs["encoding-version"] = "anndata", "0.1.0"
        group = file.create_group("X")
        group.attrs.update({"encoding-type": "csr_matrix", "encoding-version": "0.1.0"})
        group.attrs["shape"] = (cells, genes)
        data = group.create_dataset("data", (0,), np.float32, maxshape=(None,), chunks=(1 << 18,))
        indices = group.create_dataset(
            "indices", (0,), np.int32, maxshape=(None,), chunks=(1 << 18,)
        )
        indptr = np.zeros(cells + 1, dtype=np.int64)
        for start in range(0, cells, CELLS_PER_CHUNK):
            size = min(CELLS_PER_CHUNK, cells - start)
            values, columns, lengths = synthetic_chunk(rng, size, cdf, draws)
            end = indptr[start] + values.size
            data.resize((end,))
            indices.resize((end,))
            data[indptr[start] : end], indices[indptr[start] : end] = values, columns
            indptr[start + 1 : start + size + 1] = indptr[start] + np.cumsum(lengths)
            if progress is not None:
                progress(start + size)
        group.create_dataset("indptr", data=indptr)
        names = [f"cell_{i:07d}" for i in range(cells)]
        write_elem(file, "obs", pd.DataFrame(index=pd.Index(names, dtype=object)))
        gene_names = [f"gene_{j:05d}" for j in range(genes)]
        write_elem(file, "var", pd.DataFrame(index=pd.Index(gene_names, dtype=object)))
        for key in ("layers", "obsm", "obsp", "uns", "varm", "varp"):  # as anndata writes them
            write_elem(file, key, {})
    temporary.replace(path)
    return path


# ----------------------------------------------------------------- training
def cap_steps(steps: int, evaluation_steps: int) -> None:
    """Benchmark-only: stop each training epoch after ``steps`` minibatches and each
    evaluation pass after ``evaluation_steps``."""
    import itertools

    from scvae.training import fit, parallel

    def capped(function, limit):
        return lambda *arguments, **keywords: itertools.islice(
            function(*arguments, **keywords), limit
        )

    fit.training_batches = capped(parallel.training_batches, steps)
    fit.evaluation_batches = capped(parallel.evaluation_batches, evaluation_steps)
    fit.number_of_steps = lambda *arguments: steps


def train_once(
    path: Path, steps: int, evaluation_steps: int, components: int, threads: int
) -> dict:
    """Train one epoch from ``path`` (backed); return the peak RSS and timings."""
    import resource

    from scvae import api
    from scvae.config import DataConfig, ModelConfig, TrainingConfig

    if steps:
        cap_steps(steps, evaluation_steps or steps)
    work = path.parent / f"run-{path.stem}"
    started = time.perf_counter()
    api.train(
        str(path),
        DataConfig(backed=True, data_directory=str(work / "data")),
        ModelConfig.with_defaults(
            "2.1.4",  # the paper's configuration as the paper ran it (no library size)
            model_type="GMVAE",
            reconstruction_distribution="negative_binomial",
            latent_size=100,
            hidden_sizes=(100, 100),
            number_of_classes=components,
        ),
        TrainingConfig(
            number_of_epochs=1,
            models_directory=str(work / "models"),
            reset_training=True,
            seed=1,
            device="cpu",
            threads=threads,
        ),
        progress=False,
        log=lambda *_: None,
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    return {"peak_rss_bytes": peak, "seconds": time.perf_counter() - started}


def measure(path: Path, steps: int, evaluation_steps: int, components: int, threads: int) -> dict:
    """Run :func:`train_once` in a fresh process and read its report."""
    command = [
        sys.executable,
        __file__,
        "--train",
        str(path),
        "--steps",
        str(steps),
        "--evaluation-steps",
        str(evaluation_steps),
        "--components",
        str(components),
        "--threads",
        str(threads),
    ]
    finished = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(finished.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--steps", type=int, default=100, help="training minibatches (0: all)")
    parser.add_argument(
        "--evaluation-steps", type=int, default=10, help="minibatches per evaluation pass"
    )
    parser.add_argument("--components", type=int, default=10, help="GMVAE components (-K)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--train", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.train is not None:
        report = train_once(
            arguments.train,
            arguments.steps,
            arguments.evaluation_steps,
            arguments.components,
            arguments.threads,
        )
        print(json.dumps(report))
        return
    arguments.work.mkdir(parents=True, exist_ok=True)
    peaks = {}
    for cells in arguments.cells:
        path = arguments.work / f"synthetic_{cells}.h5ad"
        if not path.exists():
            started = time.perf_counter()
            write_synthetic_h5ad(path, cells)
            print(f"wrote {path.name} in {time.perf_counter() - started:.0f} s", flush=True)
        report = measure(
            path,
            arguments.steps,
            arguments.evaluation_steps,
            arguments.components,
            arguments.threads,
        )
        peaks[cells] = report["peak_rss_bytes"]
        size = path.stat().st_size / 1e9
        print(
            f"{cells:>8} cells ({size:.2f} GB on disk): peak RSS "
            f"{report['peak_rss_bytes'] / 1e9:.3f} GB, {report['seconds']:.0f} s",
            flush=True,
        )
    if len(peaks) >= 2:
        small, large = min(peaks), max(peaks)
        ratio = peaks[large] / peaks[small]
        print(f"peak RSS ratio {large} / {small} cells: {ratio:.3f} (target <= 1.25)")
        print(f"peak RSS at {large} cells: {peaks[large] / 1e9:.3f} GB (target <= 3 GB)")


if __name__ == "__main__":
    main()
