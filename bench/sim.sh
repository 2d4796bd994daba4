#!/usr/bin/env bash
# Simulation throughput: env steps/s (state only and 3 cameras) against the raw physics
# timed inside the same steps, one core. Prints one JSON line per task and backend.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s setup
exec .venv/bin/robopref bench sim --steps "${STEPS:-1000}" "$@"
