#!/usr/bin/env bash
# Throughput of the training loop: env steps/s of plain SB3 SAC, of robopref train with SB3's
# SAC (preference reward through the C evaluator, oracle queries, refits, relabelling) and of
# robopref train with the rlpd learner at the same update-to-data ratio and networks, run
# alternately in one process on the same task and settings, and of rlpd alone on the env's
# reward (like for like with plain SAC); prints the overhead, speedup_vs_sb3 (the whole loop)
# and learner_speedup_vs_sb3 (rlpd alone). CORES: cores every contender may use (1: the
# update and the env step take turns; 2: rlpd steps the env while its update runs). UTD:
# gradient steps per env step.
set -euo pipefail
cd "$(dirname "$0")/.."
export MUJOCO_GL=${MUJOCO_GL:-egl}
.venv/bin/robopref bench train --tasks "${TASKS:-panda-reach}" --steps "${STEPS:-4000}" \
    --rounds "${ROUNDS:-2}" --utd "${UTD:-1}" --cores "${CORES:-1}"
