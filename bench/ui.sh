#!/usr/bin/env bash
# Query UI speed over real HTTP (the `robopref label` server in a child process): label round
# trip (acknowledged after the SQLite commit) p50/p95, prefetched next-query p50/p95, and the
# first, unprefetched query. One JSON line; e.g. `bench/ui.sh --calls 1000`.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s setup
exec .venv/bin/robopref bench ui "$@"
