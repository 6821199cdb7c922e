#!/usr/bin/env bash
# GPU check, for a machine with an NVIDIA GPU and JAX (or PyTorch) but possibly no TensorFlow.
#
#   benchmarks/gpu_check.sh ARRAYS.npz OUTDIR
#
# ARRAYS.npz comes from `tools/translation_arrays.py prepare` (run where
# TensorFlow is). In this order, so the most valuable part finishes first:
#   1. trains each of MODELS on the real pairs (book settings, EPOCHS epochs or until
#      BUDGET seconds each), evaluates the best checkpoint on the test arrays and writes
#      OUTDIR/MODEL/{history.json,test_outputs.npz} (`translation_arrays.py score`
#      turns these into BLEU/chrF where TensorFlow is); the transformer's weights too;
#   2. benchmarks decoding (bench_decode.py) on DECODE_WEIGHTS, or on the transformer
#      trained in step 1;
#   3. runs the layer tests under the backend;
#   4. benchmarks encoder training at the IMDB settings (bench_encoder.py);
# and prints one summary (also OUTDIR/summary.md). Each step has a time limit, so a
# lease of a few minutes ends with a summary.
# Environment: KERAS_BACKEND (default jax), MODELS ("transformer"), EPOCHS (30),
# BUDGET (seconds per model, 270), TRAIN_LIMIT (all pairs), DECODE_WEIGHTS,
# DECODE_ARGS (extra bench_decode.py options), the step limits in seconds
# TRAIN_TIMEOUT (BUDGET + 150), DECODE_TIMEOUT (150), TEST_TIMEOUT (120), ENCODER_TIMEOUT (90),
# EVAL_RESERVE (75: seconds kept for a model's test evaluation inside TRAIN_TIMEOUT),
# and DEADLINE: seconds for the whole script (default 3600). Every step's limit is cut to what
# is left of the deadline, minus a 30 s reserve for the summary, and a step with under 20 s
# left is skipped: set DEADLINE well inside the lease's call limit (a call killed at its limit
# may bring back nothing).
set -uo pipefail
export KERAS_BACKEND=${KERAS_BACKEND:-jax} PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the package, uninstalled (run from the repo root)
ARRAYS=${1:?usage: gpu_check.sh ARRAYS.npz OUTDIR}
OUT=${2:-output/gpu_check}
MODELS=${MODELS:-transformer}
BUDGET=${BUDGET:-270}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.md"
LIMIT=${TRAIN_LIMIT:+--limit $TRAIN_LIMIT}
END=$(( $(date +%s) + ${DEADLINE:-3600} ))
PY=${PYTHON:-$(command -v "$PY" || command -v python3)}  # some images have only python3
step() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
# limit SECONDS: the smaller of SECONDS and what the deadline leaves (minus the reserve)
limit() { local left=$(( END - $(date +%s) - 30 )); echo $(( left < $1 ? left : $1 )); }
# enough SECONDS: true when that much is left before the deadline's reserve, else notes the skip
enough() { [ $(( END - $(date +%s) - 30 )) -ge "$1" ] || { echo "(skipped: the deadline is near)" >> "$SUMMARY"; false; }; }

{
  echo "# GPU check, $(date -u +%Y-%m-%d), KERAS_BACKEND=$KERAS_BACKEND"
  echo; echo '```'; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
  "$PY" -c "import keras; print('keras', keras.__version__)"
  "$PY" -c "import jax; print('jax', jax.__version__, jax.devices())" 2>/dev/null; echo '```'
} > "$SUMMARY"

echo "## 1. Training on the real pairs (book settings), best checkpoint on the test arrays" >> "$SUMMARY"
for MODEL in $MODELS; do
  step "training $MODEL"
  enough 60 || continue
  mkdir -p "$OUT/$MODEL"
  WEIGHTS=$([ "$MODEL" = transformer ] || echo --no-weights)
  TRAIN_LIMIT_S=$(limit "${TRAIN_TIMEOUT:-$((BUDGET + 150))}")
  # stop inside an epoch in time to evaluate (EVAL_RESERVE seconds) before the step's limit
  timeout "$TRAIN_LIMIT_S" "$PY" tools/translation_arrays.py train \
    --arrays "$ARRAYS" --model "$MODEL" --out "$OUT/$MODEL" --epochs "${EPOCHS:-30}" \
    --time-budget "$BUDGET" --hard-time-limit $(( TRAIN_LIMIT_S - ${EVAL_RESERVE:-75} > 10 ? TRAIN_LIMIT_S - ${EVAL_RESERVE:-75} : 10 )) \
    $WEIGHTS $LIMIT > "$OUT/train-$MODEL.log" 2>&1
  { echo "### $MODEL (exit $?)"; echo '```'
    grep -E "^Epoch|step - |budget|limit|  step |Error|error" "$OUT/train-$MODEL.log" | tail -40
    "$PY" - "$OUT/$MODEL/history.json" <<'EOF' 2>&1
import json, sys
h = json.load(open(sys.argv[1]))
keys = ("epochs_run", "best_epoch", "best_epoch_val_accuracy", "train_seconds", "test_accuracy_keras",
        "test_accuracy_tokens", "test_greedy_seconds", "devices")
print({k: h.get(k) for k in keys})
EOF
    echo '```'; } >> "$SUMMARY"
done
cat "$OUT"/train-*.log > "$OUT/train.log" 2>/dev/null; rm -f "$OUT"/train-*.log

echo "## 2. Decoding" >> "$SUMMARY"
step "decoding benchmark"
enough 60 && timeout "$(limit "${DECODE_TIMEOUT:-150}")" "$PY" benchmarks/bench_decode.py --arrays "$ARRAYS" \
  --weights "${DECODE_WEIGHTS:-$OUT/transformer}" --markdown "$OUT/decode.md" ${DECODE_ARGS:-} \
  > /dev/null 2> "$OUT/decode.err" && cat "$OUT/decode.md" >> "$SUMMARY" \
  || { [ -f "$OUT/decode.err" ] && { echo '```'; grep -v "^\s*$" "$OUT/decode.err" | tail -15; echo '```'; } >> "$SUMMARY"; }
rm -f "$OUT/decode.md" "$OUT/decode.err"

echo "## 3. Layer tests" >> "$SUMMARY"
step "layer tests"
enough 30 && { echo '```'; timeout "$(limit "${TEST_TIMEOUT:-120}")" "$PY" -m pytest -q -p no:cacheprovider -m layers \
    tests/test_attention.py tests/test_embedding.py tests/test_encoder_decoder.py \
    tests/test_decoding.py tests/test_seq2seq.py 2>&1 | tail -5; echo '```'; } >> "$SUMMARY"

echo "## 4. Encoder training throughput" >> "$SUMMARY"
step "encoder benchmark"
enough 30 && timeout "$(limit "${ENCODER_TIMEOUT:-90}")" "$PY" benchmarks/bench_encoder.py --rounds 5 --steps 20 \
  --markdown "$OUT/encoder.md" > /dev/null 2> "$OUT/encoder.err" && cat "$OUT/encoder.md" >> "$SUMMARY" \
  || { [ -f "$OUT/encoder.err" ] && { echo '```'; grep -v "^\s*$" "$OUT/encoder.err" | tail -15; echo '```'; } >> "$SUMMARY"; }
rm -f "$OUT/encoder.md" "$OUT/encoder.err"

step "done"
cat "$SUMMARY"
