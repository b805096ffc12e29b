#!/usr/bin/env bash
# The demo behind `make demo`: analyse, train and evaluate, offline. It uses the built-in
# synthetic data set and, when ../shared/data is beside the project, a real labelled
# data set (CITE-seq CBMC counts, 8,617 cells x 2,000 genes) and a real 10x folder.
set -euo pipefail
cd "$(dirname "$0")/.."
SCVAE=.venv/bin/scvae
OUT=${DEMO_DIRECTORY:-demo-output}
EPOCHS=${DEMO_EPOCHS:-10}
mkdir -p "$OUT"
COMMON=(--split-data-set -D "$OUT/data")

echo "== scvae analyse development (synthetic, offline) =="
"$SCVAE" analyse development "${COMMON[@]}" -A "$OUT/analyses"

REAL=../shared/data/scdcc_cite_cbmc_top2000/CITE_CBMC_counts_top2000.h5
TENX=../shared/data/mouse_brain_1M_subset_10k_1000genes
if [ -f "$REAL" ]; then
    DATA=$REAL
    MODEL=(-m GMVAE)  # the defaults: negative binomial, observed library size, latent 10
    echo "== scvae analyse $TENX (real 10x v3 folder, 10,000 cells) =="
    "$SCVAE" analyse "$TENX" "${COMMON[@]}" -A "$OUT/analyses" --included-analyses simple
else
    DATA=development
    MODEL=(-m GMVAE)
fi
echo "== scvae train $DATA: a GMVAE with negative-binomial likelihood, $EPOCHS epochs =="
"$SCVAE" train "$DATA" "${COMMON[@]}" "${MODEL[@]}" -e "$EPOCHS" --seed 1 -M "$OUT/models" \
    | tee "$OUT/train.log" | grep -E "^(Model saved|Epochs |Epoch +[0-9]+/|After epoch)" || true
RUN=$(sed -n 's/^Model saved in //p' "$OUT/train.log" | tail -1)
echo "== scvae evaluate --model-directory $RUN (no training options repeated) =="
"$SCVAE" evaluate --model-directory "$RUN" -A "$OUT/analyses" -P kmeans \
    --model-versions end_of_training
echo
echo "Demo outputs are in $OUT/; open the report:"
find "$OUT/analyses" -path "*e_${EPOCHS}-mc_1-iw_1*" -name index.html | head -1
