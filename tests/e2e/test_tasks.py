# SPDX-License-Identifier: MIT
"""Queued tasks end to end (docs/api.md, Tasks): created for a project, claimed
by this host's slots in priority order and never more than the slots, run
through the same shim as a project's run, ended honestly (completed, failed,
timeout, cancelled), chained with `after`, listed with filters, and refused
with 422/409 where they should be. What this version does not run yet
(external workers) is refused, never accepted. An artifact's task runs in a
tree extracted once per artifact and shared. A failed run
is retried with a doubling backoff while `retries` last, every attempt kept."""

import json
import os

import archives as A
import projects_helpers as H
from projects_helpers import projects  # noqa: F401  (fixture)

TERMINAL = ("completed", "failed", "timeout", "cancelled")


def _project(stack, projects):
    """A deployed project that runs nothing itself: its release is what tasks run."""
    sha = H.upload_ok(stack, A.project_archive("tar.gz", version=H.new_marker("v")))
    name = projects.add(H.new_name("tq"), None)
    H.deploy_ok(stack, dict(H.svc_spec(name, "idle", "none", artifact=sha), start=False))
    H.wait_project(stack, name, lambda p: (p.get("release") or {}).get("state") == "ready", 30,
                   "a ready release")
    return name


def _task(stack, body, status=201):
    r = H.post(stack, "/api/v1/tasks", body)
    assert r.status == status, r
    return r.result


def _get(stack, tid):
    r = H.get(stack, "/api/v1/tasks/" + tid)
    assert r.status == 200, r
    return r.result


def _wait(stack, tid, pred, timeout=30, what="state"):
    got = H.poll(lambda: (lambda t: t if pred(t) else None)(_get(stack, tid)), timeout)
    assert got, f"task {tid}: no {what}: {_get(stack, tid)}"
    return got


def _done(stack, tid, timeout=30):
    return _wait(stack, tid, lambda t: t["status"] in TERMINAL, timeout, "end")


def _cmd(mode, *args):
    return [H.SVC_CMD, mode, H.new_marker("tk")] + [str(a) for a in args]


def test_a_task_runs_and_completes_with_its_result(stack, projects):
    name = _project(stack, projects)
    t = _task(stack, {"project": name, "command": _cmd("exit", 0), "parameters": {"n": 7},
                      "labels": {"team": "ml"}, "priority": 5})
    assert t["status"] == "pending" and t["project"] == name and t["priority"] == 5, t
    assert t["labels"] == {"team": "ml"} and t["parameters"] == {"n": 7}, t
    d = _done(stack, t["id"])
    assert d["status"] == "completed" and d["end"]["exit_code"] == 0, d
    res = d["result"]
    assert res["success"] is True and res["output"] == "run " + t["id"], res
    assert res["metrics"]["exit_code"] == 0 and res["metrics"]["duration_seconds"] >= 0, res
    (a,) = d["attempts"]
    assert a["attempt"] == 1 and a["status"] == "completed" and a["worker_id"].startswith("internal-"), a
    # the job got its parameters as a file, and the SPEC 4 environment
    env = H.read_env(stack, t["id"])
    assert json.load(open(env["HOSTAGENT_PARAMETERS"])) == {"n": 7}
    assert env["HOSTAGENT_TASK_ID"] == t["id"] and env["HOSTAGENT_RESULT_FILE"], env
    types = [r[0] for r in H.db(stack, "SELECT type FROM events WHERE task_id = ? ORDER BY id",
                                (t["id"],))]
    assert types == ["task.created", "task.claimed", "task.started", "task.completed"], types
    # JSON the job wrote to $HOSTAGENT_RESULT_FILE is the output, rather than its last line
    t2 = _task(stack, {"project": name, "command": [
        "sh", "-c", 'echo \'{"score": 0.9}\' >"$HOSTAGENT_RESULT_FILE"; echo done']})
    assert _done(stack, t2["id"])["result"]["output"] == {"score": 0.9}


def test_failure_and_timeout_end_honestly(stack, projects):
    name = _project(stack, projects)
    f = _task(stack, {"project": name, "command": _cmd("exit", 3)})
    s = _task(stack, {"project": name, "command": _cmd("exit", 0, 60), "timeout": 1})
    d = _done(stack, f["id"])
    assert d["status"] == "failed" and d["end"]["exit_code"] == 3, d
    assert d["result"]["success"] is False and d["status_reason"] == "exited with code 3", d
    d = _done(stack, s["id"], 30)
    assert d["status"] == "timeout", d
    assert d["status_reason"].startswith("timed out after 1 s of running time"), d
    assert d["end"]["timed_out"] is True, d


