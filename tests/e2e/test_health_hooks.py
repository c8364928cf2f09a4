# SPDX-License-Identifier: MIT
"""Health checks and hooks end to end (docs/api.md, "Health checks", "Hooks"):
command, TCP and HTTP checks run by the job's shim; starting until the first
pass, unhealthy after `retries` failures in a row and then restarted under
the restart policy; start_period; a hanging check killed at its timeout;
pre_start before every start (a failing or timed-out one fails that start,
with its output as the reason), post_stop after every end, and the hooks'
output in the run's logs."""

import os

import projects_helpers as H
from projects_helpers import projects  # noqa: F401  (fixture)


def _deploy(stack, projects, mode, *args, **fields):
    return H.deploy_svc(stack, projects, mode, *args, prefix="hh", **fields)


def _health(stack, name):
    return (H.project(stack, name) or {}).get("health") or {}


def _wait_health(stack, name, pred, timeout=20, what="health"):
    return H.poll(lambda: (lambda h: h if pred(h) else None)(_health(stack, name)), timeout) \
        or _health(stack, name)


def test_command_check_starting_then_running(stack, projects):
    # the check passes only once the service has written its env dump
    check = ["sh", "-c", 'test -s "$HOSTAGENT_OUTPUT_DIR/env.bin" && echo "ok as $(id -u)"']
    # start_period: a slow machine may take a while to write the dump
    name, marker, res = _deploy(stack, projects, "idle",
                                health={"command": check, "interval": 0.3, "retries": 2,
                                        "start_period": 60})
    task = res["task"]["id"]
    p = H.wait_running(stack, name, task)
    h = p["health"]
    assert h["status"] == "healthy" and h["failures"] == 0, h
    last = h["last"]
    assert last["ok"] is True and last["code"] == 0, last
    # it ran as the job's user, with the job's environment
    uid = H.proc_uids(p["pid"])[0]
    assert last["output"] == "ok as %d" % uid, last
    assert last["at"].endswith("Z") and last["duration_ms"] >= 0, last
    # checks go on: the count grows
    n = h["checks"]
    assert _wait_health(stack, name, lambda x: x.get("checks", 0) > n + 1)["checks"] > n + 1
    # a project without a check says so
    n2, _, r2 = _deploy(stack, projects, "idle")
    assert H.wait_running(stack, n2, r2["task"]["id"])["health"] is None


def test_starting_until_the_first_pass(stack, projects):
    # fails until a file appears; start_period keeps those failures from counting
    flag = os.path.join(stack.data_dir, "tmp", H.new_marker("flag"))
    name, _, res = _deploy(stack, projects, "idle",
                           health={"command": ["test", "-e", flag], "interval": 0.2,
                                   "retries": 1, "start_period": 60})
    H.wait_started(stack, res["task"]["id"])
    h = _wait_health(stack, name, lambda x: x.get("checks", 0) >= 3)
    assert h["checks"] >= 3 and h["status"] == "starting" and h["failures"] == 0, h
    assert H.project(stack, name)["state"] == "starting"
    open(flag, "w").close()
    try:
        p = H.wait_running(stack, name, res["task"]["id"])
        assert p["health"]["status"] == "healthy" and p["restarts"] == 0, p
    finally:
        os.unlink(flag)


def test_unhealthy_is_restarted_under_the_policy(stack, projects):
    name, marker, res = _deploy(stack, projects, "idle", restart="on-failure",
                                health={"command": ["sh", "-c", "echo not ready; exit 3"],
                                        "interval": 0.2, "retries": 2})
    t1 = res["task"]["id"]
    H.wait_started(stack, t1)
    p = H.wait_project(stack, name, lambda q: q["restarts"] >= 1, 30, "a restart")
    row = H.poll(lambda: (lambda t: t if t and t["completed_at"] else None)(H.task_row(stack, t1)),
                 20)
    assert row["state"] == "failed", row
    assert "unhealthy: 2 health checks failed in a row" in row["reason"], row
    assert "not ready" in row["reason"], row
    events = [t for t, _ in H.project_events(stack, name)]
    assert "project.unhealthy" in events, events
    assert p["task_id"] != t1


