# SPDX-License-Identifier: MIT
"""Project limits end to end (docs/api.md, "Limits"; docs/operations.md, "Limits and
cgroup delegation"): the documented names are accepted and acted on, as rlimits the
job really has (/proc/PID/limits, a write past file_size, a busy loop past
cpu_seconds) or as its cgroup's files where the host delegates the controllers; the
old names are 422 naming the new one; GET / and /health say what enforces each
limit; a limit that nothing would enforce (cpu without the cpu controller,
processes for a root job without pids) is refused at deploy, or at launch when the
runner had not recorded its controllers yet; an out-of-memory end is recorded in
the task row and the logs manifest.

The cgroup paths need a host whose job cgroups get the memory, pids or cpu
controller; where they do not (hybrid cgroup v2 without them, containers), those
tests skip saying so, and the rlimit paths are the ones proved here."""

import json
import os
import sqlite3

import pytest

import archives as A
import projects_helpers as H
from projects_helpers import projects  # noqa: F401  (fixture)

LIMIT_NAMES = {"memory", "open_files", "processes", "cpu_seconds", "file_size", "cpu"}


def _enforcement(stack):
    lim = H.get(stack, "/").json["result"]["limits"]
    assert isinstance(lim, dict), lim
    return lim


def _by_cgroup(stack, name):
    return _enforcement(stack)[name].startswith("cgroup ")


def _need_cgroup(stack, name):
    how = _enforcement(stack)[name]
    if not how.startswith("cgroup "):
        pytest.skip("this host's job cgroups have no controller for %s (GET / says %r)"
                    % (name, how))


def _need_no_cgroup(stack, name):
    how = _enforcement(stack)[name]
    if how.startswith("cgroup "):
        pytest.skip("this host enforces %s with its cgroup (%r): the fallback is not used"
                    % (name, how))


def _deploy(stack, projects, mode, *args, **fields):
    name, _, res = H.deploy_svc(stack, projects, mode, *args, prefix="lim", **fields)
    return name, res["task"]["id"]


def _wait_done(stack, task, timeout=30):
    row = H.poll(lambda: (lambda t: t if t and t["completed_at"] else None)(
        H.task_row(stack, task)), timeout)
    assert row, "task %s did not end: %s" % (task, H.task_row(stack, task))
    return row


def _proc_limits(pid):
    """/proc/PID/limits as {"Max open files": (soft, hard)}."""
    out = {}
    with open("/proc/%d/limits" % pid) as f:
        next(f)
        for line in f:
            fields = line[26:].split()
            out[line[:26].strip()] = (fields[0], fields[1])
    return out


def _job_spec(stack, task):
    return H.read_json_file(os.path.join(H.job_dir(stack, task), "spec.json")) or {}


def _stdout(stack, task):
    try:
        with open(os.path.join(H.job_dir(stack, task), "stdout.log"), "rb") as f:
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


# ---------------------------------------------------------------------------
# What enforces what


def test_root_and_health_say_what_enforces_each_limit(stack):
    lim = _enforcement(stack)
    assert set(lim) == LIMIT_NAMES, lim
    for name, how in lim.items():
        assert how.split(" ")[0].rstrip(":") in ("cgroup", "rlimit", "none"), (name, how)
    # rlimits alone stand in for what no controller covers
    assert lim["open_files"] == "rlimit RLIMIT_NOFILE"
    assert lim["file_size"] == "rlimit RLIMIT_FSIZE"
    assert lim["cpu_seconds"] == "rlimit RLIMIT_CPU"
    assert lim["memory"].startswith(("cgroup memory.max", "rlimit RLIMIT_AS")), lim
    assert lim["processes"].startswith(("cgroup pids.max", "rlimit RLIMIT_NPROC")), lim
    assert lim["cpu"] == "cgroup cpu.max" or lim["cpu"].startswith("none"), lim
    # without job cgroups nothing can be a cgroup's
    if H.kill_mode(stack) == "process-group":
        assert not [n for n, h in lim.items() if h.startswith("cgroup")], lim
    health = H.get(stack, "/health").json["result"]
    assert health["runner"]["limits"] == lim, health
    # it is the runner's row, as the runner wrote it
    (row,) = H.db(stack, "SELECT limits FROM runner")
    assert json.loads(row[0]) == lim


