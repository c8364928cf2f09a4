# SPDX-License-Identifier: MIT
"""The stack end to end (issue 2): service identity, liveness, health and
readiness, the response envelope, errors, tokens and their scopes, body and
rate limits, and the handler pool's resilience (a killed worker is replaced;
SIGTERM lets the request in flight finish). Everything goes through the real
nginx, the real daemons and a real database.
"""

import hashlib
import io
import os
import re
import signal
import socket
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest

import helpers
from helpers import assert_envelope, wait_for

RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def error_type(body):
    return body.get("error", {}).get("type") if isinstance(body, dict) else None


# ---- agent and health -----------------------------------------------------------

@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_root_identifies_the_service(stack, tls):
    status, headers, body = stack.req("GET", "/", token=None, tls=tls)
    assert status == 200, body
    assert_envelope(status, headers, body)
    r = body["result"]
    assert r["name"] == "hostagent"
    assert isinstance(r["version"], str) and r["version"]
    assert r["hostname"] == socket.gethostname()
    assert r["api"] == "/api/v1", r


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_ping_answers_pong(stack, method):
    status, headers, body = stack.req(method, "/ping", token=None)
    assert status == 200, body
    assert_envelope(status, headers, body)
    assert body["result"] == "pong"


def test_health_has_the_documented_shape(stack):
    status, headers, body = stack.req("GET", "/health", token=None)
    assert status == 200, body
    assert_envelope(status, headers, body)
    h = body["result"]
    assert h["status"] == "healthy", h
    assert isinstance(h["version"], str) and h["version"]
    assert RFC3339_MS.match(h["timestamp"]), h["timestamp"]
    assert h["database"]["connected"] is True
    assert is_num(h["database"]["latency_ms"]) and h["database"]["latency_ms"] >= 0
    assert h["runner"]["alive"] is True
    for k in ("total", "idle", "busy", "offline"):
        assert is_int(h["workers"][k]) and h["workers"][k] >= 0, (k, h["workers"])
    for k in ("pending", "running", "completed"):
        assert is_int(h["queue"][k]) and h["queue"][k] >= 0, (k, h["queue"])


def test_ready_follows_the_runner(fresh_stack):
    s = fresh_stack()
    status, _, body = s.req("GET", "/ready", token=None)
    assert status == 200, body
    assert body["result"]["ready"] is True

    s.kill_runner(signal.SIGKILL)
    t0 = time.monotonic()
    wait_for(lambda: s.req("GET", "/ready", token=None)[0] == 503, 2.0,
             "/ready to answer 503 after the runner was killed")
    took = time.monotonic() - t0
    status, headers, body = s.req("GET", "/health", token=None)
    assert body["result"]["runner"]["alive"] is False, body
    assert body["result"]["status"] != "healthy", body

    s.start_runner()
    wait_for(lambda: s.req("GET", "/ready", token=None)[0] == 200, 15,
             "/ready to answer 200 again once the runner is back")
    status, _, body = s.req("GET", "/health", token=None)
    assert body["result"]["runner"]["alive"] is True, body
    print(f"/ready turned 503 {took:.2f} s after the runner was killed")


# ---- the envelope and errors ----------------------------------------------------

def test_every_answer_has_the_envelope(stack):
    big = b'{"name":"' + b"x" * (1 << 20) + b'"}'
    cases = [
        ("GET", "/", None, None, 200),
        ("GET", "/ping", None, None, 200),
        ("POST", "/ping", None, None, 200),
        ("GET", "/health", None, None, 200),
        ("GET", "/ready", None, None, 200),
        ("GET", "/api/v1/tokens", None, helpers.DEFAULT, 200),
        ("GET", "/api/v1/no-such-thing", None, helpers.DEFAULT, 404),
        ("GET", "/no-such-thing", None, None, 404),
        ("DELETE", "/ping", None, None, 405),
        ("GET", "/api/v1/tokens", None, None, 401),
        ("POST", "/api/v1/tokens", b'{"name":', helpers.DEFAULT, 400),
        ("POST", "/api/v1/tokens", big, helpers.DEFAULT, 413),
    ]
    seen = set()
    for method, path, body, token, want in cases:
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        status, headers, data = stack.req(method, path, body=body, token=token, headers=hdrs)
        assert status == want, (method, path, status, data)
        assert_envelope(status, headers, data)
        assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-Id"]), headers["X-Request-Id"]
        seen.add(headers["X-Request-Id"])
    assert len(seen) == len(cases), "request ids repeat"


