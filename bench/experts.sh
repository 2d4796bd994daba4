#!/usr/bin/env bash
# Scripted-expert success over 100 seeds per task in both simulators (state only).
set -euo pipefail
cd "$(dirname "$0")/.."
make -s setup
exec .venv/bin/robopref bench experts --seeds "${SEEDS:-100}" "$@"