def test_process_group_mode_enforces_with_rlimits_only(fresh_stack):
    stack = fresh_stack(config={"cgroup": "off"})
    lim = _enforcement(stack)
    assert lim["memory"].startswith("rlimit RLIMIT_AS"), lim
    assert lim["processes"].startswith("rlimit RLIMIT_NPROC"), lim
    assert lim["cpu"].startswith("none"), lim
    r = H.deploy(stack, {"name": H.new_name(), "artifact": "ab" * 32,
                         "command": ["./x"], "limits": {"cpu": 1}})
    assert r.status == 422 and r.error["detail"].startswith("spec.limits.cpu: "), r


# ---------------------------------------------------------------------------
# The names


@pytest.mark.parametrize("old,new", [("nofile", "open_files"), ("nproc", "processes"),
                                     ("fsize", "file_size")])
def test_old_limit_names_are_422_naming_the_new_one(stack, old, new):
    name = H.new_name("old")
    r = H.deploy(stack, {"name": name, "artifact": "ab" * 32, "command": ["./x"],
                         "limits": {old: 64}})
    assert r.status == 422 and r.error["type"] == "validation_error", r
    assert r.error["detail"].startswith("spec.limits.%s: unknown field" % old), r
    assert new in r.error["detail"], r
    assert H.project(stack, name) is None


@pytest.mark.parametrize("limits,field", [
    ({"cpu": 0}, "spec.limits.cpu"),
    ({"cpu": 2000}, "spec.limits.cpu"),
    ({"cpu": "1"}, "spec.limits.cpu"),
    ({"processes": 0}, "spec.limits.processes"),
    ({"memory": "12x"}, "spec.limits.memory"),
    ({"cpu_seconds": 1.5}, "spec.limits.cpu_seconds"),
])
def test_bad_limit_values_are_422(stack, limits, field):
    r = H.deploy(stack, {"name": H.new_name(), "artifact": "ab" * 32, "command": ["./x"],
                         "limits": limits})
    assert r.status == 422 and r.error["detail"].startswith(field + ": "), r


# ---------------------------------------------------------------------------
# Acted on: rlimits


def test_limits_reach_the_job_as_rlimits(stack, projects):
    name, task = _deploy(stack, projects, "idle", limits={
        "open_files": 123, "file_size": "1m", "cpu_seconds": 3600, "memory": "2g",
        "processes": 4000})
    p = H.wait_running(stack, name, task)
    lim = _proc_limits(p["pid"])
    # soft and hard alike: the job cannot raise them again
    assert lim["Max open files"] == ("123", "123"), lim
    assert lim["Max file size"] == ("1048576", "1048576"), lim
    # CPU: SIGXCPU at the soft limit, SIGKILL one CPU second later at the hard one
    assert lim["Max cpu time"] == ("3600", "3601"), lim
    shim_gets = _job_spec(stack, task)["limits"]
    want = {"open_files": 123, "file_size": 1 << 20, "cpu_seconds": 3600}
    # memory and processes are rlimits only where no controller takes them
    if _by_cgroup(stack, "memory"):
        assert lim["Max address space"] == ("unlimited", "unlimited"), lim
    else:
        assert lim["Max address space"] == (str(2 << 30), str(2 << 30)), lim
        want["memory"] = 2 << 30
    if _by_cgroup(stack, "processes"):
        assert lim["Max processes"][0] != "4000", lim
    else:
        assert lim["Max processes"] == ("4000", "4000"), lim
        want["processes"] = 4000
    # the runner hands the shim exactly the rlimits that apply
    assert shim_gets == want, shim_gets


def test_file_size_stops_a_write_past_it(stack, projects):
    name, task = _deploy(stack, projects, "script",
                         'head -c 300000 /dev/zero >"$HOSTAGENT_OUTPUT_DIR/big"; echo "rc=$?"',
                         restart="no", limits={"file_size": 100000})
    row = _wait_done(stack, task)
    assert row["state"] == "completed", row
    # head got SIGXFSZ at the limit (128 + 25), and the file stopped there
    assert "rc=153" in _stdout(stack, task), _stdout(stack, task)
    assert os.path.getsize(os.path.join(H.job_dir(stack, task), "output", "big")) == 100000