def test_unknown_paths_are_json_404(stack):
    for path in ("/api/v1/no-such-thing", "/no-such-thing", "/_hostagent/artifacts/x",
                 "/_hostagent/bundles/x.tar", "/_hostagent/nothing"):
        status, headers, body = stack.req("GET", path)
        assert status == 404, (path, body)
        assert_envelope(status, headers, body)
        assert error_type(body) == "not_found", (path, body)


@pytest.mark.parametrize("method,path,allowed", [
    ("GET", "/api/v1/projects/demo/start", {"POST"}),
    ("DELETE", "/ping", {"GET", "POST"}),
    ("PUT", "/api/v1/tokens", {"GET", "POST"}),
])
def test_wrong_method_is_405_with_allow(stack, method, path, allowed):
    status, headers, body = stack.req(method, path)
    assert status == 405, body
    assert_envelope(status, headers, body)
    assert error_type(body) == "method_not_allowed"
    allow = {m.strip() for m in (headers.get("Allow") or "").split(",") if m.strip()}
    assert allowed <= allow, f"Allow: {headers.get('Allow')}"
    assert method not in allow


def test_malformed_json_is_400(stack):
    for raw in (b'{"name":', b"not json", b'["a list"]'[:-1]):
        status, headers, body = stack.req("POST", "/api/v1/tokens", body=raw,
                                          headers={"Content-Type": "application/json"})
        assert status == 400, (raw, body)
        assert_envelope(status, headers, body)
        assert error_type(body) == "bad_request"


def test_json_body_over_1_mib_is_413(stack):
    body = b'{"name":"' + b"x" * (1 << 20) + b'","scopes":["read"]}'
    status, headers, data = stack.req("POST", "/api/v1/tokens", body=body,
                                      headers={"Content-Type": "application/json"})
    assert status == 413, data
    assert_envelope(status, headers, data)
    assert error_type(data) == "payload_too_large"
    assert not [r for r in stack.sql("SELECT name FROM tokens") if r[0].startswith("xxxx")]


def test_unknown_field_is_422_naming_it(stack):
    status, headers, body = stack.req("POST", "/api/v1/tokens",
                                      body={"name": "typo", "scopes": ["read"], "scoeps": 1})
    assert status == 422, body
    assert_envelope(status, headers, body)
    assert error_type(body) == "validation_error"
    assert "scoeps" in body["error"]["detail"]
    assert not stack.sql("SELECT id FROM tokens WHERE name = 'typo'")


@pytest.mark.parametrize("scopes", [["root"], [], "everything", [1]])
def test_bad_scopes_are_422_naming_the_field(stack, scopes):
    status, headers, body = stack.req("POST", "/api/v1/tokens",
                                      body={"name": "bad-scopes", "scopes": scopes})
    assert status == 422, body
    assert_envelope(status, headers, body)
    assert error_type(body) == "validation_error"
    assert "scopes" in body["error"]["detail"]
    assert not stack.sql("SELECT id FROM tokens WHERE name = 'bad-scopes'")


# ---- tokens -------------------------------------------------------------------

def token_by_name(stack, name):
    status, _, body = stack.req("GET", "/api/v1/tokens?limit=1000")
    assert status == 200, body
    found = [t for t in body["result"] if t["name"] == name]
    return found[0] if found else None


def test_hostagentctl_creates_lists_and_revokes_tokens(stack):
    token = stack.create_token("ctl-reader", "read")
    assert re.fullmatch(r"hat_[A-Za-z0-9_-]{43}", token), token
    listed = stack.ctl("token", "list").stdout
    assert "ctl-reader" in listed
    assert token not in listed
    assert hashlib.sha256(token.encode()).hexdigest() not in listed

    status, _, body = stack.req("GET", "/api/v1/artifacts", token=token)
    assert status == 200, body

    tid = token_by_name(stack, "ctl-reader")["id"]
    assert tid in listed
    stack.ctl("token", "revoke", tid)
    assert "ctl-reader" not in stack.ctl("token", "list").stdout
    status, headers, body = stack.req("GET", "/api/v1/artifacts", token=token)
    assert status == 401, body
    assert_envelope(status, headers, body)
    assert error_type(body) == "unauthorized"


