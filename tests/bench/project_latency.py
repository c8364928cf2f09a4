#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Kill and launch latency of projects, on a private stack (nginx + pool +
runner from ./build, started by tests/e2e/helpers.Stack).

kill    DELETE /api/v1/projects/{name} of a running project whose process
        exits on SIGTERM: from the moment the 202 is received to the moment
        the process is gone (a pidfd becomes readable; no polling), median
        of N runs. "sent" is the same from before the request was written.
launch  POST /api/v1/projects (JSON, naming an already uploaded small
        artifact) to the moment the job has exec'd: a tight loop (0.5 ms)
        over the PIDs created since the request finds the marker in a
        /proc/<pid>/cmdline. Includes the extraction of the release.

The runner's fallback poll is set to 5 s, so that the figures show the
wake-up path (handler → datagram → runner), not the timer. Never pass/fail:
prints a table. Usage: project_latency.py [--runs N] (default 30).
"""

import argparse
import os
import select
import statistics
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

import archives as A  # noqa: E402
import helpers  # noqa: E402
import projects_helpers as H  # noqa: E402


def ms(x):
    return x * 1000.0


def wait_running(stack, name, timeout=30):
    return H.wait_running(stack, name, timeout=timeout)


def kill_once(stack, sha):
    name = H.new_name("kill")
    marker = H.new_marker()
    H.deploy_ok(stack, H.svc_spec(name, "idle", marker, artifact=sha, stop_timeout=10))
    p = wait_running(stack, name)
    # the shell must have armed its traps before it is asked to stop
    H.wait_started(stack, H.task_of(p))
    fd = os.pidfd_open(p["pid"])
    try:
        t_sent = time.perf_counter()
        r = H.delete(stack, name, purge=True)
        t_answered = time.perf_counter()
        assert r.status == 202, r
        po = select.poll()
        po.register(fd, select.POLLIN)
        assert po.poll(20000), "process still alive 20 s after DELETE"
        t_gone = time.perf_counter()
    finally:
        os.close(fd)
    return t_gone - t_answered, t_gone - t_sent


def last_pid():
    with open("/proc/sys/kernel/ns_last_pid") as f:
        return int(f.read())


def find_exec(marker, start_pid, deadline, out):
    """Records in out["t"] when a process created after start_pid has marker
    in its cmdline (polled every 0.5 ms)."""
    seen = start_pid
    cands = set()
    while time.perf_counter() < deadline:
        cur = last_pid()
        if cur >= seen:
            cands.update(range(seen + 1, cur + 1))
        else:  # PIDs wrapped
            cands.update(range(seen + 1, 1 << 22))
            cands.update(range(1, cur + 1))
        seen = cur
        for pid in list(cands):
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    if marker in f.read():
                        out["t"] = time.perf_counter()
                        return
            except OSError:
                cands.discard(pid)
        time.sleep(0.0005)


def launch_once(stack, sha):
    name = H.new_name("launch")
    marker = H.new_marker()
    spec = H.svc_spec(name, "idle", marker, artifact=sha)
    out = {}
    t0 = time.perf_counter()
    th = threading.Thread(target=find_exec, args=(marker.encode(), last_pid(), t0 + 30, out))
    th.start()
    r = H.deploy(stack, spec)
    t_answer = time.perf_counter()
    th.join()
    assert r.status == 202, r
    assert "t" in out, "no process with the marker 30 s after the deploy"
    H.delete(stack, name, purge=True)
    return out["t"] - t0, t_answer - t0


def summary(xs):
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]
    return statistics.median(xs), xs[0], p90, xs[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    missing = helpers.missing_binaries()
    if missing:
        sys.exit("project_latency: not built: %s (./dev build)" % ", ".join(missing))
    stack = helpers.Stack(label="bench-latency", rate="100000r/s", burst=100000,
                          config={"runner_poll_ms": 5000}).start()
    try:
        sha = H.upload_ok(stack, A.project_archive("tar.gz", version="bench"))
        mode = H.kill_mode(stack)
        # warm-up: first deploy pays for cold caches
        kill_once(stack, sha)
        launch_once(stack, sha)
        kills, kills_sent, launches, answers = [], [], [], []
        for _ in range(args.runs):
            a, s = kill_once(stack, sha)
            kills.append(a)
            kills_sent.append(s)
        for _ in range(args.runs):
            t, ans = launch_once(stack, sha)
            launches.append(t)
            answers.append(ans)
    finally:
        problems = stack.stop()
    rows = [
        ("kill: DELETE answered -> gone", kills, 10.0),
        ("kill: DELETE sent -> gone", kills_sent, None),
        ("launch: deploy sent -> exec'd", launches, 50.0),
        ("launch: deploy answered (202)", answers, None),
    ]
    print("project latency, %d runs each, kill mode %s, runner_poll_ms 5000" % (args.runs, mode))
    print("%-32s %9s %9s %9s %9s %9s %8s" % ("measure", "median", "min", "p90", "max", "target",
                                             "÷target"))
    for label, xs, target in rows:
        med, lo, p90, hi = summary([ms(x) for x in xs])
        print("%-32s %8.2fms %8.2fms %8.2fms %8.2fms %9s %8s" % (
            label, med, lo, p90, hi, "%gms" % target if target else "-",
            "%.2f" % (med / target) if target else "-"))
    if problems:
        print("stack teardown reported: %s" % problems[0], file=sys.stderr)


if __name__ == "__main__":
    main()
