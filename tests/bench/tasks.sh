#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The task queue, measured (never pass/fail; prints a table, also written to
# build/bench/tasks.txt):
# - throughput: N tasks running /bin/true (an artifact's task), created up
#   front while the slots are stopped, then run through the 3 slots until
#   the last is completed, against `xargs -P 3` running the same N commands
#   in the same run;
# - latency with idle slots: create → exec'd (created_at → started_at) and
#   exit → completed visible through the API, medians over M tasks.
# Environment: BENCH_TASKS (1000), BENCH_LATENCY (50), HOSTAGENT_BUILD_DIR (./build).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${HOSTAGENT_BUILD_DIR:-$ROOT/build}
export HOSTAGENT_BUILD_DIR=$BUILD
N=${BENCH_TASKS:-1000}
M=${BENCH_LATENCY:-50}
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
mkdir -p "$BUILD/bench"

"$PY" - "$ROOT" "$N" "$M" <<'PYEOF' | tee "$BUILD/bench/tasks.txt"
import os, statistics, subprocess, sys, time
root, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, os.path.join(root, "tests", "e2e"))
import archives as A, helpers, projects_helpers as H

missing = helpers.missing_binaries()
if missing:
    sys.exit("tasks.sh: not built: %s (./dev build)" % ", ".join(missing))
stack = helpers.Stack(label="bench-tasks", rate="100000r/s", burst=100000).start()
try:
    sha = H.upload_ok(stack, A.project_archive("tar.gz", version="tasks"))
    body = {"artifact": sha, "command": ["/bin/true"]}
    # the tree is extracted once, before anything is timed
    t0 = H.post(stack, "/api/v1/tasks", body).result["id"]
    H.poll(lambda: H.get(stack, "/api/v1/tasks/" + t0).result["status"] == "completed", 60)

    # latency, idle slots
    exec_ms, seen_ms = [], []
    for _ in range(m):
        t = H.post(stack, "/api/v1/tasks", body).result["id"]
        while True:
            r = H.get(stack, "/api/v1/tasks/" + t).result
            if r["status"] == "completed":
                seen = time.time() * 1000
                break
        (c, s, e), = H.db(stack, "SELECT created_at, started_at, completed_at FROM tasks"
                                 " WHERE id = ?", (t,))
        exec_ms.append(s - c)
        seen_ms.append(seen - e)

    # throughput
    assert H.post(stack, "/api/v1/queue/stop").status == 200
    t_create = time.monotonic()
    ids = [H.post(stack, "/api/v1/tasks", body).result["id"] for _ in range(n)]
    create_s = time.monotonic() - t_create
    start = time.monotonic()
    assert H.post(stack, "/api/v1/queue/start").status == 200
    while True:
        left = H.db(stack, "SELECT count(*) FROM tasks WHERE kind = 'task' AND state IN"
                           " ('pending', 'running')")[0][0]
        if left == 0:
            break
        time.sleep(0.01)
    agent_s = time.monotonic() - start
    failed = H.db(stack, "SELECT count(*) FROM tasks WHERE kind = 'task' AND state <>"
                         " 'completed'")[0][0]
finally:
    stack.stop()

x0 = time.monotonic()
subprocess.run("seq %d | xargs -P 3 -I{} /bin/true" % n, shell=True, check=True)
xargs_s = time.monotonic() - x0

print("tasks: %d tasks of /bin/true through 3 slots (each: claim, job directory, cgroup," % n)
print("shim, logs, committed transitions), against xargs -P 3")
print("%-44s %10.2f s" % ("hostagent, until the last completed", agent_s))
print("%-44s %10.2f s" % ("xargs -P 3", xargs_s))
print("%-44s %10.3f" % ("throughput ratio (xargs time / hostagent)", xargs_s / agent_s))
print("%-44s %10.0f /s" % ("hostagent tasks per second", n / agent_s))
print("%-44s %10.0f /s" % ("creates per second (one client, sequential)", n / create_s))
print("%-44s %10.1f ms" % ("create -> exec'd, median (idle slots)", statistics.median(exec_ms)))
print("%-44s %10.1f ms" % ("exit -> completed via the API, median", statistics.median(seen_ms)))
print("tasks not completed: %d" % failed)
PYEOF