def test_api_token_lifecycle_and_scopes(stack):
    status, headers, body = stack.req("POST", "/api/v1/tokens",
                                      body={"name": "api-reader", "scopes": ["read"]})
    assert status == 201, body
    assert_envelope(status, headers, body)
    new = body["result"]
    token, tid = new["token"], new["id"]
    assert re.fullmatch(r"hat_[A-Za-z0-9_-]{43}", token), token
    token_hash = hashlib.sha256(token.encode()).hexdigest()

    # stored hashed, shown once: never again in a list or a get
    assert stack.sql("SELECT hash FROM tokens WHERE id = ?", (tid,))[0][0] == token_hash
    assert not stack.sql("SELECT id FROM tokens WHERE hash = ?", (token,))
    for path in ("/api/v1/tokens", f"/api/v1/tokens/{tid}"):
        status, headers, body = stack.req("GET", path)
        assert status == 200, (path, body)
        raw = repr(body)
        assert token not in raw and token_hash not in raw, f"{path} exposes the token: {raw}"
        items = body["result"] if isinstance(body["result"], list) else [body["result"]]
        for t in items:
            assert "hash" not in t and "token" not in t, t
    listed = token_by_name(stack, "api-reader")
    assert listed["id"] == tid
    assert sorted(listed["scopes"] if isinstance(listed["scopes"], list)
                  else listed["scopes"].split(",")) == ["read"]

    # the read scope reads, and is refused what needs admin
    status, _, body = stack.req("GET", "/api/v1/artifacts", token=token)
    assert status == 200, body
    status, headers, body = stack.req("POST", "/api/v1/tokens", token=token,
                                      body={"name": "escalate", "scopes": ["admin"]})
    assert status == 403, body
    assert_envelope(status, headers, body)
    assert error_type(body) == "forbidden"
    status, _, body = stack.req("GET", "/api/v1/tokens", token=token)
    assert status == 403, body
    assert not stack.sql("SELECT id FROM tokens WHERE name = 'escalate'")

    # revoked: refused from then on
    status, _, body = stack.req("DELETE", f"/api/v1/tokens/{tid}")
    assert status == 200, body
    status, headers, body = stack.req("GET", "/api/v1/artifacts", token=token)
    assert status == 401, body
    assert error_type(body) == "unauthorized"
    assert token_by_name(stack, "api-reader") is None
    status, _, body = stack.req("DELETE", f"/api/v1/tokens/{tid}")
    assert status == 404, body


def test_token_use_is_recorded_after_the_read_snapshot(stack):
    """An authenticated GET runs in a read snapshot; the last_used_at touch
    waits for its COMMIT (the worker's call), and reads under a concurrent
    writer never fail. That the touch no longer writes inside the snapshot
    is proven deterministically by tests/unit/test_auth_touch.c."""
    import sqlite3
    tokens = [stack.create_token(f"touch-{i}", "read") for i in range(12)]
    ids = [row["id"] for row in stack.sql(
        "SELECT id FROM tokens WHERE name LIKE 'touch-%' AND last_used_at IS NULL")]
    assert len(ids) == len(tokens)
    stop = threading.Event()
    writes = []

    def writer():
        con = sqlite3.connect(str(stack.db), timeout=10, isolation_level=None)
        try:
            while not stop.is_set():
                con.execute("BEGIN IMMEDIATE")
                con.execute("UPDATE tokens SET name = name WHERE name LIKE 'touch-%'")
                con.execute("COMMIT")
                writes.append(1)
        finally:
            con.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        for tok in tokens:
            for path in ("/api/v1/artifacts", "/api/v1/projects", "/api/v1/artifacts"):
                status, _, body = stack.req("GET", path, token=tok)
                assert status == 200, (path, body)
    finally:
        stop.set()
        t.join(timeout=30)
    assert writes, "the concurrent writer never committed"
    rows = stack.sql("SELECT name, last_used_at FROM tokens WHERE name LIKE 'touch-%'")
    assert len(rows) == len(tokens)
    assert all(r["last_used_at"] is not None for r in rows), [tuple(r) for r in rows]
    log = (stack.log_dir / "fcgi.log").read_text(errors="replace")
    assert "cannot record its use" not in log, log[-2000:]


