#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Kill and launch latency of projects (tests/bench/project_latency.py): a
# private stack from ./build, 30 runs each, medians in a table. Never
# pass/fail. Environment: BENCH_LATENCY_RUNS (30), HOSTAGENT_BUILD_DIR (./build). The
# table is also written to build/bench/project_latency.txt.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${HOSTAGENT_BUILD_DIR:-$ROOT/build}
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
mkdir -p "$BUILD/bench"
"$PY" "$ROOT/tests/bench/project_latency.py" --runs "${BENCH_LATENCY_RUNS:-30}" | tee "$BUILD/bench/project_latency.txt"
