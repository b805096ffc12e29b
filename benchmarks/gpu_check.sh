#!/usr/bin/env bash
# The GPU check: one script for the accelerator machine as it is (its python3 has torch,
# h5py, scipy, scikit-learn, pandas, matplotlib, tqdm and pytest; anndata comes as wheels
# that benchmarks/gpu_wheels.sh downloads beforehand). It
#   1. prints the GPU and torch's view of it,
#   2. installs the carried wheels into a temporary folder (scvae itself runs from src/),
#   3. runs the CUDA tests (the `cuda` marker if the suite has one, else the test files
#      that mention CUDA),
#   4. trains the benchmark suite's configurations (benchmarks/configurations.py) on the
#      device and prints seconds per epoch, cells/s and peak GPU memory,
#   5. runs benchmarks/atlas.py (scvae train + scvae evaluate on a 10x-MBC-shaped file)
#      with the default model, then with the paper's GMVAE, on the device.
# Each step has its own time limit and a failing step does not stop the others; the whole
# script keeps to BUDGET seconds (default 540, inside the device tool's 10 minutes).
#
#   bash benchmarks/gpu_wheels.sh                       # here, once: wheels + data (14 MB)
#   run on the device (carry benchmarks/_work/gpu):     bash benchmarks/gpu_check.sh
#   without a GPU, to try it:  DEVICE=cpu ATLAS_CELLS=2000 SUITE_EPOCHS=2 BUDGET=300 \
#                              PYTHON=.venv/bin/python bash benchmarks/gpu_check.sh
#
# Settings (environment): DEVICE (cuda), PYTHON (python3), GPU_FOLDER (the carried folder,
# benchmarks/_work/gpu), ATLAS_CELLS (100000), ATLAS_MODELS ("default paper-gmvae"),
# SUITE_EPOCHS (each configuration's full count), SUITE_SETS ("pbmc4k cbmc"),
# SUITE_CONFIGURATIONS (all: "default paper_gmvae scvi_equivalent"), SUITE_SECONDS (its
# time limit, 180), BUDGET (540),
# STEPS (which of "device tests suite atlas" to run; the wheels are always installed),
# WORK (scratch, /tmp/gpu_check_work), KEEP_DEVICE_PANDAS (set: keep a pandas 3 found there
# rather than install the carried pandas 2). Logs and tables go to $OUT when it is set (the
# device tool brings that folder back), else to $WORK/out.
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
PYTHON=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
FOLDER=${GPU_FOLDER:-benchmarks/_work/gpu}
CELLS=${ATLAS_CELLS:-100000}
MODELS=${ATLAS_MODELS:-default paper-gmvae}
BUDGET=${BUDGET:-540}
WORK=${WORK:-/tmp/gpu_check_work}
RESULTS=${OUT:-$WORK/out}
mkdir -p "$WORK" "$RESULTS"
{ # everything below also goes to $RESULTS/gpu_check.log (see the end)
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg PYTHON DEVICE FOLDER WORK
START=$SECONDS
SUMMARY=()

STEPS=" ${STEPS:-device tests suite atlas} "

left() { echo $((BUDGET - (SECONDS - START))); }
wanted() { [[ $STEPS == *" $1 "* ]]; }

# step NAME LIMIT COMMAND...: COMMAND with a time limit (cut to what is left); never stops
# the script. Records the exit status and the seconds in the summary.
step() {
  local name=$1 limit=$2
  shift 2
  local remaining
  remaining=$(left)
  if ((limit > remaining - 5)); then limit=$((remaining - 5)); fi
  if ((limit < 15)); then
    echo "== $name: skipped, the time budget is spent"
    SUMMARY+=("$name: skipped (no time left)")
    return 0
  fi
  echo
  echo "== $name (at most $limit s; $(date -u +%H:%M:%S) UTC)"
  local began=$SECONDS code
  if declare -F "$1" >/dev/null; then # a function of this script: run it in a child bash
    timeout --kill-after=10 "$limit" bash -c '"$@"' _ "$@"
  else
    timeout --kill-after=10 "$limit" "$@"
  fi
  code=$?
  local verdict="ok"
  if ((code == 124 || code == 137)); then verdict="stopped at its $limit s limit"
  elif ((code != 0)); then verdict="failed (exit $code)"; fi
  SUMMARY+=("$name: $verdict, $((SECONDS - began)) s")
  return 0
}

# ------------------------------------------------------------------ 1. the device
gpu_facts() {
  command -v nvidia-smi >/dev/null && nvidia-smi \
    --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  "$PYTHON" - "$DEVICE" <<'EOF'
import sys, torch
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, "
      f"CUDA available: {torch.cuda.is_available()}, asked device: {sys.argv[1]}")
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"{p.name}: {p.total_memory / 2**30:.1f} GiB, {p.multi_processor_count} SMs, "
          f"capability {p.major}.{p.minor}, torch CUDA {torch.version.cuda}")
