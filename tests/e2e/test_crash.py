# SPDX-License-Identifier: MIT
"""Crash safety (docs/architecture.md, Crash recovery): kill -9 of the runner
while projects run (they keep running, exits meanwhile are recorded, stop
and kill still work, a reused PID is never signalled), kill -9 of the runner
in the middle of a stop, commands accepted while the runner is down, kill -9
of a handler worker during an upload, and a deploy whose extraction fails."""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

import archives as A
import helpers
import projects_helpers as H
from projects_helpers import projects  # noqa: F401  (fixture)

# A process that records every catchable signal it receives.
DECOY = r"""
import os, signal, sys, time
log = sys.argv[1]
def rec(n, f):
    with open(log, "a") as fh:
        fh.write("%d\n" % n)
for s in range(1, 65):
    if s in (signal.SIGKILL, signal.SIGSTOP, 32, 33):
        continue
    try:
        signal.signal(s, rec)
    except (OSError, ValueError):
        pass
open(log + ".ready", "w").close()
while True:
    time.sleep(3600)
"""


def _spawn_decoy(target, log):
    """A decoy process whose PID is target (PID reuse on purpose), placed by
    writing target - 1 to /proc/sys/kernel/ns_last_pid. Only called inside
    the test's own PID namespace, where nothing else takes PIDs and the
    counter is ours to steer. Fails (never skips) when it cannot be done."""
    assert H.poll(lambda: not os.path.exists("/proc/%d" % target), 10), (
        "PID %d is still taken (%s): it cannot be reused" % (target, H.proc_stat(target)))
    tried = []
    for _ in range(20):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(target - 1))
        p = subprocess.Popen([sys.executable, "-c", DECOY, log], start_new_session=True,
                             stdin=subprocess.DEVNULL)
        if p.pid == target:
            assert H.poll(lambda: os.path.exists(log + ".ready"), 10), "decoy never ready"
            return p
        tried.append(p.pid)
        p.kill()
        p.wait()
    raise AssertionError("could not place a decoy on PID %d (got %s)" % (target, tried))


def _write_exit_code(stack, task, code):
    out = os.path.join(H.job_dir(stack, task), "output")
    with open(os.path.join(out, "exit-code.tmp"), "w") as f:
        f.write("%d\n" % code)
    os.rename(os.path.join(out, "exit-code.tmp"), os.path.join(out, "exit-code"))


def _deploy(stack, projects, mode, *args, **fields):
    return H.deploy_svc(stack, projects, mode, *args, prefix="crash", **fields)


def _shim_pid(stack, task):
    rows = H.db(stack, "SELECT shim_pid FROM tasks WHERE id = ?", (task,))
    if rows and rows[0][0]:
        return rows[0][0]
    j = H.read_json_file(os.path.join(H.job_dir(stack, task), "shim.json")) or {}
    return j.get("shim_pid")


@pytest.fixture
def crash(fresh_stack):
    """A stack of its own (the test kills parts of it) and a registry of
    its projects, deleted afterwards (the stack's teardown would otherwise
    wait for the jobs it finds before killing them)."""
    s = fresh_stack()
    reg = H.Projects(s)
    yield s, reg
    if s.procs["runner"].poll() is not None:
        s.start_runner()
    reg.cleanup()


def test_runner_kill9_projects_survive_and_exits_are_recorded(request, tmp_path):
    """The whole stack (nginx, pool, runner, shims, jobs) and the decoys run
    in a PID namespace of the test's own: there ns_last_pid is writable, so
    a freed PID can be handed to a decoy on purpose, on any machine, without
    steering the host's PID counter. This test re-runs itself in there."""
    if not helpers.in_own_pid_namespace():
        here = os.path.abspath(__file__)
        r = helpers.run_in_own_pid_namespace(
            [sys.executable, "-m", "pytest", "-x", "-q", "-rA", "-p", "no:cacheprovider",
             "%s::%s" % (here, request.node.name)], timeout=600)
        # one test that ran and passed: a skip or a deselection is a failure
        assert r.returncode == 0 and re.search(r"^1 passed in ", r.stdout, re.M), (
            "inside its own PID namespace the test exited %d:\n%s" % (r.returncode, r.stdout))
        return
    _runner_kill9_with_decoys(request.getfixturevalue("crash"), tmp_path)