def test_cpu_seconds_ends_a_busy_loop(stack, projects):
    name, task = _deploy(stack, projects, "script", "while :; do :; done", restart="no",
                         limits={"cpu_seconds": 1})
    row = _wait_done(stack, task, 60)
    assert row["state"] == "failed", row
    # the soft limit sends SIGXCPU (the hard one, a second later, SIGKILL); no OOM
    assert (row["signal"], row["reason"]) == (24, "killed by signal XCPU"), row
    assert _oom_row(stack, task)[0] == 0
    # ended by the CPU it used, not by anything sooner
    assert row["completed_at"] - row["started_at"] >= 900, row


def test_open_files_is_what_ulimit_says(stack, projects):
    name, task = _deploy(stack, projects, "script", 'echo "nofile=$(ulimit -n)"', restart="no",
                         limits={"open_files": 77})
    row = _wait_done(stack, task)
    assert row["state"] == "completed", row
    assert "nofile=77" in _stdout(stack, task), _stdout(stack, task)


# ---------------------------------------------------------------------------
# Acted on: the job's cgroup (where the host delegates the controllers)


def _task_cgroup(stack, task):
    (row,) = H.db(stack, "SELECT cgroup FROM tasks WHERE id = ?", (task,))
    assert row[0], "task %s has no cgroup" % task
    return row[0]


def _read(path):
    with open(path) as f:
        return f.read().strip()


def test_memory_goes_to_memory_max_without_swap(stack, projects):
    _need_cgroup(stack, "memory")
    name, task = _deploy(stack, projects, "idle", limits={"memory": "64m"})
    H.wait_running(stack, name, task)
    cg = _task_cgroup(stack, task)
    assert _read(cg + "/memory.max") == str(64 << 20)
    if os.path.exists(cg + "/memory.swap.max"):
        assert _read(cg + "/memory.swap.max") == "0"
    assert "memory" not in _job_spec(stack, task)["limits"]


def test_processes_goes_to_pids_max(stack, projects):
    _need_cgroup(stack, "processes")
    name, task = _deploy(stack, projects, "idle", limits={"processes": 50})
    H.wait_running(stack, name, task)
    assert _read(_task_cgroup(stack, task) + "/pids.max") == "50"
    assert "processes" not in _job_spec(stack, task)["limits"]


def test_cpu_cores_go_to_cpu_max(stack, projects):
    _need_cgroup(stack, "cpu")
    name, task = _deploy(stack, projects, "idle", limits={"cpu": 0.5})
    H.wait_running(stack, name, task)
    assert _read(_task_cgroup(stack, task) + "/cpu.max") == "50000 100000"


# ---------------------------------------------------------------------------
# Refused: what nothing would enforce


def test_cpu_without_the_cpu_controller_is_422(stack):
    _need_no_cgroup(stack, "cpu")
    name = H.new_name("cpu")
    sha = H.upload_ok(stack, A.project_archive("tar.gz", version=H.new_marker("v")))
    r = H.deploy(stack, H.svc_spec(name, "idle", H.new_marker(), artifact=sha,
                                   limits={"cpu": 0.5}))
    assert r.status == 422 and r.error["type"] == "validation_error", r
    assert r.error["detail"].startswith("spec.limits.cpu: no cpu controller on this host"), r
    assert H.project(stack, name) is None
    assert H.db(stack, "SELECT count(*) FROM releases WHERE project = ?", (name,)) == [(0,)]


