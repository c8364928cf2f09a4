#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Does the queue stay flat as it grows? Create (POST /api/v1/tasks), claim
# (the claim's choosing SELECT from common/store_queue.c, run by SQLite on
# the same file, without the UPDATE) and GET /api/v1/tasks?status=pending&limit=100, each timed (median
# of R runs) on an empty queue and again with P pending and F finished tasks
# in the database; prints the ratios and the query plans. Never pass/fail.
# Environment: BENCH_PENDING (100000), BENCH_FINISHED (1000000), BENCH_RUNS
# (50), HOSTAGENT_BUILD_DIR (./build). Also written to build/bench/queue_growth.txt.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${HOSTAGENT_BUILD_DIR:-$ROOT/build}
export HOSTAGENT_BUILD_DIR=$BUILD
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
mkdir -p "$BUILD/bench"

"$PY" - "$ROOT" "${BENCH_PENDING:-100000}" "${BENCH_FINISHED:-1000000}" "${BENCH_RUNS:-50}" \
	<<'PYEOF' | tee "$BUILD/bench/queue_growth.txt"
import os, re, sqlite3, statistics, sys, time, uuid
root, pending, finished, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, os.path.join(root, "tests", "e2e"))
import archives as A, helpers, projects_helpers as H

src = open(os.path.join(root, "common", "store_queue.c")).read()
claim_sql = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', src.split("sql_claim[] =")[1].split(";")[0]))
inner = claim_sql[claim_sql.index("(SELECT t.id"):claim_sql.index(" RETURNING")]

def median_ms(fn):
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return statistics.median(out)

def measure(stack, sha):
    db = sqlite3.connect(H.db_path(stack), timeout=30)
    body = {"artifact": sha, "command": ["/bin/true"]}
    create = median_ms(lambda: H.post(stack, "/api/v1/tasks", body))
    lst = median_ms(lambda: H.get(stack, "/api/v1/tasks?status=pending&limit=100"))
    q = "SELECT t.id FROM tasks t WHERE" + inner.split("WHERE", 1)[1].rsplit(")", 1)[0]
    params = (None, int(time.time() * 1000))
    q = q.replace("?2", "?").replace("?4", "?").replace("?5", "?")
    args = ("internal", params[1], None, None, None)  # ?4 runs_on, ?2 now, ?5 globs
    claim = median_ms(lambda: db.execute(q, args).fetchone())
    plan = [r[3] for r in db.execute("EXPLAIN QUERY PLAN " + q, args)]
    plan_l = [r[3] for r in db.execute("EXPLAIN QUERY PLAN SELECT id FROM tasks WHERE kind ="
                                       " 'task' AND state = 'pending' ORDER BY created_at DESC,"
                                       " rowid DESC LIMIT 100")]
    db.close()
    return create, claim, lst, plan, plan_l

def fill(stack):
    db = sqlite3.connect(H.db_path(stack), timeout=30)
    now = int(time.time() * 1000)
    rows = ((str(uuid.uuid4()), "task", "{}", st, now - i, now - i)
            for st, n in (("completed", finished), ("pending", pending)) for i in range(n))
    db.executemany("INSERT INTO tasks (id, kind, spec, state, created_at, updated_at)"
                   " VALUES (?, ?, ?, ?, ?, ?)", rows)
    db.commit()
    db.execute("ANALYZE")
    db.close()

stack = helpers.Stack(label="bench-growth", rate="100000r/s", burst=100000).start()
try:
    sha = H.upload_ok(stack, A.project_archive("tar.gz", version="growth"))
    assert H.post(stack, "/api/v1/queue/stop").status == 200  # nothing runs: only the queue
    for _ in range(100):  # a page to list, as in the grown queue
        H.post(stack, "/api/v1/tasks", {"artifact": sha, "command": ["/bin/true"]})
    empty = measure(stack, sha)
    t0 = time.monotonic()
    fill(stack)
    fill_s = time.monotonic() - t0
    full = measure(stack, sha)
finally:
    stack.stop()
print("queue growth: %d pending (not yet due) and %d finished tasks, medians of %d runs"
      % (pending, finished, runs))
print("%-40s %10s %10s %8s" % ("", "empty", "grown", "ratio"))
for name, a, b in (("create (POST /api/v1/tasks)", empty[0], full[0]),
                   ("claim (the statement, in SQLite)", empty[1], full[1]),
                   ("GET /api/v1/tasks?status=pending", empty[2], full[2])):
    print("%-40s %8.2fms %8.2fms %8.2f" % (name, a, b, b / a))
print("fill: %.1f s" % fill_s)
print("claim plan:", " | ".join(full[3]))
print("list plan: ", " | ".join(full[4]))
PYEOF
