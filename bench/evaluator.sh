#!/usr/bin/env bash
# Reward evaluator latency at batch 1, one core: the C extension against torch eager and the
# NumPy twin, with the arithmetic bound measured in the same run. One JSON line per head.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s setup
exec .venv/bin/robopref bench evaluator --calls "${CALLS:-20000}" "$@"
