"""GMVAE (negative binomial) on the CITE-seq CBMC set: ELBO after 5 and N epochs, and ARI.

Trains with ``scvae train`` (81/9/10 split), reads the validation ELBO at epoch 5 and at
the last epoch from ``learning_curves.csv``, then runs ``scvae evaluate`` on the test set
and prints the adjusted Rand index / AMI of the GMVAE's own clusters (argmax q(y|x)).

Run: .venv/bin/python benchmarks/cbmc_gmvae.py [EPOCHS] [extra scvae train options...]
e.g. benchmarks/cbmc_gmvae.py 50 -l 25 -H 256 128 -p log  (the defaults; seed 1 unless the
options hold ``--seed N``)
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from scvae.cli import main as scvae
from scvae.training.curves import read_curves

DATA = (
    Path(__file__).resolve().parents[2]
    / "shared/data/scdcc_cite_cbmc_top2000/CITE_CBMC_counts_top2000.h5"
)
DEFAULT_OPTIONS = ["-l", "25", "-H", "256", "128", "-p", "log"]


def main(epochs: int = 50, options: list[str] | None = None) -> dict:
    options = list(options or DEFAULT_OPTIONS)
    if "--seed" not in options:
        options += ["--seed", "1"]
    work = Path(tempfile.mkdtemp(prefix="scvae-cbmc-"))
    common = [str(DATA), "-m", "GMVAE", "-r", "negative_binomial", "--split-data-set"]
    common += ["-D", str(work / "data"), "-M", str(work / "models"), *options]
    code = scvae(["train", *common, "-e", str(epochs)])
    if code:
        raise SystemExit(code)
    code = scvae(
        ["evaluate", *common, "-A", str(work / "analyses"), "--model-versions", "eot"]
        + ["--included-analyses", "metrics"]
    )
    if code:
        raise SystemExit(code)
    run = next((work / "models").rglob("config.json")).parent
    rows = read_curves(run / "learning_curves.csv")
    validation = {r["epoch"]: r["lower_bound"] for r in rows if r["set"] == "validation"}
    seconds = [r["seconds"] for r in rows if r["set"] == "training"]
    metrics = json.loads(next((work / "analyses").rglob("metrics.json")).read_text())
    model = metrics["predictions"]["model"]
    result = {
        "options": " ".join(options),
        "epochs": epochs,
        "validation_elbo_5": validation.get(5),
        "validation_elbo_last": validation[epochs],
        "seconds_per_epoch": float(np.median(seconds)),
        "test_elbo": metrics["lower_bound"],
        "test_ari": model["adjusted_rand_index"],
        "test_ami": model["adjusted_mutual_information"],
        "test_accuracy": model["accuracy"],
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50, sys.argv[2:] or None)
