# SPDX-License-Identifier: MIT
"""Projects end to end (docs/api.md, Projects; docs/architecture.md, jobs): deploy by
multipart and JSON, what the process gets (user, session, ports, env),
redeploy, rollback, start/stop/restart/signal, restart policies with backoff
and crashloop, logs (tar, tar.gz, zip, ?task=, ?since=, tail, follow, cap),
DELETE of a whole process tree, purge, the agent's logs, invalid specs."""

import datetime
import gzip
import json
import os
import pwd
import re
import signal
import subprocess
import time

import pytest

import archives as A
import projects_helpers as H
from projects_helpers import projects  # noqa: F401  (fixture)

SPEC4_ENV = ("HOSTAGENT_TASK_ID", "HOSTAGENT_PROJECT", "HOSTAGENT_RELEASE", "HOSTAGENT_PARAMETERS",
             "HOSTAGENT_OUTPUT_DIR", "HOSTAGENT_MAX_STEPS", "HOSTAGENT_RESULT_FILE")



RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

def _artifact(stack, version=None, fmt="tar.gz"):
    data = A.project_archive(fmt, version=version or H.new_marker("v"))
    return H.upload_ok(stack, data), data


def _deploy_svc(stack, projects, mode, *args, version=None, **fields):
    return H.deploy_svc(stack, projects, mode, *args, version=version, **fields)


def _release_dir(stack, name, seq):
    return os.path.join(stack.data_dir, "releases", name, str(seq))


def _job_spec(stack, task_id):
    return H.read_json_file(os.path.join(H.job_dir(stack, task_id), "spec.json")) or {}