def test_unhealthy_without_restart_keeps_running(stack, projects):
    name, marker, res = _deploy(stack, projects, "idle", restart="no",
                                health={"command": ["false"], "interval": 0.2, "retries": 2})
    p0 = H.wait_project(stack, name, lambda q: q["state"] == "unhealthy", 20, "unhealthy")
    assert "2 health checks failed" in p0["state_reason"], p0
    assert p0["health"]["status"] == "unhealthy" and p0["health"]["failures"] >= 2, p0
    assert p0["health"]["last"]["code"] == 1, p0
    # nobody restarts it: the same run stays up, still checked
    n = p0["health"]["checks"]
    h = _wait_health(stack, name, lambda x: x.get("checks", 0) >= n + 2)
    p = H.project(stack, name)
    assert p["state"] == "unhealthy" and p["task_id"] == res["task"]["id"], p
    assert H.pid_alive(p["pid"]) and p["restarts"] == 0 and h["failures"] >= n + 1


def test_a_hanging_check_is_killed_at_its_timeout(stack, projects):
    m = H.new_marker("hang")
    name, _, res = _deploy(stack, projects, "idle", restart="no",
                           health={"command": ["sh", "-c", "echo waiting; sleep 300; : " + m],
                                   "interval": 0.2, "timeout": 0.5, "retries": 1})
    H.wait_project(stack, name, lambda q: q["state"] == "unhealthy", 20, "unhealthy")
    last = _health(stack, name)["last"]
    assert last["ok"] is False and "timed out after 500 ms" in last["output"], last
    assert "waiting" in last["output"] and 400 <= last["duration_ms"] < 5000, last
    # the sleep of every timed-out run is gone (one may be running right now)
    assert H.poll(lambda: len(H.procs_with(m)) <= 1, 5), H.procs_with(m)


def test_tcp_and_http_checks(stack, projects):
    # python may take a while to bind: start_period keeps those failures from counting
    name, _, res = _deploy(stack, projects, "http", ports=["http"],
                           health={"http": "/VERSION", "port": "http", "interval": 0.3,
                                   "start_period": 60})
    p = H.wait_running(stack, name, res["task"]["id"])
    assert p["health"]["last"]["code"] == 200 and "HTTP/1.0 200" in p["health"]["last"]["output"]
    n2, _, r2 = _deploy(stack, projects, "http", ports=["http"],
                        health={"tcp": "http", "interval": 0.3, "start_period": 60})
    p2 = H.wait_running(stack, n2, r2["task"]["id"])
    assert p2["health"]["last"]["ok"] and "connected" in p2["health"]["last"]["output"], p2
    # a path the server does not have, and a port nobody listens on
    n3, _, _ = _deploy(stack, projects, "http", ports=["http"], restart="no",
                       health={"http": "/missing", "port": "http", "interval": 0.2, "retries": 2})
    p3 = H.wait_project(stack, n3, lambda q: q["state"] == "unhealthy" and
                        ((q.get("health") or {}).get("last") or {}).get("code") == 404, 30,
                        "unhealthy with a 404")
    assert not p3["health"]["last"]["ok"] and "404" in p3["health"]["last"]["output"], p3
    n4, _, _ = _deploy(stack, projects, "idle", ports=["http"], restart="no",
                       health={"tcp": "http", "interval": 0.2, "retries": 2})
    p4 = H.wait_project(stack, n4, lambda q: q["state"] == "unhealthy", 20, "unhealthy")
    assert "refused" in p4["health"]["last"]["output"], p4


