#!/usr/bin/env bash
# Prepares what benchmarks/gpu_check.sh needs on the accelerator machine that it lacks:
# the wheels of anndata and of its dependencies missing there (Python 3.12, x86-64), and
# the two real data sets of the benchmark suite (PBMC 4k, CBMC; 3.7 MB), which live
# beside the checkout in ../shared/data and so do not travel with it.
#
#   bash benchmarks/gpu_wheels.sh [FOLDER]      (default: benchmarks/_work/gpu)
#
# FOLDER (ignored by git: benchmarks/_work/) then holds wheels/, pandas2/ and data/, 28 MB;
# carry it to the device machine and run gpu_check.sh there (docs/benchmarks.md).
# Run it here, where pip can reach the package index; the device machine cannot.
set -euo pipefail
cd "$(dirname "$0")/.."
FOLDER=${1:-benchmarks/_work/gpu}
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
TARGET_PYTHON=${TARGET_PYTHON:-3.12} # the device's python3; another only to try it elsewhere

# The device image has numpy, scipy, pandas, h5py, packaging, pyyaml, typing-extensions,
# scikit-learn, matplotlib, tqdm, torch and pytest. anndata needs these besides; the
# versions are those of the project's .venv (tested together). Two are compiled.
PURE=(
  anndata==0.12.19
  array-api-compat==1.16.0
  legacy-api-wrap==1.5
  natsort==8.4.0
  scverse-misc==0.0.3
  session-info2==0.4.1
  zarr==3.1.6
  donfig==0.8.1.post1
)
COMPILED=(
  numcodecs==0.16.6
  google-crc32c==1.9.0
)
# pandas 2 (the .venv's) with the two packages it needs that pandas 3 does not: gpu_check.sh
# installs these only when the machine's pandas is 3 or later, with which scvae evaluate
# cannot yet add its results to an .h5ad (anndata refuses pandas 3's string arrays).
PANDAS2=(
  pandas==2.3.3
  pytz==2026.6
  tzdata==2026.6
)

rm -rf "$FOLDER/wheels" "$FOLDER/pandas2"
mkdir -p "$FOLDER/wheels" "$FOLDER/pandas2" "$FOLDER/data"
platforms=()
for tag in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 \
  manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$tag")
done
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version "$TARGET_PYTHON" \
  --implementation cp "${platforms[@]}" -d "$FOLDER/wheels" "${PURE[@]}" "${COMPILED[@]}"
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version "$TARGET_PYTHON" \
  --implementation cp "${platforms[@]}" -d "$FOLDER/pandas2" "${PANDAS2[@]}"

shared=../shared/data
for file in scdeepcluster_10x_pbmc4k_top2000/10X_PBMC_top2000.h5 \
  scdcc_cite_cbmc_top2000/CITE_CBMC_counts_top2000.h5; do
  if [ -f "$shared/$file" ]; then
    mkdir -p "$FOLDER/data/$(dirname "$file")"
    cp "$shared/$file" "$FOLDER/data/$file"
  else
    echo "gpu_wheels.sh: $shared/$file is absent; the suite's step will skip that set" >&2
  fi
done
ls "$FOLDER/wheels" "$FOLDER/pandas2"
du -sh "$FOLDER"
