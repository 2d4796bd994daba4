#!/usr/bin/env bash
# Throughput of the training loop: env steps/s of plain SB3 SAC and of robopref train
# (preference reward through the C evaluator, oracle queries, refits, relabelling), run
# alternately in one process on the same task and settings; prints the overhead.
set -euo pipefail
cd "$(dirname "$0")/.."
export MUJOCO_GL=${MUJOCO_GL:-egl}
.venv/bin/robopref bench train --tasks "${TASKS:-panda-reach}" --steps "${STEPS:-4000}" --rounds "${ROUNDS:-2}"
