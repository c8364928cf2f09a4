# SPDX-License-Identifier: MIT
"""The runner's core (docs/architecture.md, "Supervision state machine",
"Crash recovery"): commands sent while a stop is under way are kept and the
later one wins (a deploy or a start during a delete is never lost), a
runner killed between the spawn of a shim and its record never makes a
second shim, and a thousand running jobs are all supervised again after a
kill -9 of the runner, none killed and none started again."""

import os
import time

import pytest

import archives as A
import projects_helpers as H
from projects_helpers import projects  # noqa: F401  (fixture)


def _release(stack, version=None):
    return H.upload_ok(stack, A.project_archive("tar.gz", version=version or H.new_marker("v")))


def _cmd_row(stack, cmd_id):
    rows = H.db(stack, "SELECT state, result, reason FROM commands WHERE id = ?", (cmd_id,))
    return rows[0] if rows else None


def _settled(stack, cmd_id, timeout=30):
    row = H.poll(lambda: (lambda r: r if r and r[0] in ("applied", "failed") else None)(
        _cmd_row(stack, cmd_id)), timeout)
    assert row, f"command {cmd_id} never settled: {_cmd_row(stack, cmd_id)}"
    return row


def _no_pending_runs(stack, name):
    return [t for t in H.project_tasks(stack, name) if t["state"] == "pending"] == []


def test_deploy_during_delete_wins(stack, projects):
    """DELETE of a project that takes 4 s to stop, then a deploy of the same
    name while it stops: the deploy (the later command) wins. The project is
    not deleted, runs the new release as the task its 202 named, and no
    task is left pending."""
    name = projects.add(H.new_name("core"))
    m1, m2 = H.new_marker(), H.new_marker()
    projects.markers += [m1, m2]
    sha2 = _release(stack)
    r1 = H.deploy_ok(stack, H.svc_spec(name, "stubborn", m1, artifact=_release(stack),
                                       stop_timeout=4))
    p1 = H.wait_running(stack, name, r1["task"]["id"])
    H.wait_ignoring_term(m1)
    d = H.delete(stack, name)
    assert d.status == 202, d
    H.wait_project(stack, name, lambda q: q["state"] == "stopping", 10, "stopping")
    r2 = H.deploy_ok(stack, H.svc_spec(name, "idle", m2, artifact=sha2))
    # the deploy was accepted while the delete was still stopping the project
    assert H.project(stack, name)["state"] == "stopping"
    p2 = H.wait_running(stack, name, r2["task"]["id"], timeout=30)
    assert p2["pid"] != p1["pid"]
    assert H.wait_gone(m1, 10), H.procs_with(m1)
    delete_row = _settled(stack, d.result["command"]["id"])
    assert delete_row[0] == "applied" and '"superseded":true' in delete_row[1], delete_row
    deploy_row = _settled(stack, r2["command"]["id"])
    assert deploy_row[0] == "applied", deploy_row
    assert H.db(stack, "SELECT deleted_at FROM projects WHERE name = ?", (name,)) == [(None,)]
    assert _no_pending_runs(stack, name), H.project_tasks(stack, name)
    states = {t["id"]: t["state"] for t in H.project_tasks(stack, name)}
    assert states == {r1["task"]["id"]: "cancelled", r2["task"]["id"]: "running"}, states


def test_start_during_delete_wins(stack, projects):
    """The same with a start: the project runs again and is not deleted."""
    name = projects.add(H.new_name("core"))
    m = H.new_marker()
    projects.markers.append(m)
    r1 = H.deploy_ok(stack, H.svc_spec(name, "stubborn", m, artifact=_release(stack),
                                       stop_timeout=4))
    p1 = H.wait_running(stack, name, r1["task"]["id"])
    H.wait_ignoring_term(m)
    d = H.delete(stack, name)
    assert d.status == 202, d
    H.wait_project(stack, name, lambda q: q["state"] == "stopping", 10, "stopping")
    s = H.control(stack, name, "start")
    assert s.status == 202, s
    assert H.project(stack, name)["state"] == "stopping"
    start_row = _settled(stack, s.result["command"]["id"])
    assert start_row[0] == "applied", start_row
    p2 = H.wait_project(stack, name, lambda q: q["state"] == "running" and q["pid"] != p1["pid"],
                        20, "running again")
    assert p2["restarts"] == 0
    assert '"superseded":true' in _settled(stack, d.result["command"]["id"])[1]
    assert _no_pending_runs(stack, name)


