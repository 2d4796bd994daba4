#!/usr/bin/env bash
# Wall time of a 4-run sweep (panda-reach, the task reward, STEPS env steps; 2 learning rates
# x 2 seeds) on a local Ray with --max-concurrent 1 and 2, and of the same 4 runs as plain
# `robopref train` processes one after another: Ray's overhead per run is
# (sweep at 1 - plain) / 4. Each sweep's time includes starting and stopping Ray and
# writing the report. Prints one JSON line; OUT keeps the run directories.
set -euo pipefail
cd "$(dirname "$0")/.."
export MUJOCO_GL=${MUJOCO_GL:-egl}
# Ray starts its workers at nice 15; on a machine shared with other jobs they would then get
# less CPU than the plain runs they are compared with. 0: the same terms.
export RAY_worker_niceness=${RAY_worker_niceness:-0}
BIN=$PWD/.venv/bin
STEPS=${STEPS:-1500}
OUT=${OUT:-$(mktemp -d /tmp/robopref-bench-sweep.XXXXXX)}
mkdir -p "$OUT"
cat > "$OUT/sweep.yaml" <<EOF
base:
  task: panda-reach
  reward: sparse
  steps: $STEPS
  eval_episodes: 5
grid:
  learner.learning_rate: [0.0003, 0.001]
seeds: [0, 1]
EOF

now() { date +%s.%N; }
declare -A wall
for mc in 1 2; do
    t0=$(now)
    "$BIN/robopref" sweep "$OUT/sweep.yaml" --out "$OUT/mc$mc" --max-concurrent "$mc" \
        --no-progress > "$OUT/mc$mc.json" 2> "$OUT/mc$mc.log"
    wall[$mc]=$(echo "$(now) - $t0" | bc)
done
t0=$(now)
for lr in 0.0003 0.001; do
    for seed in 0 1; do
        "$BIN/robopref" train --task panda-reach --reward sparse --steps "$STEPS" --seed "$seed" \
            --eval-episodes 5 --set "learner.learning_rate=$lr" --no-progress \
            --run-dir "$OUT/plain/lr$lr-s$seed" > /dev/null 2>> "$OUT/plain.log"
    done
done
plain=$(echo "$(now) - $t0" | bc)
"$BIN/python" - "$STEPS" "${wall[1]}" "${wall[2]}" "$plain" "$OUT" <<'EOF'
import json, os, sys
steps, mc1, mc2, plain, out = int(sys.argv[1]), *map(float, sys.argv[2:5]), sys.argv[5]
done = [json.load(open(f"{out}/mc{m}.json"))["completed"] for m in (1, 2)]
print(json.dumps({
    "runs": 4, "steps": steps, "cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0],
    "completed": done, "sweep_concurrent1_s": round(mc1, 1), "sweep_concurrent2_s": round(mc2, 1),
    "speedup_2_vs_1": round(mc1 / mc2, 2), "plain_train_4_runs_s": round(plain, 1),
    "ray_overhead_per_run_s": round((mc1 - plain) / 4, 1), "out": out,
}))
EOF