def _runner_kill9_with_decoys(crash, tmp_path):
    stack, projects = crash
    a, ma, ra = _deploy(stack, projects, "idle")
    b, mb, rb = _deploy(stack, projects, "idle")
    c, mc, rc = _deploy(stack, projects, "waitfile", restart="no")
    pa = H.wait_running(stack, a, ra["task"]["id"])
    pb = H.wait_running(stack, b, rb["task"]["id"])
    pc = H.wait_running(stack, c, rc["task"]["id"])
    tc = rc["task"]["id"]
    shims = {n: _shim_pid(stack, r["task"]["id"]) for n, r in ((a, ra), (b, rb), (c, rc))}
    assert all(isinstance(v, int) and v > 1 for v in shims.values()), shims

    stack.kill_runner()
    # they keep running, with their shims
    for p in (pa, pb, pc):
        assert H.pid_alive(p["pid"]), p
    for n, s in shims.items():
        assert H.pid_alive(s), "shim of %s died with the runner" % n

    # c exits with 7 while the runner is down; its shim records it and leaves
    _write_exit_code(stack, tc, 7)
    assert H.wait_gone([pc["pid"]], 10)
    ex = H.poll(lambda: H.read_json_file(os.path.join(H.job_dir(stack, tc), "exit.json")), 10)
    assert ex and ex["exit_code"] == 7 and ex["signal"] is None, ex

    # PID reuse: the job's and its shim's PIDs go to decoys; nothing may
    # ever signal them
    decoys = []
    try:
        for pid in (pc["pid"], shims[c]):
            log = str(tmp_path / ("decoy-%d" % pid))
            decoys.append((_spawn_decoy(pid, log), log))
        stack.start_runner()
        row = H.poll(lambda: (lambda t: t if t and t["completed_at"] else None)(
            H.task_row(stack, tc)), 20)
        assert row, H.task_row(stack, tc)
        assert (row["state"], row["exit_code"], row["signal"], row["reason"]) == (
            "failed", 7, None, "exited with code 7"), row
        # restart "no" after exit 7: failed, exactly, and not restarted
        q = H.wait_project(stack, c, lambda q: q["state"] == "failed", 20, "c recorded as failed")
        assert q["restarts"] == 0, q
        assert [t["id"] for t in H.project_tasks(stack, c)] == [tc]
        # a and b are supervised again, same processes
        qa, qb = H.project(stack, a), H.project(stack, b)
        assert (qa["state"], qa["pid"]) == ("running", pa["pid"]), qa
        assert (qb["state"], qb["pid"]) == ("running", pb["pid"]), qb
        # stop and kill still work
        assert H.control(stack, a, "stop").status == 202
        assert H.delete(stack, b).status == 202
        assert H.delete(stack, c).status == 202
        assert H.wait_gone(ma, 15), H.procs_with(ma)
        assert H.wait_gone(mb, 15), H.procs_with(mb)
        H.wait_project(stack, a, lambda q: q["state"] == "stopped", 15, "a stopped")
        assert H.poll(lambda: H.project(stack, b) is None and H.project(stack, c) is None, 15)
        # every command the runner took is settled: a signal it sent to a
        # decoy would have been sent by now
        assert H.poll(lambda: H.db(stack, "SELECT count(*) FROM commands WHERE state IN"
                                          " ('pending', 'running')") == [(0,)], 15), \
            H.db(stack, "SELECT id, kind, target, state FROM commands")
        for d, log in decoys:
            assert d.poll() is None, "the decoy on a reused PID was killed"
            sig = open(log).read() if os.path.exists(log) else ""
            assert sig == "", "the decoy on a reused PID got signals %r" % sig
    finally:
        for d, _ in decoys:
            d.kill()
            d.wait()


def test_runner_kill9_in_the_middle_of_a_stop(crash):
    stack, projects = crash
    name, marker, res = _deploy(stack, projects, "stubborn", stop_timeout=2)
    task = res["task"]["id"]
    p = H.wait_running(stack, name, task)
    H.wait_ignoring_term(marker)
    assert H.control(stack, name, "stop").status == 202
    H.wait_project(stack, name, lambda q: q["state"] == "stopping", 10, "stopping")
    stack.kill_runner()
    # the shim carries the stop sequence on by itself: SIGKILL after 2 s
    assert H.wait_gone(marker, 10), H.procs_with(marker)
    assert not H.pid_alive(p["pid"])
    stack.start_runner()
    H.wait_project(stack, name, lambda q: q["state"] == "stopped", 20, "stopped after restart")
    row = H.task_row(stack, task)
    # a runner that was away during the stop still records it as requested
    assert (row["state"], row["exit_code"], row["signal"], row["killed"], row["reason"]) == (
        "cancelled", None, 9, 1, "stopped by request"), row
    assert row["completed_at"], row


