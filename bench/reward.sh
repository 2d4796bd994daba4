#!/usr/bin/env bash
# Reward-model inference speed, one core: PRM latency (one observation of three 84x84 views),
# PRM batch throughput (relabelling), preference-ensemble latency. JSON lines.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s setup
exec .venv/bin/robopref bench reward "$@"