@pytest.mark.parametrize("auth", [
    None,
    "Bearer hat_" + "A" * 43,
    "Bearer not-a-token",
    "Basic dXNlcjpwYXNz",
    "Bearer ",
])
def test_missing_or_bad_token_is_401(stack, auth):
    headers = {"Authorization": auth} if auth is not None else {}
    status, hdrs, body = stack.req("GET", "/api/v1/tokens", token=None, headers=headers)
    assert status == 401, body
    assert_envelope(status, hdrs, body)
    assert error_type(body) == "unauthorized"


# ---- limits -----------------------------------------------------------------------

def test_rate_limit_answers_429_json(fresh_stack):
    s = fresh_stack(rate="1r/s", burst=1)
    statuses = []
    limited = None
    for _ in range(30):
        status, headers, body = s.req("GET", "/api/v1/tokens")
        statuses.append(status)
        if status == 429 and limited is None:
            limited = (status, headers, body)
    assert set(statuses) <= {200, 429}, statuses
    assert statuses[0] == 200, statuses
    assert limited is not None, f"no 429 in {statuses}"
    assert_envelope(*limited)
    assert error_type(limited[2]) == "rate_limited"
    # liveness and health are never rate limited
    for path in ["/ping", "/health", "/"] * 10:
        status, _, body = s.req("GET", path, token=None)
        assert status == 200, (path, body)


# ---- the handler pool ---------------------------------------------------------

def test_killed_worker_is_replaced(fresh_stack):
    s = fresh_stack(workers=4)
    before = wait_for(lambda: (lambda w: w if len(w) == 4 else None)(s.fcgi_worker_pids()),
                      30, "4 handler workers")
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    after = wait_for(
        lambda: (lambda w: w if len(w) == 4 and victim not in w else None)(s.fcgi_worker_pids()),
        30, "the killed worker to be replaced")
    assert set(after) - set(before), f"no new worker: before {before}, after {after}"
    for i in range(20):
        path = ("/ping", "/health", "/api/v1/tokens", "/")[i % 4]
        status, headers, body = s.req("GET", path)
        assert status == 200, (i, path, body)
        assert_envelope(status, headers, body)
    assert s.procs["fcgi"].poll() is None, "the pool master died"


def test_pool_down_is_a_json_502(fresh_stack):
    """With no handler left, nginx answers itself, in the envelope."""
    s = fresh_stack()
    workers = s.fcgi_worker_pids()
    assert workers
    s.kill("fcgi", signal.SIGKILL)
    # orphaned workers may still accept on the inherited socket for a moment
    wait_for(lambda: not [p for p in workers if helpers.proc_alive(p)], 15,
             "the orphaned workers to exit")
    for path in ("/ping", "/api/v1/tokens", "/api/v1/artifacts"):
        status, headers, body = s.req("GET", path)
        # nothing accepts on the pool's socket: nginx's own 502
        assert status == 502, (path, status, body)
        assert_envelope(status, headers, body)
        assert error_type(body) == "unavailable"


def make_tar(path, size):
    """An uncompressed tar with one file of size random bytes, streamed to path."""
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("payload.bin")
        info.size = size
        info.mode = 0o644
        info.mtime = int(time.time())

        class Random(io.RawIOBase):
            def __init__(self, n):
                self.left = n

            def readinto(self, b):
                n = min(len(b), self.left, 1 << 20)
                b[:n] = os.urandom(n)
                self.left -= n
                return n

            def readable(self):
                return True
        tar.addfile(info, io.BufferedReader(Random(size), 1 << 20))


