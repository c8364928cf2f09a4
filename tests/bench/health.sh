#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The cost of health checks to the runner: N projects (each `/bin/sleep`)
# first without a check, then the same N redeployed with a 1 s `command`
# check (`true`). For each phase, the runner's CPU time (utime + stime from
# /proc/<pid>/stat) over a window of W seconds, as a share of one core, and
# the same for all the shims together (they run the checks). The figure that
# counts: what the checks add to the runner (goal: under 5 % of one core for
# 100 projects). Never pass/fail: prints a table. Environment:
# BENCH_PROJECTS (100), BENCH_WINDOW (60), HOSTAGENT_BUILD_DIR (./build).
# The table is also written to build/bench/health.txt.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${HOSTAGENT_BUILD_DIR:-$ROOT/build}
export HOSTAGENT_BUILD_DIR=$BUILD
N=${BENCH_PROJECTS:-100}
W=${BENCH_WINDOW:-60}
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
mkdir -p "$BUILD/bench"

"$PY" - "$ROOT" "$N" "$W" <<'PYEOF' | tee "$BUILD/bench/health.txt"
import os, sys, time
root, n, window = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
sys.path.insert(0, os.path.join(root, "tests", "e2e"))
import archives as A, helpers, projects_helpers as H

HZ = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    except OSError:
        return 0


def shim_pids():
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    if b"hostagent-shim" in f.read().split(b"\0")[0]:
                        out.append(int(d))
            except OSError:
                pass
    return out


def measure(runner):
    shims = shim_pids()
    r0, s0, t0 = cpu_ticks(runner), {p: cpu_ticks(p) for p in shims}, time.monotonic()
    time.sleep(window)
    r1, s1, t1 = cpu_ticks(runner), {p: cpu_ticks(p) for p in shims}, time.monotonic()
    el = t1 - t0
    shim = sum(s1[p] - s0[p] for p in shims if s1[p] >= s0[p])
    return (r1 - r0) / HZ / el, shim / HZ / el


def deploy_all(stack, sha, health):
    for i in range(n):
        spec = {"name": "hc-%03d" % i, "artifact": sha, "command": ["/bin/sleep", "100000"]}
        if health:
            spec["health"] = {"command": ["true"], "interval": 1}
        H.deploy_ok(stack, spec)

    def settled():
        r = H.get(stack, "/api/v1/projects?limit=1000")
        ok = [p for p in (r.result or []) if p.get("state") == "running" and
              (not health or (p.get("health") or {}).get("status") == "healthy")]
        return r.status == 200 and len(ok) >= n
    if not H.poll(settled, 300):
        sys.exit("health.sh: %d projects did not all reach running" % n)


missing = helpers.missing_binaries()
if missing:
    sys.exit("health.sh: not built: %s (./dev build)" % ", ".join(missing))
stack = helpers.Stack(label="bench-health", rate="100000r/s", burst=100000).start()
try:
    runner = stack.procs["runner"].pid
    sha = H.upload_ok(stack, A.project_archive("tar.gz", version="health"))
    deploy_all(stack, sha, False)
    time.sleep(10)  # the deploys' own work (extraction, pruning, first samples) is over
    base_r, base_s = measure(runner)
    deploy_all(stack, sha, True)  # a redeploy of each: new runs, now with a check
    time.sleep(10)
    chk_r, chk_s = measure(runner)
    checks = H.db(stack, "SELECT sum(json_extract(health, '$.checks')) FROM projects")[0][0]
    print("health checks: %d projects, 1 s command check (true), %.0f s windows" % (n, window))
    print("%-28s %10s %10s" % ("", "runner", "all shims"))
    print("%-28s %9.2f%% %9.2f%%" % ("without checks (% of a core)", 100 * base_r, 100 * base_s))
    print("%-28s %9.2f%% %9.2f%%" % ("with checks (% of a core)", 100 * chk_r, 100 * chk_s))
    print("%-28s %9.2f%% %9.2f%%" % ("added by the checks", 100 * (chk_r - base_r),
                                     100 * (chk_s - base_s)))
    print("checks run so far: %s" % checks)
finally:
    stack.stop()
PYEOF