def test_delete_then_deploy_after_it_is_gone(stack, projects):
    """A delete that is over, then a deploy of the same name: a new project."""
    name = projects.add(H.new_name("core"))
    m1, m2 = H.new_marker(), H.new_marker()
    projects.markers += [m1, m2]
    r1 = H.deploy_ok(stack, H.svc_spec(name, "idle", m1, artifact=_release(stack)))
    H.wait_running(stack, name, r1["task"]["id"])
    d = H.delete(stack, name)
    row = _settled(stack, d.result["command"]["id"])
    assert row[0] == "applied" and '"purged":false' in row[1], row
    assert H.get(stack, f"/api/v1/projects/{name}").status == 404
    r2 = H.deploy_ok(stack, H.svc_spec(name, "idle", m2, artifact=_release(stack)))
    H.wait_running(stack, name, r2["task"]["id"])
    assert H.wait_gone(m1, 5)


def _children_with(parent, marker):
    return [p for p, c in H.procs_with(marker)
            if "svc.sh" in c and (H.proc_stat(p) or {}).get("ppid") == parent]


def _shims_of(task_id):
    """The shims of a task: its job, between fork and exec, carries the shim's argv
    for a moment, and is left out as a child of one."""
    found = [p for p, cmd in H.procs_with("/jobs/" + task_id) if "hostagent-shim" in cmd]
    return [p for p in found if (H.proc_stat(p) or {}).get("ppid") not in found]


def test_runner_killed_between_spawn_and_record_makes_one_shim(fresh_stack):
    """The runner dies (SIGKILL, by fault injection) right after it spawned
    a shim and before it recorded it. The next runner applies the deploy
    again: the shim holds its job directory's lock, so it is supervised
    again; no second shim and no second job is ever started."""
    stack = fresh_stack()
    reg = H.Projects(stack)
    try:
        stack.kill_runner()
        stack.start_runner(env={"HOSTAGENT_FAULT": "after-spawn"})
        name = reg.add(H.new_name("fault"))
        m = H.new_marker()
        reg.markers.append(m)
        r = H.deploy_ok(stack, H.svc_spec(name, "idle", m, artifact=_release(stack)))
        task = r["task"]["id"]
        assert H.poll(lambda: stack.procs["runner"].poll() is not None, 30), \
            "the runner did not reach its fault point"
        shims = H.poll(lambda: _shims_of(task), 10)
        assert len(shims) == 1, shims
        job = H.poll(lambda: _children_with(shims[0], m), 10)
        assert len(job) == 1, job
        # the spawn was never recorded
        assert H.db(stack, "SELECT shim_pid FROM tasks WHERE id = ?", (task,)) == [(None,)]
        stack.start_runner()
        p = H.wait_running(stack, name, task, timeout=30)
        assert p["pid"] == job[0], (p, job)
        assert _shims_of(task) == shims, _shims_of(task)
        # the job is the shim's only child running the service (a shell's
        # forks for a command substitution carry its argv for a moment)
        assert _children_with(shims[0], m) == job
        assert _settled(stack, r["command"]["id"])[0] == "applied"
        assert [t["id"] for t in H.project_tasks(stack, name)] == [task]
    finally:
        if stack.procs["runner"].poll() is not None:
            stack.start_runner()
        reg.cleanup()


def _sanitized():
    return "build-asan" in os.environ.get("HOSTAGENT_BUILD_DIR", "")


def _socket_fds(pid):
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return n


