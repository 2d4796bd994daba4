#!/usr/bin/env bash
# Feedback efficiency on dmc:walker-walk (state, SAC, oracle teacher): SAC on the true reward
# against PEBBLE with 100, 500 and 1,000 labels, all at the same env steps; then the return of
# each run against env steps, side by side (robopref.benchmarks.train curves).
# STEPS (default 20000) and JOBS (runs at once, default 2) scale it.
set -euo pipefail
cd "$(dirname "$0")/.."
export MUJOCO_GL=${MUJOCO_GL:-egl}
STEPS=${STEPS:-20000}
JOBS=${JOBS:-2}
OUT=${OUT:-runs/bench-feedback}
BIN=.venv/bin
common=(--task dmc:walker-walk --steps "$STEPS" --segment-length 50 --eval-episodes 5
        --no-progress --set learner.learning_starts=1000 --set checkpoint_every=100000)
pebble=(--reward pref --teacher oracle --unsup-steps 2000 --query-every 2000
        --selector disagreement)
runs=("sac-true:--reward sparse"
      "pebble-100:${pebble[*]} --labels 100"
      "pebble-500:${pebble[*]} --labels 500"
      "pebble-1000:${pebble[*]} --labels 1000")
rm -rf "$OUT"; mkdir -p "$OUT"
for spec in "${runs[@]}"; do
  name=${spec%%:*}; flags=${spec#*:}
  # shellcheck disable=SC2086
  echo "$BIN/robopref train ${common[*]} $flags --run-dir $OUT/$name > $OUT/$name.json 2> $OUT/$name.log"
done | xargs -P "$JOBS" -I{} bash -c {}
cat "$OUT"/*.json
$BIN/python -m robopref.benchmarks.train curves "$OUT"/sac-true "$OUT"/pebble-100 \
  "$OUT"/pebble-500 "$OUT"/pebble-1000
