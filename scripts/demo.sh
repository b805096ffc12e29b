#!/usr/bin/env bash
# The demo behind `make demo`: runs offline on the built-in synthetic data set and,
# when ../shared/data is present, on a real 10x Genomics folder.
set -euo pipefail
cd "$(dirname "$0")/.."
SCVAE=.venv/bin/scvae
OUT=${DEMO_DIRECTORY:-demo-output}
mkdir -p "$OUT"

echo "== scvae analyse development (synthetic, offline) =="
"$SCVAE" analyse development --split-data-set -D "$OUT/data" -A "$OUT/analyses"

REAL=../shared/data/mouse_brain_1M_subset_10k_1000genes
if [ -d "$REAL" ]; then
    echo "== scvae analyse $REAL (real 10x v3 folder, 10,000 cells) =="
    "$SCVAE" analyse "$REAL" --split-data-set -D "$OUT/data" -A "$OUT/analyses"
fi
echo "== scvae train development: a GMVAE with negative-binomial likelihood, 5 epochs =="
"$SCVAE" train development --split-data-set -m GMVAE -r negative_binomial -e 5 --seed 1 \
    -D "$OUT/data" -M "$OUT/models"
echo "Demo outputs are in $OUT/"