def test_a_thousand_jobs_are_adopted_after_kill9(fresh_stack):
    """1,100 running jobs (100 under the sanitizers, whose shims are ten
    times larger), kill -9 of the runner, a new runner started with the
    usual soft limit of 1,024 fds: every shim is connected again, every job
    is supervised with the same pid and start time, none is killed and none
    is started again. The re-adoption time is printed."""
    n = 100 if _sanitized() else 1100
    stack = fresh_stack(rate="5000r/s", burst=5000, config={"runner_poll_ms": 50})
    sha = _release(stack)
    names = [H.new_name("many") for _ in range(n)]
    for nm in names:
        r = H.deploy(stack, {"name": nm, "artifact": sha, "command": ["/bin/sleep", "100000"]})
        assert r.status == 202, r

    def all_running():
        rows = H.db(stack, "SELECT count(*) FROM projects WHERE state = 'running'")
        return rows[0][0] == n
    assert H.poll(all_running, 600), H.db(stack, "SELECT state, count(*) FROM projects GROUP BY 1")
    before = dict(H.db(stack, "SELECT t.id, t.pid FROM tasks t JOIN projects p ON p.task_id = t.id"))
    assert len(before) == n
    starts = {t: H.proc_stat(pid)["starttime"] for t, pid in before.items()}
    runs_before = H.db(stack, "SELECT count(*) FROM tasks")[0][0]
    # what ended before the kill (a launch that a loaded machine refused, retried) is not
    # this test's business; it is printed, and nothing may end across the restart
    ended_sql = "SELECT count(*) FROM tasks WHERE completed_at IS NOT NULL"
    ended_before = H.db(stack, ended_sql)[0][0]
    if ended_before:
        print("runs that ended before the kill:", H.db(
            stack, "SELECT reason, count(*) FROM tasks WHERE completed_at IS NOT NULL GROUP BY 1"))

    stack.kill_runner()
    t0 = time.monotonic()
    # the soft limit a plain service gets: one fd per shim is past it
    stack.start_runner(nofile=1024)
    # the new runner has reached every shim once its liveness row is written
    # after recovery, and the log says how many runs it found
    log = stack.log_dir / "runner.log"
    assert H.poll(lambda: f"recovery: {n} run(s) found" in log.read_text(errors="replace"), 60)
    # one connection per shim: the runner must have raised its own fd limit to hold them
    runner = stack.procs["runner"].pid
    assert H.poll(lambda: _socket_fds(runner) >= n, 30), _socket_fds(runner)
    adopted_s = time.monotonic() - t0

    # every job was asked for its status and answered (a status reply names its pid)
    assert H.poll(all_running, 60)
    after = dict(H.db(stack, "SELECT t.id, t.pid FROM tasks t JOIN projects p ON p.task_id = t.id"))
    assert after == before
    for t, pid in after.items():
        st = H.proc_stat(pid)
        assert st is not None and st["starttime"] == starts[t], (t, pid)
    assert H.db(stack, "SELECT count(*) FROM tasks")[0][0] == runs_before  # nothing relaunched
    assert H.db(stack, ended_sql)[0][0] == ended_before
    print(f"\n{n} jobs re-adopted {adopted_s:.2f} s after the runner restarted")


def test_cgroups_of_vanished_shims_are_swept(fresh_stack):
    """kill -9 of the runner and of a job's shim: the job is left in its
    cgroup with nobody to report its end. The next runner kills what is
    left in the cgroup, records the run as lost, and removes the cgroup; an
    empty job cgroup nobody owns (a shim SIGKILLed after its job ended) is
    removed at start-up too."""
    stack = fresh_stack()
    if H.kill_mode(stack) != "cgroup":
        pytest.skip("this host gives the runner no cgroup v2 subtree (kill mode process-group):"
                    " nothing to sweep; test_runner covers the removal on a cgroupfs-like tree")
    reg = H.Projects(stack)
    try:
        name = reg.add(H.new_name("sweep"))
        m = H.new_marker()
        reg.markers.append(m)
        r = H.deploy_ok(stack, H.svc_spec(name, "idle", m, artifact=_release(stack),
                                          restart="no"))
        task = r["task"]["id"]
        p = H.wait_running(stack, name, task)
        cg = H.db(stack, "SELECT cgroup FROM tasks WHERE id = ?", (task,))[0][0]
        assert cg and os.path.isdir(cg), cg
        root = os.path.dirname(cg)
        stale = os.path.join(root, "job-" + H.new_marker("stale"))
        os.mkdir(stale)
        stack.kill_runner()
        shim = _shims_of(task)
        assert len(shim) == 1, shim
        os.kill(shim[0], 9)
        assert H.wait_gone(shim, 10)
        assert H.pid_alive(p["pid"])  # the job lives on in its cgroup, with nobody to reap it
        stack.start_runner()
        assert H.wait_gone(m, 20), H.procs_with(m)
        row = H.poll(lambda: (lambda t: t if t and t["completed_at"] else None)(
            H.task_row(stack, task)), 20)
        assert row["state"] == "failed" and "shim died" in row["reason"], row
        assert H.poll(lambda: not os.path.exists(cg), 10), os.listdir(cg)
        assert H.poll(lambda: not os.path.exists(stale), 10)
    finally:
        if stack.procs["runner"].poll() is not None:
            stack.start_runner()
        reg.cleanup()