def test_cancel_running_pending_and_finished(stack, projects):
    name = _project(stack, projects)
    m = H.new_marker("tk")
    run = _task(stack, {"project": name, "command": [H.SVC_CMD, "idle", m]})
    _wait(stack, run["id"], lambda t: t["status"] == "running" and t["started_at"])
    H.wait_started(stack, run["id"])
    chained = _task(stack, {"project": name, "command": _cmd("exit", 0), "after": [run["id"]]})
    # the chained task waits (its task has not completed): cancelled at once, 200
    r = H.post(stack, "/api/v1/tasks/%s/cancel" % chained["id"])
    assert r.status == 200 and r.result["status"] == "cancelled", r
    assert r.result["attempts"] == [] and "before it ran" in r.result["status_reason"], r
    r = H.post(stack, "/api/v1/tasks/%s/cancel" % run["id"])
    assert r.status == 202 and r.result["command"]["kind"] == "task.cancel", r
    d = _done(stack, run["id"])
    assert d["status"] == "cancelled" and d["status_reason"] == "stopped by request", d
    assert H.wait_gone(m, 10), H.procs_with(m)
    r = H.post(stack, "/api/v1/tasks/%s/cancel" % run["id"])
    assert r.status == 409 and "cancelled" in r.error["detail"], r


def test_a_chain_waits_and_is_cancelled_when_its_task_fails(stack, projects):
    name = _project(stack, projects)
    a = _task(stack, {"project": name, "command": _cmd("exit", 0, 1)})
    b = _task(stack, {"project": name, "command": _cmd("exit", 0), "after": [a["id"]]})
    d = _done(stack, b["id"])
    assert d["status"] == "completed" and d["after"] == [a["id"]], d
    assert d["started_at"] >= _get(stack, a["id"])["completed_at"]
    bad = _task(stack, {"project": name, "command": _cmd("exit", 5)})
    c1 = _task(stack, {"project": name, "command": _cmd("exit", 0), "after": [bad["id"]]})
    c2 = _task(stack, {"project": name, "command": _cmd("exit", 0), "after": [c1["id"]]})
    for t in (c1, c2):
        d = _done(stack, t["id"])
        assert d["status"] == "cancelled" and "not completed" in d["status_reason"], d
    assert bad["id"] in _get(stack, c1["id"])["status_reason"]


def test_slots_bound_the_running_tasks_and_take_the_best_first(stack, projects):
    name = _project(stack, projects)
    marks = [H.new_marker("tk") for _ in range(5)]
    projects.markers += marks

    def make(m, p):
        return _task(stack, {"project": name, "command": [H.SVC_CMD, "idle", m], "priority": p})
    first = [make(m, 0) for m in marks[:3]]
    for t in first:
        _wait(stack, t["id"], lambda x: x["status"] == "running")
    # the three slots are busy: an older low-priority task and a newer high one wait
    low, high = make(marks[3], 0), make(marks[4], 90)
    assert H.stays(lambda: _get(stack, low["id"])["status"] == "pending" and
                   _get(stack, high["id"])["status"] == "pending", 1.0, "both waiting")
    # a slot frees: the higher priority goes first, though it is the newer one
    assert H.post(stack, "/api/v1/tasks/%s/cancel" % first[0]["id"]).status == 202
    _wait(stack, high["id"], lambda x: x["status"] == "running")
    assert _get(stack, low["id"])["status"] == "pending"
    for t in first[1:] + [low, high]:
        assert H.post(stack, "/api/v1/tasks/%s/cancel" % t["id"]).status in (200, 202, 409)
    for t in first + [low, high]:
        _done(stack, t["id"])
    for m in marks:
        assert H.wait_gone(m, 10)


