"""Loading speed of 10x files: scvae's readers against scanpy's (run: make bench).

Reads the 10,000-cell mtx folder from ../shared/data and a Cell Ranger v3 .h5 written
from it (scanpy's own test .h5 has only 1,107 cells). Prints median seconds over
repeated reads and the ratio scvae / scanpy (below 1 means scvae is faster).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
MTX_FOLDER = SHARED / "mouse_brain_1M_subset_10k_1000genes"
WORK = ROOT / "benchmarks" / "_work"
REPEATS = 7


def median_seconds(function, repeats: int = REPEATS) -> float:
    function()  # warm up imports and the file cache
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def write_v3_h5(raw, path: Path) -> None:
    """A Cell Ranger v3 .h5 (genes x cells CSC = cells x genes CSR) from parsed data."""
    matrix = sp.csr_matrix(raw.values)
    with h5py.File(path, "w") as f:
        group = f.create_group("matrix")
        group["data"] = matrix.data.astype(np.int32)
        group["indices"] = matrix.indices.astype(np.int64)
        group["indptr"] = matrix.indptr.astype(np.int64)
        group["shape"] = np.array(matrix.shape[::-1], dtype=np.int32)
        group["barcodes"] = np.asarray(raw.example_names, dtype="S")
        features = group.create_group("features")
        ids = raw.feature_ids if raw.feature_ids is not None else raw.feature_names
        features["id"] = np.asarray(ids, dtype="S")
        features["name"] = np.asarray(raw.feature_names, dtype="S")
        features["feature_type"] = np.full(matrix.shape[1], b"Gene Expression")
        features["genome"] = np.full(matrix.shape[1], b"mm10")


def main() -> int:
    if not MTX_FOLDER.is_dir():
        print("../shared/data is not present; nothing to measure")
        return 0
    from scvae.data.raw import ReadOptions
    from scvae.data.readers import read

    try:
        import scanpy
    except ImportError:
        print("scanpy is not installed (pip install scanpy); it is a benchmark extra only")
        return 1
    WORK.mkdir(parents=True, exist_ok=True)
    h5_path = WORK / "mouse_brain_10k_v3.h5"
    write_v3_h5(read(MTX_FOLDER, "10x", ReadOptions()), h5_path)
    rows = [
        (
            "10x mtx folder (10,000 x 1,000)",
            lambda: read(MTX_FOLDER, "10x", ReadOptions()),
            lambda: scanpy.read_10x_mtx(MTX_FOLDER),
        ),
        (
            "10x v3 h5 (10,000 x 1,000)",
            lambda: read(h5_path, "10x", ReadOptions()),
            lambda: scanpy.read_10x_h5(h5_path),
        ),
    ]
    print("| input | scvae (s) | scanpy (s) | scvae / scanpy |")
    print("|---|---|---|---|")
    for name, ours, theirs in rows:
        a, b = median_seconds(ours), median_seconds(theirs)
        print(f"| {name} | {a:.4f} | {b:.4f} | {a / b:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