def test_pre_start_runs_before_every_start(stack, projects):
    hook = ["sh", "-c", 'echo "migrating $HOSTAGENT_TASK_ID in $(pwd)"; '
                        'echo done >"$HOSTAGENT_OUTPUT_DIR/migrated"']
    name, marker, res = _deploy(stack, projects, "idle", hooks={"pre_start": hook})
    t1 = res["task"]["id"]
    H.wait_running(stack, name, t1)
    out = os.path.join(H.job_dir(stack, t1), "output", "migrated")
    assert os.path.exists(out)
    H.wait_started(stack, t1)
    log = open(os.path.join(H.job_dir(stack, t1), "stdout.log")).read()
    # the hook ran first, in the release directory, and its output is the run's
    assert log.index("migrating " + t1) < log.index("started " + t1), log
    assert "/releases/%s/" % name in log, log
    assert H.control(stack, name, "restart").status == 202
    p = H.wait_project(stack, name, lambda q: q["state"] == "running" and q["task_id"] != t1,
                       30, "running again")
    assert os.path.exists(os.path.join(H.job_dir(stack, p["task_id"]), "output", "migrated"))


def test_failing_pre_start_fails_the_start(stack, projects):
    hook = ["sh", "-c", "echo 'migration 7 failed: no such table' >&2; exit 4"]
    name, marker, res = _deploy(stack, projects, "idle", restart="on-failure",
                                hooks={"pre_start": hook})
    t1 = res["task"]["id"]
    row = H.poll(lambda: (lambda t: t if t and t["completed_at"] else None)(H.task_row(stack, t1)),
                 20)
    assert row["state"] == "failed", row
    assert "pre_start exited with code 4: migration 7 failed: no such table" in row["reason"], row
    # the restart policy and its backoff apply; the service itself never ran
    p = H.wait_project(stack, name, lambda q: q["restarts"] >= 1 and q["task_id"] != t1, 20,
                       "a second attempt")
    t2 = H.poll(lambda: (lambda t: t if t and t["completed_at"] else None)(
        H.task_row(stack, p["task_id"])), 20)
    assert t2["state"] == "failed" and "pre_start exited with code 4" in t2["reason"], t2
    assert not H.procs_with(marker), H.procs_with(marker)
    err = open(os.path.join(H.job_dir(stack, t1), "stderr.log")).read()
    assert "no such table" in err, err


def test_pre_start_timeout_and_stop_during_pre_start(stack, projects):
    m = H.new_marker("pre")
    name, marker, res = _deploy(stack, projects, "idle", restart="no",
                                hooks={"pre_start": ["sh", "-c", "sleep 300; : " + m],
                                       "timeout": 1})
    t1 = res["task"]["id"]
    row = H.poll(lambda: (lambda t: t if t and t["completed_at"] else None)(H.task_row(stack, t1)),
                 20)
    assert "pre_start timed out after 1 s" in row["reason"], row
    assert H.wait_gone(m, 5)
    # a stop while pre_start runs ends it at once, and nothing starts
    m2 = H.new_marker("pre")
    n2, mk2, r2 = _deploy(stack, projects, "idle",
                          hooks={"pre_start": ["sh", "-c", "sleep 300; : " + m2]})
    assert H.poll(lambda: H.procs_with(m2), 10)
    assert H.project(stack, n2)["state"] == "starting"
    assert H.control(stack, n2, "stop").status == 202
    p = H.wait_project(stack, n2, lambda q: q["state"] == "stopped", 20, "stopped")
    assert H.wait_gone(m2, 5) and not H.procs_with(mk2)
    row = H.task_row(stack, r2["task"]["id"])
    assert row["state"] == "cancelled" and "pre_start" in row["reason"], row
    assert p["pid"] is None