def test_commands_accepted_while_the_runner_is_down_are_applied(crash):
    stack, projects = crash
    a, ma, ra = _deploy(stack, projects, "idle")
    pa = H.wait_running(stack, a, ra["task"]["id"])
    sha = H.upload_ok(stack, A.project_archive("tar.gz", version=H.new_marker("v")))
    stack.kill_runner()
    b = projects.add(H.new_name("late"))
    mb = H.new_marker()
    projects.markers.append(mb)
    rb = H.deploy_ok(stack, H.svc_spec(b, "idle", mb, artifact=sha))
    assert H.control(stack, a, "stop").status == 202
    assert H.pid_alive(pa["pid"])  # nobody applies it yet
    stack.start_runner()
    H.wait_running(stack, b, rb["task"]["id"])
    H.wait_project(stack, a, lambda q: q["state"] == "stopped", 20, "a stopped")
    assert H.wait_gone(ma, 10)
    # the deploy ran as accepted: one run, the task the 202 named, and no
    # failed attempt made before its release was extracted
    runs = [(t["id"], t["state"]) for t in H.project_tasks(stack, b)]
    assert runs == [(rb["task"]["id"], "running")], runs


def _busy_worker(stack, upload_dir, workers):
    """The worker that has the upload's body file (or a file of ours) open."""
    for pid in workers:
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            root = str(stack.data_dir) + "/"
            if t.startswith(root) and t[len(root):].startswith(("tmp/", "artifacts/")):
                return pid
    return None


def test_handler_kill9_during_upload_leaves_nothing(fresh_stack, tmp_path):
    # Without the upload inspector, the worker hashes and inspects the whole
    # body itself (the path of every upload the inspector has no verdict
    # for): a window wide enough to kill it in. With the inspector, the
    # worker's share is milliseconds; test_inspector.py kills the inspector.
    stack = fresh_stack(config={"upload_follow": "false"})
    path = str(tmp_path / "big.tar")
    A.write_random_tar(path, 300 << 20)
    size = os.path.getsize(path)
    sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
    workers = list(stack.fcgi_worker_pids())
    assert workers, "no fcgi workers"
    started = {p: H.proc_stat(p)["starttime"] for p in workers}
    before = H.storage_snapshot(stack)
    upload_dir = os.path.join(stack.data_dir, "tmp")
    killed = []
    result = {}
    stop = threading.Event()

    def hunter():
        while not stop.is_set() and not killed:
            pid = _busy_worker(stack, upload_dir, workers)
            if pid:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.001)

    def uploader():
        with open(path, "rb") as f:
            try:
                result["r"] = H.http(stack, "POST", "/api/v1/artifacts", f, headers={
                    "Content-Type": "application/octet-stream", "Content-Length": str(size)},
                    timeout=300)
            except OSError as e:
                result["e"] = e

    th = threading.Thread(target=hunter)
    tu = threading.Thread(target=uploader)
    th.start()
    tu.start()
    tu.join(320)
    stop.set()
    th.join(5)
    assert killed, "the upload finished (%s) before a worker could be caught with it" % (
        result.get("r"),)
    r = result.get("r")
    assert r is not None, "no HTTP answer: %r" % result.get("e")
    # the worker died with the request: nginx's own 502, in the envelope
    assert r.status == 502 and r.error["type"] == "unavailable", r
    assert H.wait_storage_back_to(stack, before, 15) == before
    assert H.artifact_rows(stack, sha) == []
    assert not os.path.exists(os.path.join(H.artifacts_dir(stack), sha))
    # the killed worker is gone (a SIGKILLed process with a large mapping can
    # take a moment to finish exiting; a PID may come back: compare start
    # times), and the master replaced it: the pool serves uploads again
    def gone():
        st = H.proc_stat(killed[0])
        return st is None or st.get("state") in ("Z", "X") or st.get("starttime") != started[killed[0]]
    assert H.poll(gone, 10), "the killed worker is still there"
    assert H.poll(lambda: len(stack.fcgi_worker_pids()) >= len(workers), 10)
    ok = A.project_archive("tar.gz", version=H.new_marker())
    assert H.upload(stack, ok).status == 201