def test_start_false_deploy_during_delete_keeps_the_project(stack, projects):
    """A deploy with "start": false sent while a delete stops the project:
    the project is not deleted; the new release is current, nothing runs."""
    name = projects.add(H.new_name("core"))
    m1, m2 = H.new_marker(), H.new_marker()
    projects.markers += [m1, m2]
    sha2 = _release(stack)
    r1 = H.deploy_ok(stack, H.svc_spec(name, "stubborn", m1, artifact=_release(stack),
                                       stop_timeout=3))
    H.wait_running(stack, name, r1["task"]["id"])
    H.wait_ignoring_term(m1)
    d = H.delete(stack, name)
    H.wait_project(stack, name, lambda q: q["state"] == "stopping", 10, "stopping")
    r2 = H.deploy_ok(stack, dict(H.svc_spec(name, "idle", m2, artifact=sha2), start=False))
    row = _settled(stack, r2["command"]["id"])
    assert row[0] == "applied" and '"started":false' in row[1], row
    assert '"superseded":true' in _settled(stack, d.result["command"]["id"])[1]
    p = H.wait_project(stack, name, lambda q: q["state"] == "stopped", 20, "stopped")
    assert H.release_of(p)["id"] == r2["release"]["id"], p
    assert H.db(stack, "SELECT deleted_at FROM projects WHERE name = ?", (name,)) == [(None,)]
    assert H.wait_gone(m1, 10) and not H.procs_with(m2)


def test_start_during_delete_wins_across_a_runner_restart(fresh_stack):
    """DELETE, kill -9 of the runner while the stop is under way, START while
    it is down, the run ends meanwhile: the next runner applies both
    commands again, in order, and the later one still wins."""
    stack = fresh_stack()
    reg = H.Projects(stack)
    try:
        name = reg.add(H.new_name("core"))
        m = H.new_marker()
        reg.markers.append(m)
        r1 = H.deploy_ok(stack, H.svc_spec(name, "stubborn", m, artifact=_release(stack),
                                           stop_timeout=1))
        p1 = H.wait_running(stack, name, r1["task"]["id"])
        H.wait_ignoring_term(m)
        d = H.delete(stack, name)
        H.wait_project(stack, name, lambda q: q["state"] == "stopping", 10, "stopping")
        stack.kill_runner()
        s = H.control(stack, name, "start")
        assert s.status == 202, s
        assert H.wait_gone([p1["pid"]], 10)  # the shim ends the stop by itself
        stack.start_runner()
        p2 = H.wait_project(stack, name, lambda q: q["state"] == "running", 20, "running again")
        assert p2["pid"] != p1["pid"]
        assert '"superseded":true' in _settled(stack, d.result["command"]["id"])[1]
        assert _settled(stack, s.result["command"]["id"])[0] == "applied"
        assert H.db(stack, "SELECT deleted_at FROM projects WHERE name = ?", (name,)) == [(None,)]
    finally:
        if stack.procs["runner"].poll() is not None:
            stack.start_runner()
        reg.cleanup()