def test_post_stop_runs_after_every_end_and_is_in_the_bundle(stack, projects):
    hook = ["sh", "-c", 'echo "cleaning up after $HOSTAGENT_TASK_ID"; '
                        'touch "$HOSTAGENT_OUTPUT_DIR/cleaned"']
    name, marker, res = _deploy(stack, projects, "idle", hooks={"post_stop": hook})
    t1 = res["task"]["id"]
    H.wait_started(stack, t1)
    assert H.control(stack, name, "stop").status == 202
    H.wait_project(stack, name, lambda q: q["state"] == "stopped", 20, "stopped")
    assert os.path.exists(os.path.join(H.job_dir(stack, t1), "output", "cleaned"))
    r = H.logs_archive(stack, name)
    assert r.status == 200, r
    runs = H.runs_in(H.archive_members(r.body, "tar"))
    assert b"cleaning up after " + t1.encode() in runs[t1]["stdout"], runs[t1]
    # the run's own end is what it was: stopped by request
    assert H.task_row(stack, t1)["state"] == "cancelled"


def test_post_stop_after_a_crash_and_a_failing_post_stop(stack, projects):
    hook = ["sh", "-c", 'touch "$HOSTAGENT_OUTPUT_DIR/cleaned"; echo "cannot clean" >&2; exit 2']
    name, marker, res = _deploy(stack, projects, "exit", 3, restart="no",
                                hooks={"post_stop": hook})
    t1 = res["task"]["id"]
    row = H.poll(lambda: (lambda t: t if t and t["completed_at"] else None)(H.task_row(stack, t1)),
                 20)
    # the run's own end, with the hook's failure noted
    assert row["state"] == "failed" and row["exit_code"] == 3, row
    assert "post_stop exited with code 2: cannot clean" in row["reason"], row
    assert os.path.exists(os.path.join(H.job_dir(stack, t1), "output", "cleaned"))


def test_signal_reaches_an_unhealthy_project(stack, projects):
    name, marker, res = _deploy(stack, projects, "idle", restart="no",
                                health={"command": ["false"], "interval": 0.2, "retries": 1})
    H.wait_started(stack, res["task"]["id"])
    H.wait_project(stack, name, lambda q: q["state"] == "unhealthy", 20, "unhealthy")
    r = H.control(stack, name, "signal", {"signal": "HUP"})
    assert r.status == 202, r
    log = os.path.join(H.job_dir(stack, res["task"]["id"]), "stdout.log")
    assert H.poll(lambda: "got HUP" in open(log).read(), 10)
    # the check's own process group gets no signal meant for the job: still one failure a run
    assert _health(stack, name)["last"]["code"] == 1


def test_checks_go_on_after_a_runner_restart(fresh_stack):
    """kill -9 of the runner while a project is healthy: the new runner
    supervises its checks again, so a check that starts failing makes it
    unhealthy; one that was unhealthy when the runner died stays so."""
    stack = fresh_stack()
    reg = H.Projects(stack)
    try:
        flag = os.path.join(stack.data_dir, "tmp", H.new_marker("flag"))
        open(flag, "w").close()
        name, _, res = _deploy(stack, reg, "idle", restart="no",
                               health={"command": ["test", "-e", flag], "interval": 0.2,
                                       "retries": 2})
        n2, _, r2 = _deploy(stack, reg, "idle", restart="no",
                            health={"command": ["false"], "interval": 0.2, "retries": 1})
        p = H.wait_running(stack, name, res["task"]["id"])
        H.wait_project(stack, n2, lambda q: q["state"] == "unhealthy", 20, "unhealthy")
        stack.kill_runner()
        stack.start_runner()
        n = H.poll(lambda: _health(stack, name).get("checks"), 10)
        # results are recorded again, by the new runner
        assert _wait_health(stack, name, lambda x: x.get("checks", 0) > n + 2)["checks"] > n + 2
        assert H.project(stack, name)["state"] == "running"
        assert H.project(stack, n2)["state"] == "unhealthy"
        os.unlink(flag)
        q = H.wait_project(stack, name, lambda x: x["state"] == "unhealthy", 20, "unhealthy")
        assert q["pid"] == p["pid"] and q["task_id"] == res["task"]["id"], q
    finally:
        reg.cleanup()
