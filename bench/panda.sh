#!/usr/bin/env bash
# Panda tasks, SAC on the state: success against env steps for the sparse task reward alone,
# sparse + PRM shaping, and preferences (oracle teacher on privileged progress) + PRM.
# The PRM of each task is the one bench/prm.sh trains (runs/bench-prm/<task>/prm.pt) when it
# exists, else `robopref train` trains a quick one first. Then the curves side by side.
# Usage: bench/panda.sh [task ...] (default: panda-push panda-lift); STEPS, JOBS, LABELS.
set -euo pipefail
cd "$(dirname "$0")/.."
export MUJOCO_GL=${MUJOCO_GL:-egl}
STEPS=${STEPS:-10000}
JOBS=${JOBS:-2}
LABELS=${LABELS:-200}
OUT=${OUT:-runs/bench-panda}
BIN=.venv/bin
tasks=("${@:-panda-push panda-lift}")
mkdir -p "$OUT"
for t in ${tasks[*]}; do
  prm=runs/bench-prm/$t/prm.pt
  prm_flag=""; [ -f "$prm" ] && prm_flag="--prm $prm"
  common="--task $t --steps $STEPS --eval-episodes 10 --no-progress --query-every 1000 \
--set learner.learning_starts=1000 --set checkpoint_every=100000 --set log_every=500"
  for spec in "sparse:--reward sparse" "prm:--reward sparse+prm $prm_flag" \
              "pref-prm:--reward pref+prm --labels $LABELS $prm_flag"; do
    name=${spec%%:*}; flags=${spec#*:}; dir=$OUT/$t-$name
    rm -rf "$dir"
    echo "$BIN/robopref train $common $flags --run-dir $dir > $dir.json 2> $dir.log"
  done
done | xargs -P "$JOBS" -I{} bash -c {}
for t in ${tasks[*]}; do
  cat "$OUT/$t"-*.json
  $BIN/python -m robopref.benchmarks.train curves "$OUT/$t-sparse" "$OUT/$t-prm" "$OUT/$t-pref-prm"
done
