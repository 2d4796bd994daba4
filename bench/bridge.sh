#!/usr/bin/env bash
# Bridge latency: observation-to-command latency in process and over Cyclone DDS loopback
# (stand-in robot in a child process), and control-period jitter at 50 Hz over 60 s per
# transport. Prints one JSON line per transport; e.g. `bench/bridge.sh --transports inproc`.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s setup
exec .venv/bin/robopref bench bridge "$@"