def test_list_filters_and_pagination(stack, projects):
    name = _project(stack, projects)
    lab = H.new_marker("lab")
    ids = [_task(stack, {"project": name, "command": _cmd("exit", 0),
                         "labels": {"batch": lab}})["id"] for _ in range(3)]
    for i in ids:
        _done(stack, i)
    r = H.get(stack, "/api/v1/tasks?label=batch=%s&limit=2" % lab)
    assert r.status == 200 and r.json["meta"]["total"] == 3 and r.json["meta"]["count"] == 2, r
    assert [t["id"] for t in r.result] == ids[::-1][:2]  # newest first
    r = H.get(stack, "/api/v1/tasks?label=batch:%s&limit=2&offset=2" % lab)
    assert [t["id"] for t in r.result] == ids[:1], r
    r = H.get(stack, "/api/v1/tasks?status=completed&project=%s&limit=1000" % name)
    assert {t["id"] for t in r.result} >= set(ids), r
    r = H.get(stack, "/api/v1/tasks?status=failed,completed&label=batch:%s" % lab)
    assert len(r.result) == 3, r
    assert H.get(stack, "/api/v1/tasks?status=completed,nope").status == 422
    assert H.get(stack, "/api/v1/tasks?status=nope").status == 422
    assert H.get(stack, "/api/v1/tasks/" + "0" * 36).status == 404


def test_idempotency_key_makes_one_task(stack, projects):
    name = _project(stack, projects)
    key = {"Idempotency-Key": H.new_marker("idem")}
    body = {"project": name, "command": _cmd("exit", 0)}
    a = H.post(stack, "/api/v1/tasks", body, headers=key)
    b = H.post(stack, "/api/v1/tasks", body, headers=key)
    assert a.status == 201 and b.status == 201 and a.result["id"] == b.result["id"], (a, b)


def test_bad_tasks_are_422_and_change_nothing(stack, projects):
    name = _project(stack, projects)
    before = H.db(stack, "SELECT count(*) FROM tasks WHERE kind = 'task'")[0][0]
    cases = [
        ({"project": name, "comand": ["x"]}, "comand"),
        ({"project": name, "priority": 101}, "priority"),
        ({"project": name, "after": ["no-such-task"]}, "after"),
        ({"project": H.new_name("ghost")}, "project"),
        ({"project": name, "timeout": 0}, "timeout"),
        ({"project": name, "labels": {"a": 1}}, "labels.a"),
        ({"project": name, "limits": {"nofile": 10}}, "limits.nofile"),
        ({"artifact": "ab" * 32, "command": ["./x"]}, "artifact"),
        ({"artifact": "ab" * 32, "project": name, "command": ["./x"]}, "artifact"),
        ({"artifact": "ab" * 32}, "command"),
        ({"problem_id": "solve-x"}, "worker"),
        ({"project": name, "retries": 101}, "retries"),
        ({}, "project"),
    ]
    for body, field in cases:
        r = H.post(stack, "/api/v1/tasks", body)
        assert r.status == 422 and r.error["detail"].startswith(field), (body, r)
    r = H.post(stack, "/api/v1/tasks", b"{not json", headers={"Content-Type": "application/json"})
    assert r.status == 400, r
    assert H.get(stack, "/api/v1/tasks/x/cancel").status == 405
    assert H.db(stack, "SELECT count(*) FROM tasks WHERE kind = 'task'")[0][0] == before


def test_a_running_task_survives_a_runner_kill9(fresh_stack):
    """kill -9 of the runner with a task running and one pending: afterwards the
    running one is supervised again (same pid; a cancel reaches it), the
    pending one is run, nothing ran twice."""
    stack = fresh_stack()
    reg = H.Projects(stack)
    try:
        name = _project(stack, reg)
        m = H.new_marker("tk")
        reg.markers.append(m)
        run = _task(stack, {"project": name, "command": [H.SVC_CMD, "idle", m]})
        r0 = _wait(stack, run["id"], lambda t: t["status"] == "running" and t["started_at"])
        H.wait_started(stack, run["id"])
        pid = H.db(stack, "SELECT pid FROM tasks WHERE id = ?", (run["id"],))[0][0]
        stack.kill_runner()
        later = _task(stack, {"project": name, "command": _cmd("exit", 0)})
        stack.start_runner()
        assert _done(stack, later["id"])["status"] == "completed"
        assert H.pid_alive(pid)
        assert H.post(stack, "/api/v1/tasks/%s/cancel" % run["id"]).status == 202
        d = _done(stack, run["id"])
        assert d["status"] == "cancelled" and len(d["attempts"]) == 1, d
        assert H.wait_gone(m, 10)
        assert r0["attempt"] == 1
    finally:
        reg.cleanup()