elif sys.argv[1].startswith("cuda"):
    sys.exit("no CUDA device visible to torch")
EOF
}
export -f gpu_facts
wanted device && step "device" 60 gpu_facts

# ---------------------------------------------------- 2. anndata from the wheels
SITE=$WORK/site
if "$PYTHON" -c "import anndata" 2>/dev/null; then
  echo "anndata is importable already; the wheels are not needed"
elif ls "$FOLDER"/wheels/*.whl >/dev/null 2>&1; then
  rm -rf "$SITE"
  step "install wheels" 120 "$PYTHON" -m pip install -q --no-index --no-deps --no-compile \
    --no-cache-dir --disable-pip-version-check --target "$SITE" "$FOLDER"/wheels/*.whl
else
  echo "no wheels in $FOLDER/wheels and no anndata: run benchmarks/gpu_wheels.sh and carry $FOLDER"
  SUMMARY+=("install wheels: missing ($FOLDER/wheels)")
fi
export PYTHONPATH="$ROOT/src:$SITE${PYTHONPATH:+:$PYTHONPATH}"
# With pandas 3, scvae evaluate cannot add its results to an .h5ad input (anndata refuses
# pandas 3's string arrays; a library issue): use the carried pandas 2 unless told not to.
pandas_major=$("$PYTHON" -c "import pandas; print(pandas.__version__.split('.')[0])" 2>/dev/null)
if [ "${pandas_major:-0}" -ge 3 ] && [ -z "${KEEP_DEVICE_PANDAS:-}" ] &&
  ls "$FOLDER"/pandas2/*.whl >/dev/null 2>&1; then
  echo "pandas $pandas_major.x here: installing the carried pandas 2 (KEEP_DEVICE_PANDAS=1: don't)"
  step "install pandas 2" 120 "$PYTHON" -m pip install -q --no-index --no-deps --no-compile \
    --no-cache-dir --disable-pip-version-check --target "$SITE" --upgrade "$FOLDER"/pandas2/*.whl
fi
step "import scvae" 60 "$PYTHON" -c \
  "import anndata, pandas, scvae; print('scvae', scvae.__file__, '| pandas', pandas.__version__)"

# ------------------------------------------------------------- 3. CUDA tests
cuda_tests() {
  if grep -Eq '^[[:space:]]*"cuda[:"]' pyproject.toml; then
    "$PYTHON" -m pytest -q -rs -p no:cacheprovider -m cuda tests
  else
    local files
    mapfile -t files < <(grep -rlE "torch\.cuda|\"cuda" tests --include='test_*.py')
    echo "no cuda marker; the test files that mention CUDA: ${files[*]}"
    "$PYTHON" -m pytest -q -rs -p no:cacheprovider "${files[@]}"
  fi
}
export -f cuda_tests
wanted tests && step "CUDA tests" 150 cuda_tests

# ---------------------------------------------- 4. the suite's configurations
suite_on_device() {
  "$PYTHON" - "$DEVICE" "$FOLDER/data" "$WORK/suite" "${SUITE_EPOCHS:-0}" \
    "${SUITE_SETS:-pbmc4k cbmc}" "${SUITE_CONFIGURATIONS:-}" <<'EOF'
"""Each suite configuration on the device, one process each: cells/s, GPU memory, ELBO."""
import dataclasses, json, os, subprocess, sys, types
from pathlib import Path

sys.path.insert(0, "benchmarks")
from configurations import CONFIGURATIONS, DATA_SETS, data_config  # noqa: E402

device, data_root, work, epochs_asked, sets_asked, keys_asked = sys.argv[1:7]
work = Path(work).resolve()
CHILD = r'''
import json, sys, torch
sys.path.insert(0, "benchmarks")
import run_ours
result = run_ours.run_job(json.loads(sys.argv[1]))
if torch.cuda.is_available() and torch.cuda.is_initialized():
    result["gpu_peak_bytes"] = torch.cuda.max_memory_allocated()
print("RESULT " + json.dumps(result))
'''
rows = []
for key, config in CONFIGURATIONS.items():
    if keys_asked.split() and key not in keys_asked.split():
        continue
    for name in sets_asked.split():
        if name not in DATA_SETS or (name != "pbmc4k" and not config.peer):
            continue
        spec = DATA_SETS[name]
        path = Path(data_root) / spec.path
        path = path if path.is_file() else spec.file
        if not path.is_file():
            print(f"{key} on {name}: no data ({path}); run gpu_wheels.sh and carry its folder")
            continue
        import suite  # noqa: E402

        here = types.SimpleNamespace(key=spec.key, file=path)
        classes = suite.prepare_data_set(here, work, False)["classes"]
        epochs = int(epochs_asked) or config.full_epochs
        threads = int(os.environ.get("SUITE_THREADS", 0)) or min(os.cpu_count() or 1, 16)
        training = config.training(epochs, work / "models", threads)
        training = dataclasses.replace(training, device=device)
        job = {
            "data": str(path),
            "data_config": data_config(work).to_dict(),
            "model_config": config.model.to_dict(),
            "training_config": training.to_dict(),
            "threads": threads,
            "clusters": classes,
        }
        print(f"-- {config.title} on {name}, {epochs} epochs on {device}", flush=True)
        done = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(job)], capture_output=True, text=True
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode != 0 or not lines:
            print(f"   failed (exit {done.returncode}):", *done.stderr.splitlines()[-12:],
                  sep="\n   ", flush=True)
            continue
        result = json.loads(lines[-1][len("RESULT "):])
        seconds = sorted(result["epoch_seconds"][1:] or result["epoch_seconds"])
        median = seconds[len(seconds) // 2]
        rows.append((config.title, name, result["train_cells"], epochs, median,
                     result["train_cells"] / median, result.get("gpu_peak_bytes"),
                     result["peak_rss_mb"], result["test_elbo"]))
        print(f"   {result['train_cells'] / median:,.0f} cells/s", flush=True)
table = [
    "| configuration | data set | train cells | epochs | s/epoch | cells/s | peak GPU memory "
    "| peak RSS (MiB) | test ELBO |",
    "|---|---|---|---|---|---|---|---|---|",
]
for title, name, cells, epochs, median, rate, gpu, rss, elbo in rows:
    memory = "–" if gpu is None else f"{gpu / 2**20:,.0f} MiB"
    table.append(f"| {title} | {name} | {cells:,} | {epochs} | {median:.3f} | {rate:,.0f} "
                 f"| {memory} | {rss:,.0f} | {elbo:,.1f} |")
text = "\n".join(table)
print(f"\nThe suite's configurations on {device} (s/epoch: median after the first epoch, "
      "optimisation steps only; peak GPU memory: torch.cuda.max_memory_allocated)\n")
print(text)
(work / "suite.md").write_text(text + "\n")
sys.exit(0 if rows else 1)
EOF
}
export -f suite_on_device
wanted suite && step "suite configurations" "${SUITE_SECONDS:-180}" suite_on_device
cp "$WORK/suite/suite.md" "$RESULTS/suite.md" 2>/dev/null

# ------------------------------------------------------------------ 5. atlas
read -r -a models <<<"$MODELS"
wanted atlas || models=()
count=${#models[@]}
keep=()
for index in "${!models[@]}"; do
  model=${models[$index]}
  # the time left, shared by the models still to run (the first also writes the file)
  share=$(($(left) / (count - index)))
  rm -f "$WORK/atlas/atlas.md"
  step "atlas $model ($CELLS cells)" "$share" "$PYTHON" benchmarks/atlas.py \
    --cells "$CELLS" --model "$model" --device "$DEVICE" --work "$WORK/atlas" "${keep[@]}"
  keep=(--keep)
  cp "$WORK/atlas/atlas.md" "$RESULTS/atlas-$model.md" 2>/dev/null
done
# every log, table and JSON of the runs, in one file (the device tool brings back 8 at most)
(cd "$WORK" && find . -path ./site -prune -o -path ./out -prune -o -type f \
  \( -name '*.log' -o -name '*.json' -o -name '*.md' -o -name '*.csv' \) -print |
  tar czf "$RESULTS/logs.tgz" -T - 2>/dev/null)

echo
echo "== summary ($((SECONDS - START)) s of $BUDGET)"
printf '  %s\n' "${SUMMARY[@]}"
# the last atlas table holds the earlier models too (atlas.py --keep)
last=""
for model in "${models[@]}"; do
  [ -f "$RESULTS/atlas-$model.md" ] && last="$RESULTS/atlas-$model.md"
done
[ -n "$last" ] && echo && grep '^|' "$last"
} 2>&1 | tee "$RESULTS/gpu_check.log"
exit 0