def test_processes_for_a_root_job_without_pids_is_422(fresh_stack):
    stack = fresh_stack(config={"run_user": "root", "allowed_users": "root, nobody"})
    _need_no_cgroup(stack, "processes")
    reg = H.Projects(stack)
    sha = H.upload_ok(stack, A.project_archive("tar.gz", version=H.new_marker("v")))
    try:
        # the run user (root) by default, and root by name: both refused, saying why
        for user in ({}, {"user": "root"}):
            name = H.new_name("root")
            r = H.deploy(stack, H.svc_spec(name, "idle", H.new_marker(), artifact=sha,
                                           limits={"processes": 50}, **user))
            assert r.status == 422, r
            d = r.error["detail"]
            assert d.startswith("spec.limits.processes: ") and "root" in d and \
                "RLIMIT_NPROC" in d, r
            assert H.project(stack, name) is None
        # a job of another user gets its RLIMIT_NPROC
        name = reg.add(H.new_name("nobody"))
        marker = H.new_marker()
        reg.markers.append(marker)
        res = H.deploy_ok(stack, H.svc_spec(name, "idle", marker, artifact=sha, user="nobody",
                                            limits={"processes": 4000}))
        p = H.wait_running(stack, name, res["task"]["id"])
        assert _proc_limits(p["pid"])["Max processes"] == ("4000", "4000")
    finally:
        reg.cleanup()


def test_unrecorded_enforcement_is_accepted_and_the_runner_refuses_the_launch(fresh_stack):
    """Before a runner has said what enforces what (its row's limits are null, as
    after an upgrade until the new runner starts) a deploy is accepted; the runner
    then refuses to start what nothing would enforce, with the reason."""
    stack = fresh_stack()
    _need_no_cgroup(stack, "cpu")
    con = sqlite3.connect(H.db_path(stack), timeout=10)
    try:
        with con:
            con.execute("UPDATE runner SET limits = NULL")
    finally:
        con.close()
    assert H.get(stack, "/").json["result"]["limits"] is None
    reg = H.Projects(stack)
    sha = H.upload_ok(stack, A.project_archive("tar.gz", version=H.new_marker("v")))
    name = reg.add(H.new_name("late"))
    marker = H.new_marker()
    reg.markers.append(marker)
    try:
        H.deploy_ok(stack, H.svc_spec(name, "idle", marker, artifact=sha, limits={"cpu": 1}))
        p = H.wait_project(stack, name, lambda q: q["state"] == "failed", 30, "failed")
        assert "limits.cpu" in (p["state_reason"] or ""), p
        assert not H.procs_with(marker)
    finally:
        reg.cleanup()


# ---------------------------------------------------------------------------
# Out of memory, recorded as such


def _manifest_run(stack, name, task):
    r = H.logs_archive(stack, name)
    assert r.status == 200, r
    m = H.manifest_in(H.archive_members(r.body, "tar"))
    return next(run for run in m["runs"] if run["task_id"] == task)


def _oom_row(stack, task):
    (row,) = H.db(stack, "SELECT oom, reason, signal FROM tasks WHERE id = ?", (task,))
    return row


def test_oom_kill_in_the_cgroup_is_recorded(stack, projects):
    _need_cgroup(stack, "memory")
    name, task = _deploy(stack, projects, "script",
                         "exec python3 -c 'x = bytearray(512 << 20); print(len(x))'",
                         restart="no", limits={"memory": "64m"})
    row = _wait_done(stack, task, 60)
    assert row["state"] == "failed", row
    assert _oom_row(stack, task) == (1, "killed by signal KILL (out of memory)", 9)
    run = _manifest_run(stack, name, task)
    assert run["oom"] is True and run["reason"].endswith("(out of memory)"), run


def test_sigkill_under_an_address_space_limit_is_not_taken_for_an_oom(stack, projects):
    """Without a memory controller the agent cannot see an OOM killer's count
    (docs/operations.md): a job with a memory limit that dies of a SIGKILL is
    recorded as killed, never guessed to be out of memory."""
    _need_no_cgroup(stack, "memory")
    name, task = _deploy(stack, projects, "script", "kill -KILL $$", restart="no",
                         limits={"memory": "1g"})
    row = _wait_done(stack, task)
    assert row["state"] == "failed", row
    assert _oom_row(stack, task) == (0, "killed by signal KILL", 9)
    run = _manifest_run(stack, name, task)
    assert run["oom"] is False and run["killed"] is False, run
    # the same end without a memory limit: the same record
    name, task = _deploy(stack, projects, "script", "kill -KILL $$", restart="no")
    _wait_done(stack, task)
    assert _oom_row(stack, task) == (0, "killed by signal KILL", 9)
    assert _manifest_run(stack, name, task)["oom"] is False