def test_a_claim_the_runner_never_ran_goes_back_to_the_queue(fresh_stack):
    """A runner killed between the claim and the spawn (its fault point
    after-claim): the next runner puts the task back in the queue, its first
    attempt 'lost', and runs it: nothing lost, nothing run twice."""
    stack = fresh_stack()
    reg = H.Projects(stack)
    try:
        name = _project(stack, reg)
        stack.kill_runner()
        stack.start_runner(env={"HOSTAGENT_FAULT": "after-claim"})
        t = _task(stack, {"project": name, "command": _cmd("exit", 0)})
        assert H.poll(lambda: stack.procs["runner"].poll() is not None, 30), \
            "the runner did not reach its fault point"
        assert _get(stack, t["id"])["status"] == "running"  # claimed, never spawned
        stack.start_runner()
        d = _done(stack, t["id"])
        assert d["status"] == "completed", d
        assert [(a["attempt"], a["status"]) for a in d["attempts"]] == [(1, "lost"),
                                                                       (2, "completed")], d
        assert H.db(stack, "SELECT count(*) FROM events WHERE task_id = ? AND type ="
                           " 'task.requeued'", (t["id"],)) == [(1,)]
    finally:
        if stack.procs["runner"].poll() is not None:
            stack.start_runner()
        reg.cleanup()


def test_a_failed_run_is_retried_with_backoff_and_every_attempt_kept(stack, projects):
    name = _project(stack, projects)
    t = _task(stack, {"project": name, "command": _cmd("exit", 3), "retries": 2})
    d = _wait(stack, t["id"], lambda x: x["status"] == "failed" and x["attempt"] == 3, 30,
              "three failed attempts")
    tries = d["attempts"]
    assert [(a["attempt"], a["status"], a["exit_code"]) for a in tries] == [
        (1, "failed", 3), (2, "failed", 3), (3, "failed", 3)], tries
    # the backoff: 1 s before the second attempt, 2 s before the third
    ms = H.db(stack, "SELECT attempt, claimed_at, ended_at FROM task_attempts WHERE task_id = ?"
                     " ORDER BY attempt", (t["id"],))
    assert ms[1][1] - ms[0][2] >= 1000 and ms[2][1] - ms[1][2] >= 2000, ms
    types = [r[0] for r in H.db(stack, "SELECT type FROM events WHERE task_id = ? ORDER BY id",
                                (t["id"],))]
    assert types.count("task.retrying") == 2 and types[-1] == "task.failed", types
    # each attempt's logs are kept: the last in the task's directory, the others beside it
    jd = H.job_dir(stack, t["id"])
    assert os.path.isdir(jd + ".1") and os.path.isdir(jd + ".2") and os.path.isdir(jd)
    # a run that fails once and then succeeds ends completed, on its second attempt
    flag = "/tmp/" + H.new_marker("once")
    u = _task(stack, {"project": name, "retries": 3, "command": [
        "sh", "-c", 'if [ -e "$0" ]; then echo second; exit 0; fi; touch "$0"; exit 1', flag]})
    try:
        d = _done(stack, u["id"])
        assert d["status"] == "completed" and d["attempt"] == 2, d
        assert d["result"]["output"] == "second", d
    finally:
        if os.path.exists(flag):
            os.unlink(flag)


def _idle_tasks(stack, projects, name, n, **fields):
    marks = [H.new_marker("tk") for _ in range(n)]
    projects.markers += marks
    return [_task(stack, dict({"project": name, "command": [H.SVC_CMD, "idle", m]}, **fields))
            for m in marks], marks


def _cancel_all(stack, tasks, marks):
    for t in tasks:
        assert H.post(stack, "/api/v1/tasks/%s/cancel" % t["id"]).status in (200, 202, 409)
    for t in tasks:
        _done(stack, t["id"])
    for m in marks:
        assert H.wait_gone(m, 10)


