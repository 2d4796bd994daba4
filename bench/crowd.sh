#!/usr/bin/env bash
# Issue 18's simulated crowd: five B-Pref teachers (oracle; stochastic beta=1; mistake eps=0.2
# and 0.4; skip-prone) answer the same 100 queries (5% gold) on recorded panda-reach episodes.
# Prints one JSON line: (a) how well `calibrate` recovers each teacher's eps and beta over the
# seeds, with privileged gaps (sim) and without (gold and agreement); (b) held-out preference
# accuracy of the reward model on the crowd's labels with annotator model none vs calibrated
# vs the oracle's labels only, and the share of the none -> oracle gap calibrated recovers.
# Writes bench/results/crowd/summary.json. Usage: bench/crowd.sh [--seeds N] [--queries N]
set -euo pipefail
cd "$(dirname "$0")/.."
make -s setup
exec .venv/bin/python -m robopref.benchmarks.crowd --cache "${CACHE:-runs/bench-crowd}" "$@"
