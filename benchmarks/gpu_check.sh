#!/usr/bin/env bash
# One ready GPU check (issue 14, item 6).
#
# On a machine with one CUDA GPU, in under 8 minutes: the CUDA-marked tests, then the
# retrieval, HAM, ET and layer benchmarks on the device, then one softmax retrieval over
# 1e8 patterns of D = 256 in bf16 (51.2 GB, generated on the device and streamed from
# device memory; GB/s against the device's measured copy bandwidth). Every step has a
# time limit (7 minutes in all); a step that fails or runs out of time is reported and
# the others still run. Results: one JSON per benchmark, one log per step and
# gpu_check.json (status and seconds of each step) in $OUT (default
# benchmarks/results/gpu).
#
#   benchmarks/gpu_check.sh              # on the GPU machine
#   benchmarks/gpu_check.sh --dry-run    # every step on the CPU at tiny sizes (tested)
#
# STEPS="ham stream" limits the run to some steps (tests retrieval ham et layers stream);
# PYTHON selects the interpreter (default .venv/bin/python, else python3).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT=${OUT:-benchmarks/results/gpu}
STEPS=${STEPS:-tests retrieval ham et layers stream}

case "${1:-}" in
  "") DRY=0 ;;
  --dry-run) DRY=1 ;;
  *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac

if [ "$DRY" = 1 ]; then
  DEVICE=cpu
  SLOW=4  # the CPU is slower: 4x the time limits
  RETRIEVAL=(--sizes 2000 --batches 1 --repeats 1)
  HAM=(--batch 8 --dim 16 --memories 32)
  ET=(--smoke)
  LAYERS=(--sizes 2000 --repeats 1)
  STREAM=(--patterns 1e5 --batches 1 --repeats 1 --copy-mib 16)
else
  DEVICE=cuda
  SLOW=1
  if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: no CUDA device visible to $PY (use --dry-run on a CPU)" >&2
    exit 2
  fi
  command -v nvidia-smi >/dev/null && nvidia-smi -L
  RETRIEVAL=()
  HAM=()
  ET=()
  LAYERS=()
  STREAM=(--patterns 1e8)
fi

mkdir -p "$OUT" || exit 2
SUMMARY=()
FAILED=0

# run NAME LIMIT_SECONDS COMMAND...: one step, its log in $OUT/NAME.log
run() {
  local name=$1 limit=$(( $2 * SLOW ))
  shift 2
  case " $STEPS " in *" $name "*) ;; *) return 0 ;; esac
  echo "== $name (limit ${limit} s): $*"
  local start status
  start=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  status=$?
  tail -n 15 "$OUT/$name.log"
  local seconds=$(( $(date +%s) - start ))
  if [ "$status" -ne 0 ]; then
    FAILED=1
    echo "!! $name failed with status $status after ${seconds} s (log: $OUT/$name.log)"
  fi
  SUMMARY+=("{\"step\": \"$name\", \"status\": $status, \"seconds\": $seconds}")
}

run tests 75 "$PY" -m pytest -m cuda -q -p no:randomly -p no:cacheprovider tests
run retrieval 75 "$PY" benchmarks/bench_retrieval.py --quick --device "$DEVICE" \
  "${RETRIEVAL[@]}" --out "$OUT/bench_retrieval.json"
run ham 45 "$PY" benchmarks/bench_core.py --quick --device "$DEVICE" "${HAM[@]}" \
  --out "$OUT/bench_core.json"
run et 75 "$PY" benchmarks/bench_et.py --quick --device "$DEVICE" "${ET[@]}" \
  --out "$OUT/bench_et.json"
run layers 60 "$PY" benchmarks/bench_layers.py --quick --device "$DEVICE" "${LAYERS[@]}" \
  --out "$OUT/bench_layers.json"
run stream 90 "$PY" benchmarks/bench_device_stream.py --device "$DEVICE" "${STREAM[@]}" \
  --out "$OUT/bench_device_stream.json"

{
  printf '{"device": "%s", "dry_run": %s, "steps": [' "$DEVICE" "$([ "$DRY" = 1 ] && echo true || echo false)"
  (IFS=,; printf '%s' "${SUMMARY[*]}")
  printf ']}\n'
} > "$OUT/gpu_check.json"
echo "wrote $OUT/gpu_check.json"
exit "$FAILED"