def test_queue_stop_start_and_inject(stack, projects):
    name = _project(stack, projects)
    r = H.post(stack, "/api/v1/queue/stop")
    assert r.status == 200 and r.result["claiming"] is False and r.result["accepting"], r
    try:
        waiting, marks = _idle_tasks(stack, projects, name, 1)
        # stopped: nothing is claimed (a positive wait first: the task is there and pending)
        assert H.get(stack, "/api/v1/queue").result["counts"]["pending"] >= 1
        assert H.stays(lambda: _get(stack, waiting[0]["id"])["status"] == "pending", 1.0,
                       "pending while the queue is stopped")
        # inject runs a task at once, queue stopped or not, outside the slots
        m = H.new_marker("tk")
        projects.markers.append(m)
        r = H.post(stack, "/api/v1/queue/inject", {"project": name,
                                                   "command": [H.SVC_CMD, "idle", m]})
        assert r.status == 201, r
        inj = _wait(stack, r.result["id"], lambda t: t["status"] == "running")
        assert inj["worker_id"] == "internal-inject", inj
        assert _get(stack, waiting[0]["id"])["status"] == "pending"
    finally:
        r = H.post(stack, "/api/v1/queue/start")
        assert r.status == 200 and r.result["claiming"] is True, r
    _wait(stack, waiting[0]["id"], lambda t: t["status"] == "running")
    _cancel_all(stack, waiting + [inj], marks + [m])
    types = [t for (t,) in H.db(stack, "SELECT type FROM events WHERE type LIKE 'queue.%'")]
    assert "queue.stopped" in types and "queue.started" in types, types


def test_scale_the_slots_and_their_status(stack, projects):
    name = _project(stack, projects)
    st = H.get(stack, "/api/v1/workers/internal/status")
    assert st.status == 200 and st.result["count"] == 3, st
    assert [s["id"] for s in st.result["slots"]] == ["internal-1", "internal-2", "internal-3"]
    try:
        r = H.post(stack, "/api/v1/workers/internal/scale", {"count": 1})
        assert r.status == 200 and r.result["count"] == 1, r
        tasks, marks = _idle_tasks(stack, projects, name, 3)
        _wait(stack, tasks[0]["id"], lambda t: t["status"] == "running")
        assert H.stays(lambda: [_get(stack, t["id"])["status"] for t in tasks].count("running")
                       == 1, 1.0, "one slot, one running")
        h = H.get(stack, "/health").result
        assert h["workers"]["total"] >= 1 and h["workers"]["busy"] >= 1, h
        # new slots take work at once
        r = H.post(stack, "/api/v1/workers/internal/scale", {"count": 3})
        assert r.status == 200, r
        for t in tasks:
            _wait(stack, t["id"], lambda x: x["status"] == "running")
        st = H.get(stack, "/api/v1/workers/internal/status").result
        assert st["busy"] == 3 and st["idle"] == 0, st
        assert {s["task_id"] for s in st["slots"]} == {t["id"] for t in tasks}, st
        # removed slots finish their task first: scaled to 1, all three go on
        assert H.post(stack, "/api/v1/workers/internal/scale", {"count": 1}).status == 200
        st = H.get(stack, "/api/v1/workers/internal/status").result
        assert st["count"] == 1 and st["busy"] == 1 and st["draining"] == 2, st
        assert all(_get(stack, t["id"])["status"] == "running" for t in tasks)
        # internal stop: the slots take nothing new
        assert H.post(stack, "/api/v1/workers/internal/stop").result["running"] is False
        _cancel_all(stack, tasks, marks)
        late, lm = _idle_tasks(stack, projects, name, 1)
        assert H.stays(lambda: _get(stack, late[0]["id"])["status"] == "pending", 1.0,
                       "pending while the slots are stopped")
        assert H.post(stack, "/api/v1/workers/internal/start").result["running"] is True
        _wait(stack, late[0]["id"], lambda x: x["status"] == "running")
        _cancel_all(stack, late, lm)
    finally:
        H.post(stack, "/api/v1/workers/internal/scale", {"count": 3})
        H.post(stack, "/api/v1/workers/internal/start")
    for body in ({"count": -1}, {"count": 5000}, {"count": "2"}, {"n": 2}):
        r = H.post(stack, "/api/v1/workers/internal/scale", body)
        assert r.status == 422, (body, r)