def test_sigterm_to_the_pool_lets_the_request_in_flight_finish(fresh_stack):
    """A 50 MB upload is caught while a handler worker holds its file open
    (nginx has buffered the body by then), the pool master gets SIGTERM, and
    the upload must still be answered by the handler: 201, or a 4xx from
    validation, never a 502/503 from nginx."""
    s = fresh_stack(workers=4)
    workers = wait_for(lambda: (lambda w: w if len(w) == 4 else None)(s.fcgi_worker_pids()),
                       30, "4 handler workers")
    data = str(s.data_dir)
    watched = (data + "/tmp/", data + "/artifacts/")
    for size in (50 << 20, 200 << 20):
        body_path = Path(s.data_dir) / "upload-body.tar"
        make_tar(body_path, size)
        result = {}

        def upload():
            with open(body_path, "rb") as f:
                try:
                    result["resp"] = s.req("POST", "/api/v1/artifacts", body=f, timeout=300,
                                           headers={"Content-Length": str(body_path.stat().st_size),
                                                    "Content-Type": "application/octet-stream"})
                except Exception as e:  # reported below
                    result["exc"] = e

        t = threading.Thread(target=upload)
        t.start()
        caught = False
        deadline = time.monotonic() + 120
        while t.is_alive() and time.monotonic() < deadline and not caught:
            for w in s.fcgi_worker_pids():
                if any(f.startswith(watched) for f in helpers.open_files(w)):
                    caught = True
                    break
            else:
                time.sleep(0.001)
        if caught:
            os.kill(s.fcgi_master_pid(), signal.SIGTERM)
            print(f"SIGTERM sent while worker {w} handled a {size >> 20} MB upload")
        t.join(300)
        assert not t.is_alive(), "the upload never finished"
        assert "exc" not in result, f"upload failed: {result.get('exc')!r}"
        body_path.unlink()
        if caught:
            break
        # answered before we could catch it in a worker: try a larger body
        status = result["resp"][0]
        assert status < 500, result["resp"]
    assert caught, "could not catch an upload inside a handler worker"
    status, headers, body = result["resp"]
    print(f"the upload was answered {status}")
    # a well-formed tar: accepted, with its row committed before the answer
    assert status == 201, (status, body)
    assert_envelope(status, headers, body)
    sha = body["result"]["sha256"]
    assert s.sql("SELECT size FROM artifacts WHERE sha256 = ?", (sha,)), \
        "the accepted artifact has no row"
    # the master stops once its workers are done, and they are gone with it
    s.procs["fcgi"].wait(timeout=30)
    wait_for(lambda: not [p for p in workers if helpers.proc_alive(p)], 15,
             "the workers to exit")


# ---- nginx configuration and ./dev -------------------------------------------

def test_rendered_config_passes_nginx_t(stack):
    r = stack.nginx_test()
    assert r.returncode == 0, r.stderr
    assert "test is successful" in r.stderr


