# SPDX-License-Identifier: MIT
"""HTTP, process and polling helpers for the artifact and project tests.

Built on http.client and raw sockets rather than the stack fixture's .req,
because these tests need what a JSON helper does not do: raw and streamed
bodies, multipart, cut-off uploads, a Content-Length that is a lie, and
reading a response while it is still being written. They only need from the
fixture: .url, .token, .data_dir (and .kill_runner/.start_runner/
.fcgi_worker_pids in the crash tests).

Nothing here sleeps blindly: every wait is a poll with a deadline.
"""

import http.client as httpclient
import io
import json
import os
import signal
import socket
import sqlite3
import tarfile
import time
import urllib.parse
import uuid
import zipfile

import pytest

import archives

_DEFAULT = object()


# ---------------------------------------------------------------------------
# HTTP


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case name → value (repeats joined by ", ")
        self.body = body

    @property
    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def result(self):
        j = self.json
        return j.get("result") if isinstance(j, dict) else None

    @property
    def error(self):
        j = self.json
        e = j.get("error") if isinstance(j, dict) else None
        return e if isinstance(e, dict) else {}

    def __repr__(self):
        b = self.body[:600]
        return "<HTTP %s %r>" % (self.status, b)


def _hostport(stack, tls=False):
    u = urllib.parse.urlsplit(stack.tls_url if tls else stack.url)
    return u.hostname, u.port or (443 if u.scheme == "https" else 80), u.path.rstrip("/")


def connect(stack, timeout=120, tls=False):
    host, port, _ = _hostport(stack, tls)
    if tls:
        import ssl
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return httpclient.HTTPSConnection(host, port, timeout=timeout, context=ctx)
    return httpclient.HTTPConnection(host, port, timeout=timeout)


def _headers(stack, headers, token):
    h = {}
    tok = stack.token if token is _DEFAULT else token
    if tok:
        h["Authorization"] = "Bearer " + tok
    if headers:
        h.update(headers)
    return h


def _collect(r):
    hs = {}
    for k, v in r.getheaders():
        k = k.lower()
        hs[k] = hs[k] + ", " + v if k in hs else v
    return hs


def http(stack, method, path, body=None, headers=None, token=_DEFAULT, timeout=120, tls=False):
    """One request. body: bytes, str, a dict/list (sent as JSON), an open
    file (send Content-Length yourself) or None. Returns a Resp."""
    h = _headers(stack, headers, token)
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    c = connect(stack, timeout, tls)
    try:
        c.request(method, _hostport(stack, tls)[2] + path, body=body, headers=h)
        r = c.getresponse()
        return Resp(r.status, _collect(r), r.read())
    finally:
        c.close()


def get(stack, path, **kw):
    return http(stack, "GET", path, **kw)


def post(stack, path, body=None, **kw):
    return http(stack, "POST", path, body, **kw)


def multipart(parts):
    """parts: (name, data, filename or None, content_type or None). → (body, content type)."""
    boundary = "hostagent-e2e-" + uuid.uuid4().hex
    out = io.BytesIO()
    for name, data, filename, ctype in parts:
        if isinstance(data, str):
            data = data.encode()
        out.write(b"--" + boundary.encode() + b"\r\n")
        disp = 'Content-Disposition: form-data; name="%s"' % name
        if filename is not None:
            disp += '; filename="%s"' % filename
        out.write(disp.encode() + b"\r\n")
        if ctype:
            out.write(b"Content-Type: " + ctype.encode() + b"\r\n")
        out.write(b"\r\n" + data + b"\r\n")
    out.write(b"--" + boundary.encode() + b"--\r\n")
    return out.getvalue(), "multipart/form-data; boundary=" + boundary


# ---------------------------------------------------------------------------
# Artifacts


def upload(stack, data, sha256=None, headers=None, timeout=300):
    path = "/api/v1/artifacts" + ("?sha256=" + sha256 if sha256 else "")
    h = {"Content-Type": "application/octet-stream"}
    h.update(headers or {})
    return post(stack, path, data, headers=h, timeout=timeout)


def upload_ok(stack, data):
    r = upload(stack, data)
    assert r.status in (200, 201), r
    return r.result["sha256"]