def test_task_output_streams(stack, projects):
    name = _project(stack, projects)
    t = _task(stack, {"project": name, "command": _cmd("lines", 5)})
    _done(stack, t["id"])
    r = H.get(stack, "/api/v1/tasks/%s/logs/stdout" % t["id"])
    assert r.status == 200 and r.body.decode().splitlines()[-5:] == [
        "line %d" % i for i in range(1, 6)], r
    r = H.get(stack, "/api/v1/tasks/%s/logs/stdout?tail=2" % t["id"])
    assert r.body.decode().splitlines() == ["line 4", "line 5"], r
    # follow streams until the run ends
    f = _task(stack, {"project": name, "command": _cmd("lines", 3, "0.3")})
    _wait(stack, f["id"], lambda x: x["status"] == "running")
    status, _, body, ended = H.follow(stack, "/api/v1/tasks/%s/logs/stdout?follow=true" % f["id"],
                                      timeout=30)
    assert status == 200 and ended, (status, body)
    assert body.decode().splitlines()[-3:] == ["line 1", "line 2", "line 3"], body
    assert H.get(stack, "/api/v1/tasks/%s/logs/stdin" % t["id"]).status == 404
    assert H.get(stack, "/api/v1/tasks/%s/logs/stdout" % ("0" * 36)).status == 404


def test_artifact_tasks_share_one_extracted_tree(stack, projects):
    sha = H.upload_ok(stack, A.project_archive("tar.gz", version=H.new_marker("v")))
    ts = [_task(stack, {"artifact": sha, "command": _cmd("exit", 0), "labels": {"n": str(i)}})
          for i in range(4)]
    for t in ts:
        d = _done(stack, t["id"])
        assert d["status"] == "completed" and d["project"] is None, d
        assert d["result"]["output"] == "run " + t["id"], d
    env = H.read_env(stack, ts[0]["id"])
    assert "HOSTAGENT_PROJECT" not in env and env["HOSTAGENT_TASK_ID"] == ts[0]["id"], env
    tree = os.path.join(stack.data_dir, "trees", sha)
    assert os.path.isfile(os.path.join(tree, "bin", "svc.sh")), os.listdir(stack.data_dir)
    # one extraction for all of them: the runner said so once
    log = (stack.log_dir / "runner.log").read_text(errors="replace")
    assert log.count("waiting for artifact %s" % sha[:12]) >= 1
    spec = _job_spec_of(stack, ts[1]["id"])
    assert spec["cwd"].startswith(tree), spec
    # a task of an artifact that fails to extract fails, with the reason
    bad = H.upload_ok(stack, A.project_archive("tar.gz", version=H.new_marker("v")))
    with open(os.path.join(H.artifacts_dir(stack), bad), "r+b") as f:
        f.truncate(100)
    d = _done(stack, _task(stack, {"artifact": bad, "command": ["./bin/svc.sh"]})["id"])
    assert d["status"] == "failed" and "extraction failed" in d["status_reason"], d


def _job_spec_of(stack, task_id):
    with open(os.path.join(H.job_dir(stack, task_id), "spec.json")) as f:
        return json.load(f)


def test_cancel_against_claim_ends_each_task_once(stack, projects):
    """Fifty tasks wait while the slots are stopped; the slots start while a
    client cancels all of them: each task ends exactly once, cancelled
    (before or after its claim) or completed, with one end event, and none is
    left running or pending."""
    import threading
    name = _project(stack, projects)
    assert H.post(stack, "/api/v1/queue/stop").status == 200
    try:
        ts = [_task(stack, {"project": name, "command": _cmd("exit", 0)}) for _ in range(50)]
    finally:
        starter = threading.Thread(target=lambda: H.post(stack, "/api/v1/queue/start"))
    starter.start()
    codes = [H.post(stack, "/api/v1/tasks/%s/cancel" % t["id"]).status for t in ts]
    starter.join()
    assert set(codes) <= {200, 202, 409}, codes
    print("cancel answers:", {c: codes.count(c) for c in set(codes)})
    for t in ts:
        d = _done(stack, t["id"])
        assert d["status"] in ("cancelled", "completed"), d
        ends = H.db(stack, "SELECT count(*) FROM events WHERE task_id = ? AND type IN"
                           " ('task.completed', 'task.cancelled', 'task.failed')", (t["id"],))
        assert ends == [(1,)], (t["id"], ends, d)
        assert len(d["attempts"]) <= 1, d
    assert H.get(stack, "/api/v1/queue").result["claiming"] is True
