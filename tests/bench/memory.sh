#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Memory of supervision: hostagent's runner with N running projects (each
# `/bin/sleep`), and one shim (each project has its own), against supervisord
# (Debian's supervisor package) managing the same N `sleep` programs.
# Figures are VmRSS from /proc/<pid>/status (and Pss from smaps_rollup, which
# splits shared pages fairly) once everything runs. Never pass/fail: prints a
# table with ratios. Environment: BENCH_PROJECTS (100), HOSTAGENT_BUILD_DIR
# (./build). The table is also written to build/bench/memory.txt.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${HOSTAGENT_BUILD_DIR:-$ROOT/build}
export HOSTAGENT_BUILD_DIR=$BUILD
N=${BENCH_PROJECTS:-100}
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
command -v supervisord >/dev/null || { echo "memory.sh: supervisord is missing (apt-get install supervisor)" >&2; exit 1; }
mkdir -p "$BUILD/bench"

"$PY" - "$ROOT" "$N" <<'EOF' | tee "$BUILD/bench/memory.txt"
import os, shutil, signal, subprocess, sys, tempfile, time
root, n = sys.argv[1], int(sys.argv[2])
sys.path.insert(0, os.path.join(root, "tests", "e2e"))
import archives as A, helpers, projects_helpers as H


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def pss_kb(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def settle(pid):
    """RSS once it stops moving (a second of equal samples, at most 10 s)."""
    last, same, t_end = -1, 0, time.time() + 10
    while time.time() < t_end:
        v = status_kb(pid, "VmRSS")
        same = same + 1 if v == last else 0
        last = v
        if same >= 5:
            break
        time.sleep(0.2)
    return last


missing = helpers.missing_binaries()
if missing:
    sys.exit("memory.sh: not built: %s (./dev build)" % ", ".join(missing))

# ---- hostagent
stack = helpers.Stack(label="bench-memory", rate="100000r/s", burst=100000,
                      config={"port_min": 30000, "port_max": 39999}).start()
try:
    runner = stack.procs["runner"].pid
    idle_rss = settle(runner)
    sha = H.upload_ok(stack, A.project_archive("tar.gz", version="memory"))
    names = []
    for i in range(n):
        name = "mem-%03d" % i
        H.deploy_ok(stack, {"name": name, "artifact": sha, "command": ["/bin/sleep", "100000"]})
        names.append(name)
    def all_running():
        r = H.get(stack, "/api/v1/projects?limit=1000")
        return r.status == 200 and sum(1 for p in r.result if p.get("state") == "running") >= n
    if not H.poll(all_running, 120):
        sys.exit("memory.sh: %d projects did not all reach running" % n)
    runner_rss = settle(runner)
    runner_pss = pss_kb(runner)
    shims = [r[0] for r in H.db(stack, "SELECT shim_pid FROM tasks WHERE state = 'running'"
                                " AND shim_pid IS NOT NULL")]
    shim_rss = [status_kb(p, "VmRSS") for p in shims if os.path.exists("/proc/%d" % p)]
    shim_pss = [pss_kb(p) for p in shims if os.path.exists("/proc/%d" % p)]
    for name in names:
        H.delete(stack, name, purge=True)
finally:
    stack.stop()

# ---- supervisord
work = tempfile.mkdtemp(prefix="hostagent-bench-supervisor-")
conf = os.path.join(work, "supervisord.conf")
with open(conf, "w") as f:
    f.write("[supervisord]\nnodaemon=true\nlogfile=%s/supervisord.log\npidfile=%s/s.pid\n"
            "childlogdir=%s\n[unix_http_server]\nfile=%s/s.sock\n"
            "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = "
            "supervisor.rpcinterface:make_main_rpcinterface\n[supervisorctl]\n"
            "serverurl=unix://%s/s.sock\n" % (work, work, work, work, work))
    for i in range(n):
        f.write("[program:sleep%03d]\ncommand=/bin/sleep 100000\nautostart=true\n"
                "stdout_logfile=%s/sleep%03d.out\nstderr_logfile=%s/sleep%03d.err\n"
                % (i, work, i, work, i))
sup = subprocess.Popen(["supervisord", "-n", "-c", conf], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, start_new_session=True)
try:
    ok = H.poll(lambda: len(H.children_of(sup.pid)) >= n, 120)
    if not ok:
        sys.exit("memory.sh: supervisord did not start %d programs" % n)
    sup_rss = settle(sup.pid)
    sup_pss = pss_kb(sup.pid)
finally:
    os.killpg(sup.pid, signal.SIGTERM)
    try:
        sup.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(sup.pid, signal.SIGKILL)
        sup.wait()
    shutil.rmtree(work, ignore_errors=True)

med = sorted(shim_rss)[len(shim_rss) // 2] if shim_rss else 0
medp = sorted(shim_pss)[len(shim_pss) // 2] if shim_pss else 0
print("memory with %d running sleep programs (kB)" % n)
print("%-36s %10s %10s" % ("process", "VmRSS", "Pss"))
print("%-36s %10d %10s" % ("hostagent-runner, no project", idle_rss, "-"))
print("%-36s %10d %10d" % ("hostagent-runner, %d projects" % n, runner_rss, runner_pss))
print("%-36s %10d %10d" % ("one hostagent-shim (median of %d)" % len(shim_rss), med, medp))
print("%-36s %10d %10d" % ("runner + all shims", runner_rss + sum(shim_rss),
                           runner_pss + sum(shim_pss)))
print("%-36s %10d %10d" % ("supervisord, %d programs" % n, sup_rss, sup_pss))
print("ratio runner / supervisord (RSS): %.2f" % (runner_rss / sup_rss))
print("ratio (runner + shims) / supervisord (RSS): %.2f; (Pss): %.2f" % (
    (runner_rss + sum(shim_rss)) / sup_rss,
    (runner_pss + sum(shim_pss)) / sup_pss if sup_pss else float("nan")))
EOF