def artifact_rows(stack, sha=None):
    if sha:
        return db(stack, "SELECT sha256, size, format, entries FROM artifacts WHERE sha256 = ?",
                  (sha,))
    return db(stack, "SELECT sha256, size, format, entries FROM artifacts")


def artifacts_dir(stack):
    return os.path.join(stack.data_dir, "artifacts")


def list_files(root):
    """Every regular file under root (relative path → size)."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            try:
                out[os.path.relpath(p, root)] = os.lstat(p).st_size
            except FileNotFoundError:
                pass
    return out


def storage_snapshot(stack):
    """What an upload may leave behind: artifact files, temporary files
    and rows. Two snapshots around a rejected upload must be equal."""
    snap = {"rows": sorted(r[0] for r in artifact_rows(stack))}
    for sub in ("artifacts", "tmp", "releases"):
        snap[sub] = sorted(list_files(os.path.join(stack.data_dir, sub)))
    return snap


def wait_storage_back_to(stack, before, timeout=10):
    """Polls until storage_snapshot equals before (a killed request may be
    cleaned up a little after its response); returns the last snapshot."""
    last = [None]

    def same():
        last[0] = storage_snapshot(stack)
        return last[0] == before

    if not poll(same, timeout):
        return last[0]
    return last[0]


# ---------------------------------------------------------------------------
# Database (read-only, straight from the file: the handlers' answers are
# checked against what was committed)


def db_path(stack):
    for attr in ("db", "database", "db_path"):
        p = getattr(stack, attr, None)
        if isinstance(p, (str, os.PathLike)) and os.path.exists(p):
            return str(p)
    return os.path.join(stack.data_dir, "db", "hostagent.db")


def db(stack, query, params=()):
    con = sqlite3.connect("file:%s?mode=ro" % db_path(stack), uri=True, timeout=10)
    try:
        return con.execute(query, params).fetchall()
    finally:
        con.close()


# ---------------------------------------------------------------------------
# Projects

SVC_CMD = "./bin/svc.sh"


def new_marker(prefix="hamk"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def new_name(prefix="p"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def svc_spec(name, mode, marker, *args, **fields):
    spec = {"name": name, "command": [SVC_CMD, mode, marker] + [str(a) for a in args]}
    spec.update(fields)
    return spec


def deploy_svc(stack, projects, mode, *args, prefix="p", version=None, **fields):
    """Uploads a fresh artifact (its VERSION file says version) and deploys
    svc.sh MODE MARKER ARGS by JSON as a new project of projects (cleaned up
    with it): (name, marker, the 202's result)."""
    sha = upload_ok(stack, archives.project_archive("tar.gz",
                                                    version=version or new_marker("v")))
    name = projects.add(new_name(prefix), None)
    marker = new_marker()
    projects.markers.append(marker)
    return name, marker, deploy_ok(stack, svc_spec(name, mode, marker, *args, artifact=sha,
                                                   **fields))


def deploy(stack, spec, artifact=None, filename="build.tar.gz", headers=None):
    """JSON deploy (spec names "artifact") or, with artifact bytes, the
    multipart form `curl -F spec=... -F artifact=@build.tar.gz` sends."""
    if artifact is None:
        return post(stack, "/api/v1/projects", spec, headers=headers)
    body, ctype = multipart([
        ("spec", json.dumps(spec), None, "application/json"),
        ("artifact", artifact, filename, "application/octet-stream")])
    h = {"Content-Type": ctype}
    h.update(headers or {})
    return post(stack, "/api/v1/projects", body, headers=h, timeout=300)


def deploy_ok(stack, spec, artifact=None, **kw):
    r = deploy(stack, spec, artifact, **kw)
    assert r.status == 202, r
    res = r.result
    pj = res["project"]
    assert (pj if isinstance(pj, str) else pj.get("name")) == spec["name"], res
    assert isinstance(res["release"]["id"], int) and isinstance(res["release"]["seq"], int), res
    assert res["command"]["id"], res
    if spec.get("start", True):
        assert res["task"]["id"], res
    else:
        assert res.get("task") is None, res
    return res


def project(stack, name):
    r = get(stack, "/api/v1/projects/" + name)
    if r.status == 404:
        return None
    assert r.status == 200, r
    return r.result


def task_of(p):
    """The current task id of a project as GET shows it."""
    for k in ("task_id", "current_task"):
        v = p.get(k)
        if isinstance(v, str):
            return v
        if isinstance(v, dict):
            return v.get("id")
    t = p.get("task")
    if isinstance(t, dict):
        return t.get("id")
    return t


def release_of(p):
    r = p.get("release")
    return r if isinstance(r, dict) else {"id": r}


def ports_of(p):
    """{name: port} from a project's "ports", whichever JSON shape it has."""
    ports = p.get("ports") or {}
    if isinstance(ports, dict):
        return {k: (v["port"] if isinstance(v, dict) else v) for k, v in ports.items()}
    return {e["name"]: e["port"] for e in ports}


def control(stack, name, action, body=None):
    return post(stack, "/api/v1/projects/%s/%s" % (name, action), body if body is not None else {})


def delete(stack, name, purge=False):
    return http(stack, "DELETE", "/api/v1/projects/%s%s" % (name, "?purge=true" if purge else ""))


def wait_project(stack, name, pred, timeout=30, what="condition"):
    """Polls GET /api/v1/projects/{name} until pred(project) is true."""
    last = [None]

    def check():
        last[0] = project(stack, name)
        return last[0] is not None and pred(last[0])

    if not poll(check, timeout):
        raise AssertionError("project %s: %s not reached in %ss; last: %s"
                             % (name, what, timeout, json.dumps(last[0])[:2000]))
    return last[0]


def wait_running(stack, name, task_id=None, timeout=30):
    """A running project whose pid is alive (and whose task is task_id)."""
    def ok(p):
        return (p.get("state") == "running" and isinstance(p.get("pid"), int) and p["pid"] > 0
                and pid_alive(p["pid"]) and (task_id is None or task_of(p) == task_id))
    return wait_project(stack, name, ok, timeout, "running%s" % (" with task " + task_id
                                                                 if task_id else ""))


def wait_serving(stack, name, task_id, timeout=30):
    """An "http" service that answers on its port "http" (bound and serving,
    not only exec'd), still as task_id."""
    port = ports_of(wait_running(stack, name, task_id, timeout))["http"]

    def answers():
        try:
            return http_get_port(port, "/VERSION")[0] == 200
        except OSError:
            return False
    assert poll(answers, timeout), f"{name}: nothing answers on port {port}"
    return wait_running(stack, name, task_id, timeout)


def wait_ignoring_term(marker, timeout=10):
    """The TERM-ignoring service mode ignores SIGTERM only once its child is up: the
    child starts after `trap '' TERM`, and a stop sent earlier (two marker
    processes alone may be the script and a command substitution running
    before the trap) would end it at once."""
    assert poll(lambda: procs_with(marker + "-child"), timeout), f"{marker}: no child"


def job_dir(stack, task_id):
    return os.path.join(stack.data_dir, "jobs", task_id)


def wait_started(stack, task_id, timeout=20):
    """Polls until the svc.sh run has printed "started" (its traps are set:
    a signal sent before that would hit the shell's default action)."""
    path = os.path.join(job_dir(stack, task_id), "stdout.log")

    def started():
        try:
            with open(path, "rb") as f:
                return b"started " in f.read()
        except OSError:
            return False
    assert poll(started, timeout), "task %s never printed 'started'" % task_id


def read_json_file(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return None


def read_env(stack, task_id, timeout=20):
    """The environment the job dumped into its output directory."""
    path = os.path.join(job_dir(stack, task_id), "output", "env.bin")
    assert poll(lambda: os.path.exists(path), timeout), "no env dump at " + path
    with open(path, "rb") as f:
        raw = f.read()
    env = {}
    for item in raw.split(b"\0"):
        if b"=" in item:
            k, v = item.split(b"=", 1)
            env[k.decode()] = v.decode(errors="replace")
    return env


def task_row(stack, task_id):
    rows = db(stack, "SELECT id, state, exit_code, signal, pid, started_at, completed_at, killed,"
                     " reason FROM tasks WHERE id = ?", (task_id,))
    if not rows:
        return None
    keys = ("id", "state", "exit_code", "signal", "pid", "started_at", "completed_at", "killed",
            "reason")
    return dict(zip(keys, rows[0]))


def project_tasks(stack, name):
    rows = db(stack, "SELECT id, state, exit_code, started_at, completed_at FROM tasks"
                     " WHERE project = ? ORDER BY created_at, rowid", (name,))
    return [dict(zip(("id", "state", "exit_code", "started_at", "completed_at"), r)) for r in rows]


def kill_mode(stack):
    """The runner's kill mode as GET / or /health says it ("cgroup" or
    "process-group"); None when neither says it."""
    def find(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k == "kill_mode" and isinstance(v, str):
                    return v
                f = find(v)
                if f:
                    return f
        elif isinstance(o, list):
            for v in o:
                f = find(v)
                if f:
                    return f
        return None

    for path in ("/", "/health"):
        m = find(get(stack, path).json)
        if m:
            return m
    return None


class Projects:
    """Names to delete (purged) after a test, and markers whose processes
    must not survive it."""

    def __init__(self, stack):
        self.stack = stack
        self.names = []
        self.markers = []

    def add(self, name, marker=None):
        self.names.append(name)
        if marker:
            self.markers.append(marker)
        return name

    def cleanup(self):
        for n in self.names:
            try:
                delete(self.stack, n, purge=True)
            except OSError:
                pass
        # A failed test must not leave its services behind for the next one.
        deadline = time.monotonic() + 15
        for m in self.markers:
            while procs_with(m) and time.monotonic() < deadline:
                time.sleep(0.05)
            for pid, _ in procs_with(m):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


@pytest.fixture
def projects(stack):
    reg = Projects(stack)
    yield reg
    reg.cleanup()


# ---------------------------------------------------------------------------
# Logs


def logs_archive(stack, name, fmt=None, **params):
    q = dict(params)
    if fmt:
        q["format"] = fmt
    path = "/api/v1/projects/%s/logs" % name
    if q:
        path += "?" + urllib.parse.urlencode(q)
    return get(stack, path, timeout=150)


def archive_members(data, fmt):
    """name → bytes of every regular file in a tar, tar.gz or zip."""
    out = {}
    if fmt == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for i in z.infolist():
                if not i.is_dir():
                    out[i.filename] = z.read(i)
        return out
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as t:
        for m in t:
            if m.isfile():
                out[m.name] = t.extractfile(m).read()
    return out


def runs_in(members):
    """task id → {"stdout": bytes, "stderr": bytes} from runs/<id>/*.log,
    whatever directory the bundle puts runs/ under."""
    runs = {}
    for path, data in members.items():
        parts = path.split("/")
        if "runs" in parts:
            i = parts.index("runs")
            if len(parts) == i + 3 and parts[i + 2] in ("stdout.log", "stderr.log"):
                runs.setdefault(parts[i + 1], {})[parts[i + 2][:-4]] = data
    return runs


def manifest_in(members):
    for path, data in members.items():
        if path.split("/")[-1] == "manifest.json":
            return json.loads(data)
    return None


def follow(stack, path, timeout=60, on_chunk=None):
    """GETs a streaming text response; returns (status, headers, body, ended)
    where ended says the server closed the stream by itself."""
    c = connect(stack, timeout)
    c.request("GET", _hostport(stack)[2] + path, headers=_headers(stack, None, _DEFAULT))
    r = c.getresponse()
    chunks = []
    ended = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            b = r.read1(65536) if hasattr(r, "read1") else r.read(1)
            if not b:
                ended = True
                break
            chunks.append(b)
            if on_chunk:
                on_chunk(b"".join(chunks))
    except socket.timeout:
        pass
    finally:
        c.close()
    return r.status, _collect(r), b"".join(chunks), ended


# ---------------------------------------------------------------------------
# Raw uploads that misbehave


def raw_request_head(stack, method, path, headers):
    host, port, base = _hostport(stack)
    lines = ["%s %s%s HTTP/1.1" % (method, base, path), "Host: %s:%d" % (host, port)]
    lines += ["%s: %s" % kv for kv in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def cut_upload(stack, data, announced):
    """Announces Content-Length `announced`, sends `data` (fewer bytes), then
    closes the connection. Returns whatever came back before the close."""
    host, port, _ = _hostport(stack)
    s = socket.create_connection((host, port), timeout=30)
    head = raw_request_head(stack, "POST", "/api/v1/artifacts", {
        "Authorization": "Bearer " + stack.token,
        "Content-Type": "application/octet-stream",
        "Content-Length": str(announced)})
    try:
        s.sendall(head)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        got = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got += b
        except (socket.timeout, ConnectionResetError):
            pass
        return got
    finally:
        s.close()


def announce_only(stack, length, path="/api/v1/artifacts"):
    """Sends only the headers of a POST with Content-Length `length` and reads
    the answer nginx gives before any body byte. Returns a Resp."""
    host, port, _ = _hostport(stack)
    s = socket.create_connection((host, port), timeout=30)
    try:
        s.sendall(raw_request_head(stack, "POST", path, {
            "Authorization": "Bearer " + stack.token,
            "Content-Type": "application/octet-stream",
            "Content-Length": str(length)}))
        r = httpclient.HTTPResponse(s, method="POST")
        r.begin()
        return Resp(r.status, _collect(r), r.read())
    finally:
        s.close()


# ---------------------------------------------------------------------------
# Processes


def procs_with(marker):
    """(pid, cmdline) of every live (non-zombie) process whose argv holds marker."""
    out = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if marker.encode() in cmd and pid_alive(int(d)):
            out.append((int(d), cmd.replace(b"\0", b" ").decode(errors="replace")))
    return out


def proc_stat(pid):
    """state, ppid, pgrp, session and starttime from /proc/<pid>/stat, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return {"state": rest[0], "ppid": int(rest[1]), "pgrp": int(rest[2]),
            "session": int(rest[3]), "starttime": int(rest[19])}


def proc_uids(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:]]
    return None


def proc_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pid_alive(pid):
    st = proc_stat(pid)
    return st is not None and st["state"] not in ("Z", "X")


def wait_gone(pids_or_marker, timeout=20):
    """Polls until no process of the marker (or none of the pids) is alive."""
    if isinstance(pids_or_marker, str):
        return poll(lambda: not procs_with(pids_or_marker), timeout, 0.01)
    return poll(lambda: not any(pid_alive(p) for p in pids_or_marker), timeout, 0.01)


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st["ppid"] == pid:
                out.append(int(d))
    return out


# ---------------------------------------------------------------------------
# Polling


def poll(fn, timeout, interval=0.02):
    """Calls fn until it returns something truthy (returned) or the deadline
    passes (returns the last falsy value). The interval grows to 0.2 s."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(interval)
        interval = min(interval * 1.5, 0.2)


def stays(fn, window, what, interval=0.02):
    """A negative check over a time window: calls fn until window seconds
    have passed and raises AssertionError naming what as soon as it returns
    something falsy. Only for after a positive wait has shown that the
    system settled, with a window derived from the configured timing."""
    deadline = time.monotonic() + window
    while True:
        v = fn()
        if not v:
            raise AssertionError("%s: no longer true (%r)" % (what, v))
        if time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def command_row(stack, cmd_id):
    """The commands row the runner settles (state, result, reason), or None."""
    rows = db(stack, "SELECT state, result, reason FROM commands WHERE id = ?", (cmd_id,))
    if not rows:
        return None
    r = dict(zip(("state", "result", "reason"), rows[0]))
    r["result"] = json.loads(r["result"]) if r["result"] else None
    return r


def wait_command(stack, cmd_id, timeout=30):
    """Polls until the runner has settled the command (applied or failed)."""
    last = [None]

    def settled():
        last[0] = command_row(stack, cmd_id)
        return last[0] is not None and last[0]["state"] in ("applied", "failed")

    if not poll(settled, timeout):
        raise AssertionError("command %s not settled in %ss: %s" % (cmd_id, timeout, last[0]))
    return last[0]


def project_events(stack, name):
    """(type, message) of every project.* event of the project, oldest first."""
    return db(stack, "SELECT type, message FROM events WHERE project = ? AND type LIKE"
                     " 'project.%' ORDER BY id", (name,))


def wait_clock_past(ms):
    """Polls until the wall clock (ms since the epoch) is past ms."""
    assert poll(lambda: int(time.time() * 1000) > ms, 5, 0.001)


def http_get_port(port, path="/", timeout=2):
    c = httpclient.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()