def _rfc3339(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


# ---------------------------------------------------------------------------
# Deploy and what the process gets


def test_multipart_deploy_runs_as_run_user_in_own_session_with_port_and_env(stack, projects):
    name = projects.add(H.new_name("web"))
    marker = H.new_marker()
    projects.markers.append(marker)
    version = H.new_marker("v")
    data = A.project_archive("tar.gz", version=version)
    spec = H.svc_spec(name, "http", marker, ports=["http"], env={"GREETING": "hello world"})
    res = H.deploy_ok(stack, spec, artifact=data)
    assert res["release"]["seq"] == 1, res
    assert res.get("watch"), res
    task = res["task"]["id"]

    p = H.wait_running(stack, name, task)
    pid = p["pid"]
    # its own session and process group
    st = H.proc_stat(pid)
    assert st["session"] == pid, st
    assert st["pgrp"] == pid, st
    # the configured run user, never root unless configured
    user = _job_spec(stack, task).get("user") or getattr(stack, "run_user", None)
    assert user, "job spec.json names no user"
    uids = H.proc_uids(pid)
    assert uids[0] == uids[1] == pwd.getpwnam(user).pw_uid, (user, uids)
    if user != "root":
        assert uids[0] != 0
    # the command is the argv, run in the release directory
    # (polled: while the shell execs python3 the cmdline reads empty)
    assert H.poll(lambda: marker.encode() in _cmdline(pid), 10), _cmdline(pid)
    assert os.path.realpath("/proc/%d/cwd" % pid) == os.path.realpath(
        _release_dir(stack, name, res["release"]["seq"]))

    env = H.read_env(stack, task)
    port = int(env["PORT_HTTP"])
    assert H.ports_of(p)["http"] == port, p
    # the service really listens there and serves this release
    status, body = H.poll(lambda: _try_http(port), 20) or (None, b"")
    assert status == 200 and body.strip() == version.encode(), (status, body)

    # the environment docs/architecture.md promises a job
    for k in SPEC4_ENV:
        assert k in env, "missing %s in %s" % (k, sorted(env))
    assert env["HOSTAGENT_TASK_ID"] == task
    assert env["HOSTAGENT_PROJECT"] == name
    rel = res["release"]
    assert env["HOSTAGENT_RELEASE"] == str(rel["seq"]), (env["HOSTAGENT_RELEASE"], rel)
    assert os.path.realpath(env["HOSTAGENT_OUTPUT_DIR"]) == os.path.realpath(
        os.path.join(H.job_dir(stack, task), "output"))
    assert env["GREETING"] == "hello world"
    # a clean environment: nothing of the agent's own configuration leaks in
    allowed = set(SPEC4_ENV) | {"HOSTAGENT_CONTROL_FD", "HOSTAGENT_CONFIG_FILE"}
    leaked = [k for k in env if (k.startswith("HOSTAGENT_") and k not in allowed)
              or k in ("DATABASE_URL", "NUM_INTERNAL_WORKERS", "LOG_LEVEL", "PYTEST_CURRENT_TEST",
                       "AUTO_START_WORKERS")]
    assert not leaked, leaked
    # a project's run is a task of kind service
    assert H.db(stack, "SELECT kind, project FROM tasks WHERE id = ?", (task,)) == [
        ("service", name)]


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read()
    except OSError:
        return b""


def test_one_curl_F_deploys(stack, projects, tmp_path):
    """The issue's own command line: curl -F spec=... -F artifact=@build.tar.gz."""
    name = projects.add(H.new_name("curl"))
    marker = H.new_marker()
    projects.markers.append(marker)
    art = tmp_path / "build.tar.gz"
    art.write_bytes(A.project_archive("tar.gz", version="curl-" + marker))
    spec = json.dumps(H.svc_spec(name, "http", marker, ports=["http"]))
    out = subprocess.run(
        ["curl", "-sS", "-k", "-H", "Authorization: Bearer " + stack.token,
         "-F", "spec=" + spec, "-F", "artifact=@%s" % art,
         "-w", "\n%{http_code}", stack.tls_url + "/api/v1/projects"],
        capture_output=True, timeout=120)
    body, _, code = out.stdout.rpartition(b"\n")
    assert code == b"202", (code, body, out.stderr)
    res = json.loads(body)["result"]
    p = H.wait_running(stack, name, res["task"]["id"])
    port = H.ports_of(p)["http"]
    got = H.poll(lambda: (_try_http(port) or (0, b""))[1].strip(), 20)
    assert got == ("curl-" + marker).encode(), got


def _try_http(port):
    try:
        return H.http_get_port(port, "/VERSION")
    except OSError:
        return None


def test_json_deploy_and_project_view(stack, projects):
    name, marker, res = _deploy_svc(stack, projects, "idle")
    p = H.wait_running(stack, name, res["task"]["id"])
    assert p["spec"]["command"][:3] == [H.SVC_CMD, "idle", marker], p
    assert (p["release"]["id"], p["release"]["seq"], p["release"]["state"]) == (
        res["release"]["id"], 1, "ready"), p
    assert p["restarts"] == 0
    assert isinstance(p["uptime_s"], (int, float)) and p["uptime_s"] >= 0
    # the runner samples CPU and memory every second
    p = H.wait_project(stack, name, lambda q: (q.get("rss_bytes") or 0) > 0, 10, "rss sampled")
    assert isinstance(p["cpu_pct"], (int, float)), p
    assert 0 <= p["cpu_pct"] <= 100 * os.cpu_count() + 1
    # rss is that of the tree: a shell and a sleep, between 100 kB and 100 MB
    assert 100 * 1024 < p["rss_bytes"] < 100 << 20, p
    lst = H.get(stack, "/api/v1/projects")
    assert lst.status == 200, lst
    mine = [q for q in lst.result if q["name"] == name]
    assert len(mine) == 1 and mine[0]["state"] == "running", mine
    assert H.get(stack, "/api/v1/projects/" + H.new_name("nope")).status == 404


def test_deploy_start_false_creates_without_running(stack, projects):
    name, marker, res = _deploy_svc(stack, projects, "idle", start=False)
    # the runner settled the deploy (release extracted and made current):
    # whatever it would start, it would have started before this
    cmd = H.wait_command(stack, res["command"]["id"])
    assert cmd["state"] == "applied", cmd
    p = H.project(stack, name)
    assert p["release"]["id"] == res["release"]["id"] and p["release"]["state"] == "ready", p
    assert (p["state"], p["desired"], p["pid"]) == ("stopped", "stopped", None), p
    assert H.project_tasks(stack, name) == []
    assert not H.procs_with(marker)
    r = H.control(stack, name, "start")
    assert r.status == 202, r
    H.wait_running(stack, name)
    assert H.procs_with(marker)


def test_redeploy_replaces_the_running_release(stack, projects):
    name = projects.add(H.new_name("re"))
    m1, m2 = H.new_marker(), H.new_marker()
    projects.markers += [m1, m2]
    sha1, _ = _artifact(stack, "release-one")
    sha2, _ = _artifact(stack, "release-two")
    r1 = H.deploy_ok(stack, H.svc_spec(name, "http", m1, artifact=sha1, ports=["http"]))
    p1 = H.wait_running(stack, name, r1["task"]["id"])
    port1 = H.ports_of(p1)["http"]
    assert H.poll(lambda: _try_http(port1), 20)[1].strip() == b"release-one"

    r2 = H.deploy_ok(stack, H.svc_spec(name, "http", m2, artifact=sha2, ports=["http"]))
    assert r2["release"]["seq"] == r1["release"]["seq"] + 1
    p2 = H.wait_running(stack, name, r2["task"]["id"])
    assert H.wait_gone([p1["pid"]], 20), "old release still running"
    assert not H.procs_with(m1)
    assert p2["pid"] != p1["pid"]
    port2 = H.ports_of(p2)["http"]
    got = H.poll(lambda: (_try_http(port2) or (0, b""))[1].strip() == b"release-two", 20)
    assert got, "the new release does not serve its VERSION"
    # the old task is over and recorded: stopped for the new release
    t1 = H.task_row(stack, r1["task"]["id"])
    assert (t1["state"], t1["reason"]) == ("cancelled", "stopped by request"), t1
    assert t1["completed_at"], t1


def test_rollback_returns_to_previous_release(stack, projects):
    name = projects.add(H.new_name("rb"))
    m1, m2 = H.new_marker(), H.new_marker()
    projects.markers += [m1, m2]
    sha1, _ = _artifact(stack, "rb-one")
    sha2, _ = _artifact(stack, "rb-two")
    r1 = H.deploy_ok(stack, H.svc_spec(name, "http", m1, artifact=sha1, ports=["http"]))
    H.wait_running(stack, name, r1["task"]["id"])
    # only one release: nothing to roll back to
    r = H.control(stack, name, "rollback")
    assert r.status == 409, r
    r2 = H.deploy_ok(stack, H.svc_spec(name, "http", m2, artifact=sha2, ports=["http"]))
    p2 = H.wait_running(stack, name, r2["task"]["id"])

    r = H.control(stack, name, "rollback")
    assert r.status == 202, r
    p3 = H.wait_project(stack, name, lambda q: q.get("state") == "running"
                        and H.task_of(q) not in (r1["task"]["id"], r2["task"]["id"])
                        and H.pid_alive(q.get("pid") or 0), 30, "rolled back and running")
    assert (p3["release"]["id"], p3["release"]["seq"]) == (
        r1["release"]["id"], r1["release"]["seq"]), p3
    assert H.wait_gone([p2["pid"]], 20)
    assert H.procs_with(m1) and not H.procs_with(m2)
    port = H.ports_of(p3)["http"]
    assert H.poll(lambda: (_try_http(port) or (0, b""))[1].strip() == b"rb-one", 20)


# ---------------------------------------------------------------------------
# Control


def _stdout(stack, name, tail=None):
    q = "?tail=%d" % tail if tail else ""
    r = H.get(stack, "/api/v1/projects/%s/logs/stdout%s" % (name, q))
    assert r.status == 200, r
    return r.body


def test_stop_start_restart_signal(stack, projects):
    name, marker, res = _deploy_svc(stack, projects, "idle")
    p = H.wait_running(stack, name, res["task"]["id"])
    pid1 = p["pid"]
    H.wait_started(stack, res["task"]["id"])

    r = H.control(stack, name, "signal", {"signal": "USR1"})
    assert r.status == 202, r
    assert H.poll(lambda: b"got USR1" in _stdout(stack, name), 10), _stdout(stack, name)
    assert H.pid_alive(pid1) and H.project(stack, name)["pid"] == pid1

    r = H.control(stack, name, "stop")
    assert r.status == 202, r
    H.wait_project(stack, name, lambda q: q["state"] == "stopped", 20, "stopped")
    assert H.wait_gone([pid1], 5)
    assert not H.procs_with(marker)
    t1 = H.task_row(stack, res["task"]["id"])
    # it exits 0 on SIGTERM; a stop by request is cancelled whatever the exit
    assert (t1["state"], t1["exit_code"], t1["signal"], t1["reason"]) == (
        "cancelled", 0, None, "stopped by request"), t1

    r = H.control(stack, name, "start")
    assert r.status == 202, r
    p2 = H.wait_running(stack, name)
    assert p2["pid"] != pid1 and H.task_of(p2) != res["task"]["id"]

    r = H.control(stack, name, "restart")
    assert r.status == 202, r
    p3 = H.wait_project(stack, name, lambda q: q["state"] == "running"
                        and H.task_of(q) not in (res["task"]["id"], H.task_of(p2))
                        and H.pid_alive(q.get("pid") or 0), 30, "restarted")
    assert H.wait_gone([p2["pid"]], 10)
    assert p3["pid"] != p2["pid"]


def test_signal_validation_and_405(stack, projects):
    name, marker, res = _deploy_svc(stack, projects, "idle")
    H.wait_running(stack, name, res["task"]["id"])
    r = H.control(stack, name, "signal", {"signal": "NOTASIGNAL"})
    assert r.status == 422, r
    assert "signal" in r.error.get("detail", ""), r
    r = H.get(stack, "/api/v1/projects/%s/stop" % name)
    assert r.status == 405, r
    assert "POST" in r.headers.get("allow", ""), r.headers
    r = H.control(stack, H.new_name("ghost"), "start")
    assert r.status == 404, r


def test_stop_timeout_then_sigkill(stack, projects):
    name, marker, res = _deploy_svc(stack, projects, "stubborn", stop_timeout=1)
    H.wait_running(stack, name, res["task"]["id"])
    H.wait_ignoring_term(marker)
    t0 = time.monotonic()
    r = H.control(stack, name, "stop")
    assert r.status == 202, r
    assert H.wait_gone(marker, 15), H.procs_with(marker)
    took = time.monotonic() - t0
    assert took >= 0.8, "killed after %.2fs: stop_timeout of 1 s not honoured" % took
    row = H.poll(lambda: (lambda t: t if t and t["completed_at"] else None)(
        H.task_row(stack, res["task"]["id"])), 10)
    assert row, H.task_row(stack, res["task"]["id"])
    assert (row["state"], row["exit_code"], row["signal"], row["killed"], row["reason"]) == (
        "cancelled", None, 9, 1, "stopped by request"), row


# ---------------------------------------------------------------------------
# Restart policies


def _starts(stack, name):
    return [t for t in H.project_tasks(stack, name) if t["started_at"]]


# The e2e stack's restart timing (helpers.Stack.write_config) and the
# runner's defaults for what it does not set (common/config.c).
BACKOFF_MS = 100
BACKOFF_MAX_MS = 60000
CRASHLOOP_AFTER = 5


def test_restart_on_failure_backoff_grows_then_crashloop(stack, projects):
    name, marker, res = _deploy_svc(stack, projects, "exit", 1, restart="on-failure")
    seen = []

    def crashloop():
        p = H.project(stack, name)
        seen.append((p["state"], p.get("backoff_until")))
        return p["state"] == "crashloop"

    assert H.poll(crashloop, 60, 0.01), "no crashloop; states seen: %s" % sorted(set(
        s for s, _ in seen))
    backoffs = [b for s, b in seen if s == "backoff"]
    assert backoffs, "the backoff state was never visible: %s" % sorted(set(s for s, _ in seen))
    assert all(b is not None for b in backoffs), "state backoff without backoff_until"
    # CRASHLOOP_AFTER fast failures in a row: that many runs, each exit 1,
    # and one automatic restart after each but the last
    tasks = H.project_tasks(stack, name)
    assert len(tasks) == CRASHLOOP_AFTER, tasks
    assert [(t["state"], t["exit_code"]) for t in tasks] == [("failed", 1)] * CRASHLOOP_AFTER, tasks
    starts = [t["started_at"] for t in tasks]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    # 100 ms doubling: every gap longer than the one before, the last ≥ 2.5×
    # the first (each gap is the backoff plus a short run)
    assert all(g2 > g1 for g1, g2 in zip(gaps, gaps[1:])), gaps
    assert gaps[-1] >= 2.5 * gaps[0], gaps
    # what the runner said at each end, in order
    ev = [(t, m) for t, m in H.project_events(stack, name) if t in (
        "project.backoff", "project.crashloop")]
    want = [("project.backoff", "exited with code 1; %d fast failure%s; next start in %d ms"
             % (n, "" if n == 1 else "s", BACKOFF_MS << (n - 1)))
            for n in range(1, CRASHLOOP_AFTER)]
    want.append(("project.crashloop", "exited with code 1; %d fast failures; next start in %d ms"
                 % (CRASHLOOP_AFTER, BACKOFF_MAX_MS)))
    assert ev == want, ev
    p = H.project(stack, name)
    assert (p["state"], p["restarts"]) == ("crashloop", CRASHLOOP_AFTER - 1), p
    # crashloop waits restart_backoff_max_ms: no start in the window where
    # one more backoff step (twice the last) would have started it
    window = 2 * (BACKOFF_MS << (CRASHLOOP_AFTER - 2)) / 1000 + 0.5
    H.stays(lambda: len(H.project_tasks(stack, name)) == CRASHLOOP_AFTER
            and H.project(stack, name)["state"] == "crashloop", window,
            "crashloop holds for %.1f s" % window)
    # a start leaves the crashloop
    r = H.control(stack, name, "start")
    assert r.status == 202, r
    assert H.poll(lambda: len(H.project_tasks(stack, name)) == CRASHLOOP_AFTER + 1, 10), \
        H.project_tasks(stack, name)


def test_backoff_is_capped(fresh_stack):
    stack = fresh_stack(config={"restart_backoff_max_ms": 400, "crashloop_after": 100})
    projects = H.Projects(stack)
    name, marker, res = _deploy_svc(stack, projects, "exit", 1, restart="on-failure")
    assert H.poll(lambda: len(_starts(stack, name)) >= 7, 30), _starts(stack, name)
    starts = [t["started_at"] for t in _starts(stack, name)][:7]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    # 100, 200, 400, then 400 again and again (plus a short run each time)
    assert gaps[1] > gaps[0] and gaps[2] > gaps[1], gaps
    for g in gaps[3:]:
        assert 300 <= g < 400 + 600, gaps
    # the delays the runner chose: doubling from 100 ms, then capped at 400
    ev = [m for t, m in H.project_events(stack, name) if t == "project.backoff"][:6]
    assert [int(m.rsplit(" ", 2)[1]) for m in ev] == [100, 200, 400, 400, 400, 400], ev
    assert [int(m.split("; ")[1].split()[0]) for m in ev] == [1, 2, 3, 4, 5, 6], ev
    # with crashloop_after 100 it never gives up
    assert "project.crashloop" not in [t for t, _ in H.project_events(stack, name)]


def _settled_project(stack, name, state):
    """The project and its runs, read while it rests in state (the same
    project row before and after reading the runs)."""
    def read():
        p1 = H.project(stack, name)
        tasks = H.project_tasks(stack, name)
        p2 = H.project(stack, name)
        # the three reads are not one snapshot: a restart's task row is committed just
        # before the state that launches it, so a run not yet ended means "not at rest"
        if p1["state"] == state and p1 == p2 and all(
                t["state"] not in ("pending", "running") for t in tasks):
            return p1, tasks
        return None
    return read


def test_restart_always_restarts_after_success(stack, projects):
    name, marker, res = _deploy_svc(stack, projects, "exit", 0, "0.3", restart="always")
    got = H.poll(lambda: (lambda pt: pt if pt and len(pt[1]) >= 2 else None)(
        _settled_project(stack, name, "backoff")()), 30)
    assert got, H.project_tasks(stack, name)
    p, tasks = got
    # every run ended 0, and each but the first was an automatic restart
    assert [(t["state"], t["exit_code"]) for t in tasks] == [("completed", 0)] * len(tasks), tasks
    assert p["restarts"] == len(tasks) - 1, (p, tasks)


def test_restart_no_and_on_failure_after_success_do_not_restart(stack, projects):
    n1, _, r1 = _deploy_svc(stack, projects, "exit", 3, restart="no")
    n2, _, r2 = _deploy_svc(stack, projects, "exit", 0, restart="on-failure")
    # exit 3 with restart "no" is failed; exit 0 under on-failure is stopped
    want = {n1: ("failed", "exited with code 3"), n2: ("stopped", "exited with code 0")}
    for name, task, code, tstate in ((n1, r1["task"]["id"], 3, "failed"),
                                     (n2, r2["task"]["id"], 0, "completed")):
        row = H.poll(lambda: (lambda t: t if t and t["completed_at"] else None)(
            H.task_row(stack, task)), 20)
        assert row, H.task_row(stack, task)
        assert (row["state"], row["exit_code"], row["signal"]) == (tstate, code, None), row
        p = H.wait_project(stack, name, lambda q: q["state"] != "running"
                           and q["state"] != "starting", 20, "the end handled")
        assert (p["state"], p["state_reason"], p["restarts"], p["backoff_until"]) == (
            want[name][0], want[name][1], 0, None), p
    # a restart would have come within one backoff (a fast failure) or the
    # one-second throttle (a longer run) after the end: none may come
    window = max(BACKOFF_MS, 1000) / 1000 + 0.5
    H.stays(lambda: all(len(H.project_tasks(stack, n)) == 1 and H.project(stack, n)["state"]
                        == want[n][0] for n in (n1, n2)), window, "no restart after the end")
    for name in (n1, n2):
        assert H.project(stack, name)["restarts"] == 0


# ---------------------------------------------------------------------------
# Logs


def _wait_task_done(stack, task, timeout=30):
    row = H.poll(lambda: (lambda t: t if t and t["completed_at"] else None)(
        H.task_row(stack, task)), timeout)
    assert row, "task %s did not end: %s" % (task, H.task_row(stack, task))
    return row


@pytest.fixture(scope="module")
def two_runs(stack):
    """A project whose two runs printed STDOUT_BIN/STDERR_BIN and exited 3."""
    reg = H.Projects(stack)
    sha, _ = _artifact(stack)
    name = reg.add(H.new_name("logs"))
    res = H.deploy_ok(stack, H.svc_spec(name, "logs", H.new_marker(), 3, artifact=sha,
                                        restart="no"))
    t1 = res["task"]["id"]
    row1 = _wait_task_done(stack, t1)
    H.wait_clock_past(row1["completed_at"])  # t1 end < since < t2 start, in milliseconds
    since = int(time.time() * 1000)
    H.wait_clock_past(since)
    r = H.control(stack, name, "start")
    assert r.status == 202, r
    t2 = H.poll(lambda: next((t["id"] for t in H.project_tasks(stack, name) if t["id"] != t1),
                             None), 20)
    assert t2, "start created no run"
    row2 = _wait_task_done(stack, t2)
    yield {"name": name, "sha": sha, "tasks": [t1, t2], "rows": [row1, row2], "since": since}
    reg.cleanup()


def _expected(task):
    head = b"task=%s\n" % task.encode()
    return head + A.STDOUT_BIN, head + A.STDERR_BIN


@pytest.mark.parametrize("fmt", ["tar", "tar.gz", "zip"])
def test_logs_bundle_byte_exact_with_manifest(stack, two_runs, fmt):
    r = H.logs_archive(stack, two_runs["name"], None if fmt == "tar" else fmt)
    assert r.status == 200, r
    magic = {"tar": None, "tar.gz": b"\x1f\x8b", "zip": b"PK\x03\x04"}[fmt]
    if magic:
        assert r.body[:len(magic)] == magic, r.body[:16]
    else:
        assert r.body[257:262] == b"ustar", "not a tar"
    assert "x-accel-redirect" not in r.headers
    members = H.archive_members(r.body, fmt)
    runs = H.runs_in(members)
    for task in two_runs["tasks"]:
        assert task in runs, "run %s missing; members: %s" % (task, sorted(members))
        out, err = _expected(task)
        assert runs[task].get("stdout") == out, "stdout of %s differs" % task
        assert runs[task].get("stderr") == err, "stderr of %s differs" % task
    man = H.manifest_in(members)
    assert man, "no manifest.json in %s" % sorted(members)
    text = json.dumps(man)
    assert two_runs["sha"] in text, "manifest lacks the artifact digest"
    assert "command" in text, "manifest lacks the spec"
    mruns = _manifest_runs(man)
    for task in two_runs["tasks"]:
        assert task in mruns, mruns
        assert mruns[task].get("exit_code") == 3, mruns[task]
        # a document for people: times as the API writes them
        for k in ("created_at", "started_at", "ended_at"):
            assert RFC3339_MS.match(mruns[task][k]), (k, mruns[task][k])
    assert RFC3339_MS.match(man["generated_at"]), man["generated_at"]
    raw = next(d for p, d in members.items() if p.split("/")[-1] == "manifest.json")
    assert b"\\/" not in raw and b"./bin/svc.sh" in raw, raw[:400]


def _manifest_runs(man):
    runs = man.get("runs") or []
    if isinstance(runs, dict):
        return runs
    return {r.get("task_id") or r.get("id") or r.get("task"): r for r in runs}


def test_logs_bundle_task_and_since_filters(stack, two_runs):
    t1, t2 = two_runs["tasks"]
    r = H.logs_archive(stack, two_runs["name"], task=t1)
    assert r.status == 200, r
    runs = H.runs_in(H.archive_members(r.body, "tar"))
    assert set(runs) == {t1}, sorted(runs)
    assert runs[t1]["stdout"] == _expected(t1)[0]
    r = H.logs_archive(stack, two_runs["name"], since=_rfc3339(two_runs["since"]))
    assert r.status == 200, r
    runs = H.runs_in(H.archive_members(r.body, "tar"))
    assert set(runs) == {t2}, sorted(runs)
    r = H.logs_archive(stack, two_runs["name"], task="00000000-0000-4000-8000-000000000000")
    assert r.status == 422 and r.error["type"] == "validation_error", r
    assert r.error["detail"].startswith("task: "), r
    r = H.logs_archive(stack, two_runs["name"], "rar")
    assert r.status == 422, r


def test_logs_tail(stack, projects):
    name, marker, res = _deploy_svc(stack, projects, "lines", 200, restart="no")
    _wait_task_done(stack, res["task"]["id"])
    r = H.get(stack, "/api/v1/projects/%s/logs/stdout?tail=10" % name)
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("text/plain"), r.headers
    assert r.body == b"".join(b"line %d\n" % i for i in range(191, 201)), r.body
    r = H.get(stack, "/api/v1/projects/%s/logs/stdout" % name)
    assert r.body == b"".join(b"line %d\n" % i for i in range(1, 201)), r.body[-200:]
    r = H.get(stack, "/api/v1/projects/%s/logs/stderr?tail=5" % name)
    assert r.status == 200 and r.body == b"", r
    r = H.get(stack, "/api/v1/projects/%s/logs/stdout?tail=-1" % name)
    assert r.status == 422 and r.error["detail"].startswith("tail: "), r
    # every captured line has its time: stdout.idx is "<offset> <ms>" per line
    jd = H.job_dir(stack, res["task"]["id"])
    with open(os.path.join(jd, "stdout.log"), "rb") as f:
        log = f.read()
    with open(os.path.join(jd, "stdout.idx")) as f:
        idx = [tuple(int(x) for x in line.split()) for line in f]
    starts = [0] + [i + 1 for i, c in enumerate(log) if c == 0x0A][:-1]
    assert [o for o, _ in idx] == starts, (idx[:5], starts[:5])
    row = H.task_row(stack, res["task"]["id"])
    times = [ms for _, ms in idx]
    assert times == sorted(times)
    assert row["started_at"] - 1000 <= times[0] and times[-1] <= row["completed_at"] + 1000, (
        times[0], times[-1], row)


def test_logs_follow_streams_and_ends_with_the_process(stack, projects):
    name, marker, res = _deploy_svc(stack, projects, "lines", 30, "0.1", restart="no")
    H.wait_running(stack, name, res["task"]["id"])
    first = []

    def on_chunk(body):
        if not first and b"line " in body:
            first.append(time.monotonic())

    t0 = time.monotonic()
    status, headers, body, ended = H.follow(
        stack, "/api/v1/projects/%s/logs/stdout?follow=true" % name, timeout=40,
        on_chunk=on_chunk)
    t_end = time.monotonic()
    assert status == 200, body
    assert headers.get("content-type", "").startswith("text/plain"), headers
    assert ended, "the stream did not end when the process ended"
    assert body.endswith(b"line 30\n"), body[-200:]
    nums = [int(x.split()[1]) for x in body.decode().splitlines()]
    assert nums == list(range(nums[0], 31)), nums
    # lines came while the process ran (3 s of output), not all at the end
    assert first and t_end - first[0] >= 1.0, (first, t0, t_end)
    # and the stream closed soon after the process ended
    _wait_task_done(stack, res["task"]["id"])
    assert t_end - t0 < 30


# One write of svc.sh flood: 256 KiB of base64 in lines of 4095, 65 newlines.
FLOOD_CHUNK = 4 * 3 * 1024 * 64 // 3 + 65


def test_log_cap_bounds_disk_and_counts_dropped(fresh_stack):
    stack = fresh_stack(config={"log_max_bytes": "4m", "log_segment_bytes": "1m"})
    projects = H.Projects(stack)
    name, marker, res = _deploy_svc(stack, projects, "flood", restart="no")
    task = res["task"]["id"]
    jd = H.job_dir(stack, task)
    H.wait_running(stack, name, task)
    js = _job_spec(stack, task)
    cap, seg = js["log_max_bytes"], js["log_segment_bytes"]
    state = H.poll(lambda: (lambda s: s if s and s["stdout"]["dropped"] > 0 else None)(
        H.read_json_file(os.path.join(jd, "logstate.json"))), 180, 0.2)
    assert state, "nothing dropped: %s" % H.read_json_file(os.path.join(jd, "logstate.json"))
    # keep writing a little longer: the bound must hold while it goes on
    t_end = time.monotonic() + 2
    worst = 0
    while time.monotonic() < t_end:
        worst = max(worst, sum(H.list_files(jd).values()))
        time.sleep(0.1)
    r = H.control(stack, name, "stop")
    assert r.status == 202, r
    assert H.wait_gone(marker, 20)
    # the run is over (exit.json), and its compressions have finished
    assert H.poll(lambda: os.path.exists(os.path.join(jd, "exit.json")), 20)
    def shim_tmp():  # (output/ is the job's own: its written.tmp is not ours to judge)
        return [f for f in H.list_files(jd) if f.endswith(".tmp") and not f.startswith("output/")]
    H.poll(lambda: not shim_tmp(), 10)
    final = H.read_json_file(os.path.join(jd, "logstate.json"))
    worst = max(worst, sum(H.list_files(jd).values()))
    problems = []
    left = shim_tmp()
    if left:
        problems.append("temporary files left 10 s after the run ended: %s" % left)
    if worst > cap + 3 * seg + (1 << 20):
        problems.append(
            "job dir held up to %d bytes with log_max_bytes %d, log_segment_bytes %d; at the"
            " end: %s" % (worst, cap, seg, H.list_files(jd)))
    st = final["stdout"]
    if not (st["dropped"] > 0 and st["bytes"] + st["dropped"] > cap):
        problems.append("logstate at the end: %s" % final)
    # "bytes" is everything captured (kept or dropped), so every byte the
    # job wrote: "written" is updated after each chunk, so the stop may have
    # caught one more chunk (at most FLOOD_CHUNK bytes) on its way
    with open(os.path.join(jd, "output", "written")) as f:
        written = int(f.read())
    if not (0 <= st["bytes"] - written <= FLOOD_CHUNK and 0 < st["dropped"] < st["bytes"]):
        problems.append("logstate says bytes %d, dropped %d, but the job wrote %d bytes in all"
                        % (st["bytes"], st["dropped"], written))
    if not any(x.endswith(".gz") for x in st["segments"]):
        problems.append("no compressed segment kept: %s" % st["segments"])
    for x in st["segments"]:
        if not os.path.exists(os.path.join(jd, x)):
            problems.append("logstate names %s, which does not exist" % x)
        elif x != "stdout.log":
            # rotation happens at line boundaries
            with open(os.path.join(jd, x), "rb") as f:
                seg = f.read()
            if x.endswith(".gz"):
                seg = gzip.decompress(seg)
            if not seg.endswith(b"\n"):
                problems.append("segment %s does not end at a line boundary" % x)
    assert not problems, "\n".join(problems)


def test_agent_logs_tar(stack):
    r = H.get(stack, "/api/v1/agent/logs", timeout=150)
    assert r.status == 200, r
    members = H.archive_members(r.body, "tar")
    logs = [m for m in members if m.endswith(".log")]
    assert logs, sorted(members)
    assert any(members[m] for m in logs), "every agent log is empty"


# ---------------------------------------------------------------------------
# DELETE


def _pids_from(stack, task, names, timeout=10):
    """The pids the tree service wrote, once each has exec'd its marked sh
    (and, for "sid", has become a session leader: the pid file is written
    right after the fork, before setsid runs)."""
    out = {}
    d = os.path.join(H.job_dir(stack, task), "output")
    for n in names:
        p = os.path.join(d, n + ".pid")
        assert H.poll(lambda: os.path.exists(p) and open(p).read().strip(), timeout), p
        out[n] = pid = int(open(p).read())
        assert H.poll(lambda: ("-" + n).encode() in _cmdline(pid), timeout), _cmdline(pid)
        if n == "sid":
            assert H.poll(lambda: (H.proc_stat(pid) or {}).get("session") == pid, timeout)
    return out


def test_delete_kills_the_whole_tree(stack, projects):
    mode = H.kill_mode(stack)
    assert mode, "neither GET / nor /health says which kill mode is in use"
    name, marker, res = _deploy_svc(stack, projects, "tree")
    task = res["task"]["id"]
    p = H.wait_running(stack, name, task)
    kids = _pids_from(stack, task, ("gc1", "gc2", "sid"))
    for k, pid in kids.items():
        assert H.pid_alive(pid), k
    assert H.proc_stat(kids["gc1"])["pgrp"] == p["pid"]
    t0 = time.monotonic()
    r = H.delete(stack, name)
    assert r.status == 202, r
    assert H.wait_gone([p["pid"], kids["gc1"], kids["gc2"]], 15), H.procs_with(marker)
    if "cgroup" in mode:
        assert H.wait_gone(marker, 10), "left running: %s" % H.procs_with(marker)
    else:
        # process-group mode (documented): a child that left with setsid is
        # out of reach of a group kill. Nothing else may be left.
        left = [c for pid, c in H.procs_with(marker) if pid != kids["sid"]]
        assert not left, left
    assert time.monotonic() - t0 < 12


def test_delete_in_process_group_mode(fresh_stack):
    """cgroup = off: the documented fallback. The group (the job and its
    grandchildren) is killed; a child that called setsid escapes, as
    docs/runner-operations.md says."""
    stack = fresh_stack(config={"cgroup": "off"})
    projects = H.Projects(stack)
    mode = H.kill_mode(stack)
    assert mode == "process-group", mode
    name, marker, res = _deploy_svc(stack, projects, "tree")
    task = res["task"]["id"]
    p = H.wait_running(stack, name, task)
    kids = _pids_from(stack, task, ("gc1", "gc2", "sid"))
    try:
        r = H.delete(stack, name)
        assert r.status == 202, r
        assert H.wait_gone([p["pid"], kids["gc1"], kids["gc2"]], 15), H.procs_with(marker)
        left = [c for pid, c in H.procs_with(marker) if pid != kids["sid"]]
        assert not left, left
        assert H.pid_alive(kids["sid"]), "documented: a setsid child escapes a group kill"
    finally:
        if H.pid_alive(kids["sid"]):
            os.kill(kids["sid"], signal.SIGKILL)
        projects.cleanup()


def test_delete_stubborn_tree_escalates_to_sigkill(stack, projects):
    name, marker, res = _deploy_svc(stack, projects, "stubborn", stop_timeout=1)
    H.wait_running(stack, name, res["task"]["id"])
    H.wait_ignoring_term(marker)
    r = H.delete(stack, name)
    assert r.status == 202, r
    assert H.wait_gone(marker, 15), H.procs_with(marker)


def test_delete_keeps_files_and_purge_removes_releases_and_logs(stack, projects):
    n1, m1, r1 = _deploy_svc(stack, projects, "idle")
    n2, m2, r2 = _deploy_svc(stack, projects, "idle")
    H.wait_running(stack, n1, r1["task"]["id"])
    H.wait_running(stack, n2, r2["task"]["id"])
    rel1 = os.path.join(stack.data_dir, "releases", n1)
    rel2 = os.path.join(stack.data_dir, "releases", n2)
    assert os.path.isdir(rel1) and os.path.isdir(rel2)
    assert H.delete(stack, n1).status == 202
    assert H.delete(stack, n2, purge=True).status == 202
    assert H.wait_gone(m1, 15) and H.wait_gone(m2, 15)
    assert H.poll(lambda: not os.path.exists(rel2), 15), os.listdir(rel2)
    assert H.poll(lambda: not os.path.exists(H.job_dir(stack, r2["task"]["id"])), 15)
    assert os.path.isdir(rel1), "DELETE without purge removed the releases"
    assert os.path.isdir(H.job_dir(stack, r1["task"]["id"]))
    assert H.poll(lambda: H.project(stack, n2) is None, 10), H.project(stack, n2)
    assert H.get(stack, "/api/v1/projects/%s/logs" % n2).status == 404


# ---------------------------------------------------------------------------
# Invalid specs: 422 naming the field (409 for a held port), and nothing changes


@pytest.fixture(scope="module")
def good_sha(stack):
    return _artifact(stack, "invalid-specs")[0]


@pytest.mark.parametrize("case,field", [
    ({"command": []}, "command"),
    ({"command": [""]}, "command"),
    ({"command": "./bin/svc.sh"}, "command"),
    ({"name": "Bad_Name!"}, "name"),
    ({"name": "-leading-dash"}, "name"),
    ({"name": "x" * 64}, "name"),
    ({"comand": ["./x"]}, "comand"),
    ({"ports": ["http", "http"]}, "ports"),
    ({"ports": [{"name": "a", "port": 25001}, {"name": "a", "port": 25002}]}, "ports"),
    ({"restart": "sometimes"}, "restart"),
    ({"workdir": "../etc"}, "workdir"),
    ({"env": {"HOSTAGENT_TASK_ID": "x"}}, "env"),
    ({"stop_signal": "NOPE"}, "stop_signal"),
    ({"user": "root-but-not-allowed"}, "user"),
    ({"artifact": "0" * 63}, "artifact"),
    ({"health": {"command": ["./check"], "interval": 0}}, "spec.health.interval"),
    ({"health": {"command": ["./check"], "start_period": -1}}, "spec.health.start_period"),
    ({"health": {"tcp": "nope"}}, "spec.health.tcp"),
    ({"hooks": {"pre_start": "./migrate"}}, "spec.hooks.pre_start"),
    ({"hooks": {"pre_stop": ["./x"]}}, "spec.hooks.pre_stop"),
    ({"hooks": {"post_stop": ["./x"], "timeout": 0}}, "spec.hooks.timeout"),
    # valid, but not acted on by this version: refused, never stored and ignored
    ({"control": "messages"}, "spec.control"),
])
def test_invalid_spec_is_422_naming_the_field(stack, good_sha, case, field):
    name = H.new_name("bad")
    spec = {"name": name, "artifact": good_sha, "command": ["./bin/svc.sh", "idle", "x"]}
    spec.update(case)
    if "comand" in case:
        del spec["command"]
    r = H.deploy(stack, spec)
    assert r.status == 422, r
    assert r.error.get("type") == "validation_error", r
    assert field in r.error.get("detail", ""), r
    if field != "name":
        assert H.project(stack, name) is None
    assert H.db(stack, "SELECT count(*) FROM releases WHERE project = ?", (spec["name"],)) == [(0,)]


def test_invalid_multipart_spec_is_422(stack):
    data = A.project_archive("tar.gz", version=H.new_marker())
    before = H.storage_snapshot(stack)
    r = H.deploy(stack, {"name": H.new_name(), "command": [], "ports": ["http"]}, artifact=data)
    assert r.status == 422, r
    assert "command" in r.error.get("detail", ""), r
    # a rejected deploy keeps nothing, not even the artifact it carried
    assert H.wait_storage_back_to(stack, before) == before


def test_malformed_and_unknown_artifact(stack):
    r = H.post(stack, "/api/v1/projects", b"{not json", headers={"Content-Type": "application/json"})
    assert r.status == 400, r
    r = H.deploy(stack, {"name": H.new_name(), "artifact": "ab" * 32, "command": ["./x"]})
    assert r.status == 422 and r.error["type"] == "validation_error", r
    assert r.error["detail"].startswith("spec.artifact: unknown artifact " + "ab" * 32), r
    r = H.post(stack, "/api/v1/projects", b"x" * ((1 << 20) + 100),
               headers={"Content-Type": "application/json"})
    assert r.status == 413, r


def test_fixed_port_held_by_another_project_is_409(stack, projects, good_sha):
    a = projects.add(H.new_name("pa"))
    ma = H.new_marker()
    projects.markers.append(ma)
    ra = H.deploy_ok(stack, H.svc_spec(a, "idle", ma, artifact=good_sha, ports=["http"]))
    pa = H.wait_running(stack, a, ra["task"]["id"])
    held = H.ports_of(pa)["http"]
    b = H.new_name("pb")
    r = H.deploy(stack, H.svc_spec(b, "idle", H.new_marker(), artifact=good_sha,
                                   ports=[{"name": "web", "port": held}]))
    assert r.status == 409, r
    assert r.error.get("type") == "conflict", r
    assert "port" in r.error.get("detail", ""), r
    assert H.project(stack, b) is None
    # a fixed port held by a fixed port (one that nobody holds yet first)
    c = projects.add(H.new_name("pc"))
    taken = {r[0] for r in H.db(stack, "SELECT port FROM ports")}
    fixed = next(q for q in range(held + 7, held + 1000) if q not in taken)
    rc = H.deploy(stack, H.svc_spec(c, "idle", H.new_marker(), artifact=good_sha,
                                    ports={"admin": fixed}))
    assert rc.status == 202, rc
    d = H.new_name("pd")
    r = H.deploy(stack, H.svc_spec(d, "idle", H.new_marker(), artifact=good_sha,
                                   ports={"admin": fixed}))
    assert r.status == 409 and r.error["type"] == "conflict", r
    assert "port %d is held by project '%s'" % (fixed, c) in r.error["detail"], r
    assert H.project(stack, d) is None
