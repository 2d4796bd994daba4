#!/usr/bin/env bash
# Issue 14's labels experiment on panda-lift (--task: another Panda task): a PRM trained on few privileged-progress episodes
# (2 expert, 4 perturbed, 1 random) continued with N oracle preference labels on segments of
# other recorded episodes, against the same training without labels, for N in {0, 50, 200}:
# held-out Spearman, success AUC of the potential and of the success head, and the preference
# head's held-out pair accuracy. One JSON line per (seed, N), also written to
# bench/results/prm-labels/<task>.jsonl. Episodes and label runs are cached in CACHE.
# Usage: bench/prm_labels.sh [--task panda-push] [--seeds N] [--labels 0,50,200] [--steps 1000] [--finetune-steps 500]
#   (python -m robopref.benchmarks.prm_labels --help lists every option; tiny budgets such as
#   --steps 3 --finetune-steps 2 --small 1,1,0 --pool 2,1,0 --test 1,1,0 --labels 0,5 check it)
set -euo pipefail
cd "$(dirname "$0")/.."
make -s setup
exec .venv/bin/python -m robopref.benchmarks.prm_labels --cache "${CACHE:-runs/bench-prm-labels}" "$@"
