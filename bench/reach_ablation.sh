#!/usr/bin/env bash
# Why SAC learned panda-reach slowly: one change at a time (robopref.benchmarks.ablation),
# SEEDS seeds per variant, two variants at a time; summaries to bench/results/reach-ablation.
set -euo pipefail
cd "$(dirname "$0")/.."
export MUJOCO_GL=${MUJOCO_GL:-egl}
SEEDS=${SEEDS:-"0 1 2"}
BIN=.venv/bin
names=$($BIN/python -c "from robopref.benchmarks.ablation import variants; print(' '.join(variants()))")
for v in $names; do
  echo "$BIN/python -m robopref.benchmarks.ablation --variants $v --seeds $SEEDS --out bench/results/reach-ablation"
done | xargs -P "${JOBS:-2}" -I{} bash -c {}
$BIN/python -m robopref.benchmarks.results table bench/results/reach-ablation
