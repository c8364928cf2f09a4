# SPDX-License-Identifier: MIT
"""One writer per column (docs/architecture.md, "Commands"): a handler writes
what the user wants (the command, the project's desired state, new rows)
and the events of that change in the same transaction; the runner alone
writes what it observed (state, release in use, task, restarts). With the
runner stopped, nothing observed moves however many commands are accepted."""

import json

import pytest

import archives as A
import projects_helpers as H
from projects_helpers import projects  # noqa: F401  (fixture)


def _artifact(stack, version):
    return H.upload_ok(stack, A.project_archive("tar.gz", version=version))


def _events(stack, project, *types):
    marks = ",".join("?" * len(types))
    return [dict(r) for r in stack.sql(
        f"SELECT id, type, task_id, project, data FROM events WHERE project = ?"
        f" AND type IN ({marks}) ORDER BY id", (project, *types))]


def _row(stack, name):
    rows = stack.sql("SELECT * FROM projects WHERE name = ?", (name,))
    return dict(rows[0]) if rows else None


def test_deploy_commits_its_events_with_the_release(stack, projects):
    sha = _artifact(stack, "own-events")
    name = projects.add(H.new_name("ev"))
    marker = H.new_marker()
    projects.markers.append(marker)
    res = H.deploy_ok(stack, H.svc_spec(name, "idle", marker, artifact=sha))
    rid, seq, tid = res["release"]["id"], res["release"]["seq"], res["task"]["id"]

    # read right after the 202: the release, the task and both events are one commit
    assert [tuple(r) for r in stack.sql("SELECT id, seq, artifact FROM releases"
                                        " WHERE project = ?", (name,))] == [(rid, seq, sha)]
    assert stack.sql("SELECT kind FROM tasks WHERE id = ?", (tid,))[0][0] == "service"
    ev = _events(stack, name, "project.deployed", "task.created")
    assert [e["type"] for e in ev] == ["task.created", "project.deployed"], ev
    created, deployed = ev
    assert created["task_id"] == tid
    assert json.loads(created["data"]) == {"kind": "service", "release_id": rid,
                                           "artifact": sha}
    assert deployed["task_id"] == tid
    assert json.loads(deployed["data"]) == {"release_id": rid, "seq": seq, "artifact": sha,
                                            "task_id": tid, "start": True}

    # start=false: the event says so, and no task (nor its event) is made
    res2 = H.deploy_ok(stack, H.svc_spec(name, "idle", marker, artifact=sha, start=False))
    ev = _events(stack, name, "project.deployed", "task.created")
    assert len(ev) == 3 and ev[-1]["type"] == "project.deployed", ev
    assert ev[-1]["task_id"] is None
    assert json.loads(ev[-1]["data"]) == {
        "release_id": res2["release"]["id"], "seq": res2["release"]["seq"], "artifact": sha,
        "task_id": None, "start": False}

    # a refused deploy writes neither a release nor an event
    r = H.deploy(stack, H.svc_spec(name, "idle", marker, artifact="0" * 64))
    assert r.status == 422, r
    assert len(_events(stack, name, "project.deployed", "task.created")) == 3
    assert len(stack.sql("SELECT id FROM releases WHERE project = ?", (name,))) == 2


def test_rollback_task_has_its_created_event(stack, projects):
    sha1, sha2 = _artifact(stack, "own-rb-1"), _artifact(stack, "own-rb-2")
    name = projects.add(H.new_name("evrb"))
    marker = H.new_marker()
    projects.markers.append(marker)
    r1 = H.deploy_ok(stack, H.svc_spec(name, "idle", marker, artifact=sha1))
    H.wait_running(stack, name, r1["task"]["id"])
    r2 = H.deploy_ok(stack, H.svc_spec(name, "idle", marker, artifact=sha2))
    H.wait_running(stack, name, r2["task"]["id"])
    r = H.control(stack, name, "rollback")
    assert r.status == 202, r
    tid = r.result["task"]["id"]
    created = [e for e in _events(stack, name, "task.created") if e["task_id"] == tid]
    assert len(created) == 1, created
    assert json.loads(created[0]["data"]) == {
        "kind": "service", "release_id": r1["release"]["id"], "artifact": sha1}
    assert _row(stack, name)["desired"] == "running"
    H.wait_running(stack, name, tid)


