#!/usr/bin/env bash
# The reward-hacking report of the README (issue 14, item 5): two panda-lift runs with the
# lift-prm recipe of bench/learning.sh (rlpd, 10 scripted demonstrations), one paying the PRM
# potential directly as the reward (shaping.mode=direct, no sparse term), one with the sparse
# task reward and PRM shaping; both with the same quick PRM (the shaping run trains it, the
# direct run reads it). Every run logs its PRM return (reward/potential_return) beside true
# success over training; after training, `robopref reward compare --policy` scores each
# policy's rollouts with the PRM. Summaries and compare reports go to
# bench/results/reward-hacking/, and the README tables are made from them:
#   python -m robopref.benchmarks.reward_hacking bench/results/reward-hacking
# Usage: bench/reward_hacking.sh   (env: SEEDS="0", STEPS=15000, EPISODES=20; one run at a time)
set -euo pipefail
cd "$(dirname "$0")/.."
export MUJOCO_GL=${MUJOCO_GL:-egl}
SEEDS=${SEEDS:-0}
STEPS=${STEPS:-15000}
EPISODES=${EPISODES:-20}
OUT=${OUT:-runs/bench-reward-hacking}
RESULTS=bench/results/reward-hacking
BIN=.venv/bin
common="--no-progress --eval-episodes $EPISODES --set log_every=500 --task panda-lift \
--steps $STEPS --algo rlpd --demos 10 --set learner.learning_starts=1000"
mkdir -p "$OUT" "$RESULTS"
for s in $SEEDS; do
  shaping=$OUT/prm-shaping-s$s
  direct=$OUT/prm-direct-s$s
  rm -rf "$shaping" "$direct"
  $BIN/robopref train $common --reward sparse+prm --seed "$s" --run-dir "$shaping" \
    > "$shaping.json" 2> "$shaping.log"
  $BIN/robopref train $common --reward prm --set shaping.mode=direct \
    --prm "$shaping/reward/prm.pt" --seed "$s" --run-dir "$direct" > "$direct.json" 2> "$direct.log"
  for run in "$shaping" "$direct"; do
    name=$(basename "$run" "-s$s")
    $BIN/python -m robopref.benchmarks.results summarize "$run" --name "$name" --out "$RESULTS"
    $BIN/robopref reward compare --policy "$run" --episodes "$EPISODES" --threads 1 \
      > "$RESULTS/$name-s$s.compare.jsonl"
  done
done
$BIN/python -m robopref.benchmarks.reward_hacking "$RESULTS"
