#!/usr/bin/env bash
# GPU check, for a machine with an NVIDIA GPU and JAX (or PyTorch) but possibly no TensorFlow.
#
#   benchmarks/gpu_check.sh ARRAYS.npz OUTDIR
#
# ARRAYS.npz comes from `chapters/ch11_translation_accelerator.py prepare` (run where
# TensorFlow is). In this order, so the most valuable part finishes first:
#   1. trains the chapter's Transformer translator on the real pairs (book settings,
#      EPOCHS epochs or until BUDGET seconds) and writes its weights to OUTDIR;
#   2. benchmarks decoding on those weights (bench_decode.py);
#   3. runs the layer and decoding tests under the backend;
#   4. benchmarks encoder training at the IMDB settings (bench_encoder.py);
# and prints one summary (also OUTDIR/summary.md).
# Environment: KERAS_BACKEND (default jax), EPOCHS (30), BUDGET (seconds, 270), TRAIN_LIMIT (all pairs).
set -uo pipefail
export KERAS_BACKEND=${KERAS_BACKEND:-jax} PYTHONUNBUFFERED=1
ARRAYS=${1:?usage: gpu_check.sh ARRAYS.npz OUTDIR}
OUT=${2:-output/gpu_check}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.md"
LIMIT=${TRAIN_LIMIT:+--limit $TRAIN_LIMIT}

{
  echo "# GPU check, $(date -u +%Y-%m-%d), KERAS_BACKEND=$KERAS_BACKEND"
  echo; echo '```'; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
  python -c "import keras; print('keras', keras.__version__)"; echo '```'
} > "$SUMMARY"

echo "## 1. Training the Transformer translator" >> "$SUMMARY"
python chapters/ch11_translation_accelerator.py train --arrays "$ARRAYS" --out "$OUT" \
  --epochs "${EPOCHS:-30}" --time-budget "${BUDGET:-270}" $LIMIT > "$OUT/train.log" 2>&1
{ echo '```'; grep -E "^Epoch|step - |budget|epochs_run|best_epoch|train_seconds|devices" -A0 "$OUT/train.log" | tail -70; echo '```'; } >> "$SUMMARY"
rm -f "$OUT/train.log"

echo "## 2. Decoding" >> "$SUMMARY"
python benchmarks/bench_decode.py --arrays "$ARRAYS" --weights "$OUT" --markdown "$OUT/decode.md" > /dev/null 2> "$OUT/decode.err" \
  && cat "$OUT/decode.md" >> "$SUMMARY" || tail -20 "$OUT/decode.err" >> "$SUMMARY"
rm -f "$OUT/decode.md" "$OUT/decode.err"

echo "## 3. Tests" >> "$SUMMARY"
{ echo '```'; python -m pytest -q -p no:cacheprovider tests/test_attention.py tests/test_embedding.py \
    tests/test_encoder_decoder.py tests/test_decoding.py 2>&1 | tail -5; echo '```'; } >> "$SUMMARY"

echo "## 4. Encoder training throughput" >> "$SUMMARY"
python benchmarks/bench_encoder.py --rounds 5 --steps 20 --markdown "$OUT/encoder.md" > /dev/null 2> "$OUT/encoder.err" \
  && cat "$OUT/encoder.md" >> "$SUMMARY" || tail -20 "$OUT/encoder.err" >> "$SUMMARY"
rm -f "$OUT/encoder.md" "$OUT/encoder.err"

cat "$SUMMARY"