def test_handlers_write_desired_and_never_observed_columns(stack, projects):
    sha1, sha2 = _artifact(stack, "own-1"), _artifact(stack, "own-2")
    a, b, c, d = (projects.add(H.new_name(p)) for p in ("owa", "owb", "owc", "owd"))
    marker = H.new_marker()
    projects.markers.append(marker)
    r1 = H.deploy_ok(stack, H.svc_spec(a, "idle", marker, artifact=sha1))
    rd = H.deploy_ok(stack, H.svc_spec(d, "idle", marker, artifact=sha1))
    p1 = H.wait_running(stack, a, r1["task"]["id"])
    H.wait_running(stack, d, rd["task"]["id"])
    observed = ("state", "state_reason", "release_id", "spec", "task_id", "restarts",
                "fast_failures", "backoff_until", "deleted_at")
    before, before_d = _row(stack, a), _row(stack, d)

    stack.kill_runner()
    try:
        # a redeploy while nobody applies it: desired only; the run goes on as observed
        r2 = H.deploy_ok(stack, H.svc_spec(a, "idle", marker, artifact=sha2))
        p = H.project(stack, a)
        assert p["state"] == "running" and p["desired"] == "running", p
        assert H.release_of(p)["id"] == r1["release"]["id"], p
        assert H.task_of(p) == p1["task_id"], p
        assert p["latest_release"]["id"] == r2["release"]["id"], p
        assert p["latest_release"]["state"] == "pending", p
        assert {k: _row(stack, a)[k] for k in observed} == {k: before[k] for k in observed}

        # stop and start: desired, in the command's transaction; the run is untouched
        assert H.control(stack, d, "stop").status == 202
        row = _row(stack, d)
        assert row["desired"] == "stopped" and row["state"] == "running", row
        assert {k: row[k] for k in observed} == {k: before_d[k] for k in observed}
        assert H.control(stack, d, "start").status == 202
        row = _row(stack, d)
        assert row["desired"] == "running", row
        assert {k: row[k] for k in observed} == {k: before_d[k] for k in observed}

        # new projects: observed columns at their defaults, no release until the runner's
        for name, start in ((b, False), (c, True)):
            spec = H.svc_spec(name, "idle", marker, artifact=sha1, start=start)
            res = H.deploy_ok(stack, spec)
            p = H.project(stack, name)
            assert p["state"] == "stopped" and p["release"] is None, p
            assert p["task_id"] is None and p["restarts"] == 0, p
            assert p["desired"] == ("running" if start else "stopped"), p
            assert p["latest_release"]["id"] == res["release"]["id"], p
            assert p["spec"]["command"] == spec["command"], p
    finally:
        stack.start_runner()
        stack.wait_ready()

    # the runner applies what was accepted and records what it observed
    pa = H.wait_project(stack, a, lambda q: q["state"] == "running"
                        and H.release_of(q).get("id") == r2["release"]["id"]
                        and H.task_of(q) != p1["task_id"], 30, "a on the new release")
    assert H.wait_gone([p1["pid"]], 20), "the first run of a survived its redeploy"
    assert pa["desired"] == "running"
    H.wait_project(stack, d, lambda q: q["state"] == "running" and q["desired"] == "running",
                   30, "d running again")
    H.wait_project(stack, c, lambda q: q["state"] == "running" and q["release"] is not None,
                   30, "c started by the runner")
    pb = H.wait_project(stack, b, lambda q: q["release"] is not None, 30,
                        "b's release made current by the runner")
    assert pb["state"] == "stopped" and pb["desired"] == "stopped", pb


def _deleted(stack, projects, prefix):
    sha = _artifact(stack, prefix)
    name = projects.add(H.new_name(prefix))
    marker = H.new_marker()
    projects.markers.append(marker)
    r = H.deploy_ok(stack, H.svc_spec(name, "idle", marker, artifact=sha))
    H.wait_running(stack, name, r["task"]["id"])
    assert H.delete(stack, name).status == 202
    H.poll(lambda: H.project(stack, name) is None, 20)
    assert H.project(stack, name) is None
    assert _row(stack, name)["deleted_at"] is not None
    return name, marker, sha


def test_redeploy_after_delete_is_back_at_once(stack, projects):
    """The handler does not clear deleted_at (the runner's column): a release
    deployed after the deletion is what makes the project visible again."""
    name, marker, sha = _deleted(stack, projects, "owdel")
    stack.kill_runner()
    try:
        res = H.deploy_ok(stack, H.svc_spec(name, "idle", marker, artifact=sha))
        p = H.project(stack, name)
        assert p is not None, "a redeployed project must not be 404"
        assert p["desired"] == "running" and p["state"] == "stopped", p
        assert p["latest_release"]["id"] == res["release"]["id"], p
        assert _row(stack, name)["deleted_at"] is not None
        assert H.control(stack, name, "stop").status == 202
        assert _row(stack, name)["desired"] == "stopped"
    finally:
        stack.start_runner()
        stack.wait_ready()


def test_redeploy_after_delete_runs(stack, projects):
    name, marker, sha = _deleted(stack, projects, "owdel2")
    res = H.deploy_ok(stack, H.svc_spec(name, "idle", marker, artifact=sha))
    H.wait_running(stack, name, res["task"]["id"], timeout=10)
    assert _row(stack, name)["deleted_at"] is None