def test_snippets_fit_an_existing_server(tmp_path):
    """The operator's way: the http part at http level, the locations inside
    a server block of their own that already has `location /`."""
    conf = tmp_path / "conf"
    conf.mkdir()
    for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "data/tmp"):
        (tmp_path / "tmp" / t).mkdir(parents=True)
    helpers.render(helpers.ROOT / "nginx" / "hostagent-http.conf.in", conf / "http.conf",
                   FCGI_SOCKET=tmp_path / "fcgi.sock")
    helpers.render_locations(conf, "", DATA_DIR=tmp_path / "tmp" / "data")
    port = helpers.free_ports(1)[0]
    (conf / "nginx.conf").write_text(f"""
pid {tmp_path}/nginx.pid;
error_log stderr;
events {{ }}
http {{
    client_body_temp_path {tmp_path}/tmp/client_body;
    proxy_temp_path {tmp_path}/tmp/proxy;
    fastcgi_temp_path {tmp_path}/tmp/fastcgi;
    uwsgi_temp_path {tmp_path}/tmp/uwsgi;
    scgi_temp_path {tmp_path}/tmp/scgi;
    access_log off;
    include {conf}/http.conf;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "operator's site"; }}
        include {conf}/locations.conf;
    }}
}}
""")
    r = subprocess.run([helpers.NGINX_BIN, "-t", "-p", str(tmp_path), "-c", "conf/nginx.conf",
                        "-e", "stderr"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_installed_nginx_files_find_each_other(tmp_path):
    """make install puts every nginx file where the include lines of the
    others look for it: each include is absolute and names an installed
    file, and the FastCGI and error snippets are among them."""
    dest = tmp_path / "dest"
    r = subprocess.run(["make", "-s", "-C", str(helpers.BUILD), f"DESTDIR={dest}",
                        "install-nginxconfdDATA", "install-nginxsnippetsDATA",
                        "install-nginxexampleDATA"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    files = [p for p in dest.rglob("*") if p.is_file()]
    includes = {m.group(1) for p in files
                for m in re.finditer(r"^\s*include\s+([^;\s]+);", p.read_text(), re.M)}
    names = {Path(i).name for i in includes}
    assert names == {"hostagent.conf", "hostagent-fastcgi.conf", "hostagent-errors.conf"}, includes
    assert len(includes) == 4, includes  # conf.d/ and snippets/ both have a hostagent.conf
    for inc in includes:
        assert inc.startswith("/"), inc
        assert (dest / inc.lstrip("/")).is_file(), f"{inc} is not installed"


def test_render_refuses_missing_values(tmp_path):
    r = subprocess.run(["sh", str(helpers.RENDER), str(helpers.ROOT / "nginx" / "hostagent.conf.in")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "@HTTP_LISTEN@" in r.stderr


def test_dev_up_follows_the_port_variables(tmp_path):
    """./dev up on other ports and another data directory: nginx listens
    where HOSTAGENT_HTTP_PORT/HOSTAGENT_HTTPS_PORT say, dev.env says so,
    and SIGTERM to ./dev stops everything it started."""
    http_port, https_port = helpers.free_ports(2)
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTAGENT_")}
    env.update(HOSTAGENT_HTTP_PORT=str(http_port), HOSTAGENT_HTTPS_PORT=str(https_port),
               HOSTAGENT_DATA_DIR=str(data))
    out = open(tmp_path / "dev.out", "wb")
    dev = subprocess.Popen([str(helpers.ROOT / "dev"), "up"], cwd=str(helpers.ROOT), env=env,
                           stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                           start_new_session=True)

    def log():
        return (tmp_path / "dev.out").read_text(errors="replace")[-4000:]

    try:
        def ready():
            if dev.poll() is not None:
                raise AssertionError(f"./dev up exited {dev.returncode}:\n{log()}")
            try:
                return helpers.http_request(http_port, "GET", "/ready", timeout=5)[0] == 200
            except OSError:
                return False
        wait_for(ready, 600, "./dev up to answer on its HTTP port")
        status, _, body = helpers.http_request(https_port, "GET", "/", tls=True)
        assert status == 200 and body["result"]["name"] == "hostagent", body
        wait_for(lambda: "Ctrl-C stops everything" in log(), 30, "./dev up to print its banner")
        envfile = dict(line.split("=", 1) for line in
                       (data / "dev.env").read_text().splitlines() if "=" in line)
        assert envfile["HOSTAGENT_URL"] == f"http://127.0.0.1:{http_port}"
        assert envfile["HOSTAGENT_TLS_URL"].endswith(f":{https_port}")
        status, _, body = helpers.http_request(http_port, "GET", "/api/v1/tokens", headers={
            "Authorization": "Bearer " + envfile["HOSTAGENT_TOKEN"]})
        assert status == 200, body
        banner = log()
        assert f"token  {envfile['HOSTAGENT_TOKEN']}" in banner, banner
        assert f"http://127.0.0.1:{http_port}" in banner and f":{https_port}" in banner, banner
        assert "curl -sk" in banner and "/api/v1/projects" in banner, banner
    finally:
        if dev.poll() is None:
            dev.send_signal(signal.SIGTERM)
        try:
            rc = dev.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)
            raise AssertionError(f"./dev up did not stop on SIGTERM:\n{log()}")
        out.close()
    assert rc == 0, log()

    def leftovers():
        d = str(data)
        return [(p, helpers.proc_cmdline(p)) for p in helpers.all_pids()
                if helpers.proc_alive(p) and d in helpers.proc_cmdline(p)]
    wait_for(lambda: not leftovers(), 10, "./dev up's processes to be gone")
    try:
        os.killpg(dev.pid, 0)
        group = [p for p in helpers.all_pids()
                 if helpers.proc_alive(p) and helpers.proc_stat(p)[2] == dev.pid]
    except ProcessLookupError:
        group = []
    assert not group, f"./dev up left {[(p, helpers.proc_cmdline(p)) for p in group]}"