def _partial_then_truncated():
    files = {"f/%04d" % i: (os.urandom(4096), 0o644) for i in range(400)}
    files["bin/svc.sh"] = (A.SVC.encode(), 0o755)
    data = A.archive("tar.gz", files)
    return data[:len(data) * 3 // 4]


BAD_RELEASES = {
    "truncated_after_many_files": lambda outside: _partial_then_truncated(),
    "dotdot": A.hostile_dotdot,
    "symlink_abs_write": A.hostile_symlink_abs_write,
    "hardlink_abs": A.hostile_hardlink_abs,
    "fifo": A.hostile_fifo,
    "bomb": lambda outside: A.gzip_bomb(3 << 30),
}


@pytest.mark.parametrize("kind", sorted(BAD_RELEASES))
def test_failed_extraction_keeps_previous_release(stack, projects, tmp_path, kind):
    """The stored artifact is replaced on disk by a bad one after its upload
    (storage corruption, or a hostile file that got past the upload check):
    the runner's extraction must fail cleanly, leave no release directory,
    write nothing outside, and keep the previous release running."""
    outside_dir = tmp_path / "outside"
    outside_dir.mkdir()
    os.chmod(outside_dir, 0o777)
    outside = outside_dir / "victim"
    outside.write_bytes(b"original\n")
    os.chmod(outside, 0o666)

    name, marker, r1 = _deploy(stack, projects, "http", ports=["http"])
    p1 = H.wait_serving(stack, name, r1["task"]["id"])
    sha2 = H.upload_ok(stack, A.project_archive("tar.gz", version=H.new_marker("v2")))
    with open(os.path.join(H.artifacts_dir(stack), sha2), "r+b") as f:
        f.truncate(0)
        f.write(BAD_RELEASES[kind](str(outside)))
    m2 = H.new_marker()
    projects.markers.append(m2)
    # the handler checks the artifact's row, not its bytes: accepted
    r = H.deploy(stack, H.svc_spec(name, "http", m2, artifact=sha2, ports=["http"]))
    assert r.status == 202, r
    rel_root = os.path.join(stack.data_dir, "releases", name)
    rid, seq2 = r.result["release"]["id"], r.result["release"]["seq"]
    # the runner settles the deploy as failed, with the extraction's reason,
    # on the command, the release and the deploy's task
    cmd = H.wait_command(stack, r.result["command"]["id"], 60)
    assert cmd["state"] == "failed", cmd
    assert cmd["reason"].startswith("release %d: extraction failed: " % seq2), cmd
    (rstate, rreason), = H.db(stack, "SELECT state, reason FROM releases WHERE id = ?", (rid,))
    assert rstate == "failed" and rreason, (rstate, rreason)
    assert cmd["reason"] == "release %d: extraction failed: %s" % (seq2, rreason), cmd
    t2 = H.task_row(stack, r.result["task"]["id"])
    assert (t2["state"], t2["reason"], t2["pid"]) == ("failed", cmd["reason"], None), t2
    assert not os.path.exists(os.path.join(rel_root, str(seq2)))
    # nothing half-extracted anywhere under the project's releases
    assert sorted(os.listdir(rel_root)) == [str(r1["release"]["seq"])], os.listdir(rel_root)
    # the previous release still runs, the same process, and is current again
    p = H.project(stack, name)
    assert p["state"] == "running" and p["pid"] == p1["pid"], p
    assert p["release"]["id"] == r1["release"]["id"], p
    assert p["latest_release"]["id"] == rid and p["latest_release"]["state"] == "failed", p
    assert not H.procs_with(m2)
    assert outside.read_bytes() == b"original\n"
    assert sorted(os.listdir(outside_dir)) == ["victim"]


def test_failed_deploy_reason_is_visible_in_the_api(stack, projects):
    """The 202 of a deploy points at GET /api/v1/projects/{name} ("watch"):
    a deploy whose extraction failed must say so there, with the reason,
    while the previous release goes on running."""
    name, marker, r1 = _deploy(stack, projects, "idle")
    H.wait_running(stack, name, r1["task"]["id"])
    sha2 = H.upload_ok(stack, A.project_archive("tar.gz", version=H.new_marker("v2")))
    with open(os.path.join(H.artifacts_dir(stack), sha2), "r+b") as f:
        f.truncate(0)
        f.write(A.hostile_dotdot("/tmp/hostagent-never-" + H.new_marker()))
    r = H.deploy(stack, H.svc_spec(name, "idle", H.new_marker(), artifact=sha2))
    assert r.status == 202, r
    assert r.result["watch"].endswith("/projects/" + name), r.result
    rid = r.result["release"]["id"]
    row = H.poll(lambda: (lambda x: x if x and x[0][0] == "failed" else None)(
        H.db(stack, "SELECT state, reason FROM releases WHERE id = ?", (rid,))), 30)
    assert row, H.db(stack, "SELECT state, reason FROM releases WHERE id = ?", (rid,))
    reason = row[0][1]
    assert reason, row
    view = H.get(stack, r.result["watch"])
    assert view.status == 200, view
    assert view.result["latest_release"] == {
        "id": rid, "seq": r.result["release"]["seq"], "state": "failed", "reason": reason}, (
        "GET %s does not show that release %d failed (%s): %s"
        % (r.result["watch"], rid, reason, json.dumps(view.result)[:1500]))
    assert view.result["release"]["id"] == r1["release"]["id"], view.result
