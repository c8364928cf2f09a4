# SPDX-License-Identifier: MIT
"""A private hostagent stack for end-to-end tests, and the tools to poke it.

Stack starts the real thing from ./build: nginx (rendered from nginx/*.in by
nginx/render, in a private prefix), hostagent-fcgi and hostagent-runner, on
free loopback ports and a temporary data directory, and tears it down by PID
checking that nothing of it is left. Only the standard library is used
(http.client, ssl, sqlite3), so the tests need nothing beyond python3-pytest.
Nothing here sleeps for a fixed time where a poll with a deadline works.
"""

import http.client
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("HOSTAGENT_BUILD_DIR", ROOT / "build"))
FCGI_BIN = BUILD / "fcgi" / "hostagent-fcgi"
RUNNER_BIN = BUILD / "runner" / "hostagent-runner"
CTL_BIN = BUILD / "ctl" / "hostagentctl"
RENDER = ROOT / "nginx" / "render"
NGINX_BIN = shutil.which("nginx") or "/usr/sbin/nginx"

# Environment variables the daemons read (docs/operations.md); a stack must not inherit
# the developer's.
COMPAT_ENV = ("DATABASE_URL", "NUM_INTERNAL_WORKERS", "AUTO_START_WORKERS",
              "DEFAULT_TIMEOUT_MINUTES", "DEFAULT_MAX_STEPS", "LOG_LEVEL")

DEFAULT = object()  # "use the stack's admin token"


def missing_binaries():
    """The programs a stack needs that are not built or installed."""
    need = [FCGI_BIN, RUNNER_BIN, CTL_BIN]
    out = [str(p) for p in need if not os.access(p, os.X_OK)]
    if not os.access(NGINX_BIN, os.X_OK):
        out.append("nginx")
    return out


def wait_for(pred, timeout, what, interval=0.02):
    """Polls pred() until it returns something truthy; returns that value.
    The interval grows to at most 0.2 s. Raises AssertionError naming what
    was awaited when the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.2)


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (held together while chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


# ---- /proc -------------------------------------------------------------------

def proc_stat(pid):
    """(state, ppid, pgid, sid) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[2]), int(fields[3])


def proc_starttime(pid):
    """Field 22 of /proc/<pid>/stat (clock ticks after boot), or None: with
    the PID it names one process, even after the PID is reused."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return None
    return int(data[data.rindex(")") + 2:].split()[19])


def proc_alive(pid):
    """True while pid exists and is not a zombie."""
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def proc_comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def children(pid):
    """Live (non-zombie) children of pid."""
    out = []
    for p in all_pids():
        st = proc_stat(p)
        if st and st[1] == pid and st[0] not in ("Z", "X"):
            out.append(p)
    return sorted(out)


def open_files(pid):
    """Paths of the files pid has open (those we may read)."""
    out = []
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out
    for fd in fds:
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return out


# ---- HTTP --------------------------------------------------------------------

def _tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the stack's certificate is self-signed
    return ctx


TLS_CONTEXT = _tls_context()


def http_request(port, method, path, body=None, headers=None, tls=False, timeout=60):
    """One request on a fresh connection to 127.0.0.1:port.

    body: None, bytes/str (sent as is), a file object (streamed; give a
    Content-Length header), or anything else (sent as JSON). Returns
    (status, headers, data): headers is an http.client.HTTPMessage
    (case-insensitive .get), data the parsed JSON when the answer is JSON,
    else the raw bytes."""
    headers = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, bytearray, str)) \
            and not hasattr(body, "read"):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    if tls:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout,
                                           context=TLS_CONTEXT)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, resp.headers, decode_body(resp.headers, raw)
    finally:
        conn.close()


def decode_body(headers, raw):
    ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def raw_request(port, data, timeout=30):
    """Sends bytes as they are (for malformed requests); returns what came
    back before the server closed, as bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks)


# ---- the stack ---------------------------------------------------------------

class StackError(AssertionError):
    pass


def private_cgroup_root():
    """A job-cgroup root of its own for one stack, beside the one a runner
    picks by default (<cgroup2 mount><our cgroup>/hostagent), or None
    without a cgroup2 mount. A runner sweeps every job-* group of its root
    that it does not know, so stacks sharing one root (a fresh_stack beside
    a module's stack, or two test runs on one machine) would kill each
    other's jobs."""
    mnt = own = None
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                pre, _, post = line.partition(" - ")
                if post.startswith("cgroup2 "):
                    mnt = pre.split()[4]
                    break
        with open("/proc/self/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    own = line[3:].strip()
    except OSError:
        return None
    if not mnt or own is None:
        return None
    return "%s%s/hostagent-e2e-%s" % (mnt, "" if own == "/" else own,
                                      os.urandom(6).hex())


def remove_cgroup_tree(root):
    """Best effort: kills what is left under root and removes its groups, deepest first."""
    if not root or not os.path.isdir(root):
        return
    try:
        with open(os.path.join(root, "cgroup.kill"), "w") as f:
            f.write("1")
    except OSError:
        pass
    deadline = time.monotonic() + 5
    while os.path.isdir(root) and time.monotonic() < deadline:
        for d, subs, _ in os.walk(root, topdown=False):
            try:
                os.rmdir(d)
            except OSError:
                pass
        if os.path.isdir(root):
            time.sleep(0.02)


class Stack:
    """nginx + hostagent-fcgi + hostagent-runner on a private data directory.

    Attributes after start(): url, tls_url, http_port, https_port, token
    (admin), data_dir, conf (the daemons' config file), nginx_prefix, db,
    procs ({"nginx"|"fcgi"|"runner": Popen}), pids (name -> pid).
    """

    NAMES = ("fcgi", "runner", "nginx")

    def __init__(self, *, workers=4, rate="100r/s", burst=200, keep_conn="off",
                 stream_max=None, upload_max="1g", config=None, label="stack"):
        self.workers = workers
        self.rate = rate
        self.burst = burst
        self.keep_conn = keep_conn
        self.stream_max = stream_max if stream_max is not None else max(1, workers // 2)
        self.upload_max = upload_max
        self.extra_config = dict(config or {})
        # a root of its own unless the test names one (see private_cgroup_root)
        self.cgroup_root = None
        if "cgroup_root" not in self.extra_config:
            self.cgroup_root = private_cgroup_root()
        self.label = label
        self.data_dir = Path(tempfile.mkdtemp(prefix="hostagent-e2e-"))
        self.nginx_prefix = self.data_dir / "nginx"
        self.log_dir = self.data_dir / "test-logs"
        self.conf = self.data_dir / "hostagent.conf"
        self.db = self.data_dir / "db" / "hostagent.db"
        self.port_base = random.randrange(20000, 29000, 1000) + random.randrange(0, 1000, 100)
        self.procs = {}
        self.started = []  # every Popen ever started (a restarted runner too)
        self.start_times = {}  # pid of each of them -> its start time
        self.token = None
        self.http_port = self.https_port = None
        self._stopped = False

    # -- set-up --

    @property
    def url(self):
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def tls_url(self):
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def pids(self):
        return {n: p.pid for n, p in self.procs.items()}

    def env(self):
        """The daemons' environment: ours without any HOSTAGENT_* or
        Task Executor variable, plus the data directory."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("HOSTAGENT_") and k not in COMPAT_ENV}
        env["HOSTAGENT_DATA_DIR"] = str(self.data_dir)
        env["HOSTAGENT_CONFIG"] = str(self.conf)
        return env

    def write_config(self):
        cfg = {
            "data_dir": str(self.data_dir),
            "fcgi_workers": self.workers,
            "heartbeat_ms": 100,
            "runner_dead_after_ms": 1000,
            "restart_backoff_ms": 100,
            "log_level": "info",
            # a window of its own for the ports it allocates to projects: stacks
            # of parallel runs on one machine would otherwise all hand out 20000
            # first, and a service that cannot bind its port exits and restarts
            "port_min": self.port_base,
            "port_max": self.port_base + 999,
        }
        if self.cgroup_root:
            cfg["cgroup_root"] = self.cgroup_root
        cfg.update(self.extra_config)
        self.conf.write_text("".join(f"{k} = {v}\n" for k, v in cfg.items()))

    def render_nginx(self):
        conf = self.nginx_prefix / "conf"
        for d in (conf, self.nginx_prefix / "logs",
                  *(self.nginx_prefix / "tmp" / t
                    for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))):
            d.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "tmp" / "upload").mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-days", "2", "-nodes", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", str(conf / "tls.key"), "-out", str(conf / "tls.crt")],
            check=True, capture_output=True, timeout=60)
        render(ROOT / "nginx" / "hostagent-http.conf.in", conf / "hostagent-http.conf",
               FCGI_SOCKET=self.data_dir / "run" / "fcgi.sock",
               RATE=self.rate, FCGI_KEEP_CONN=self.keep_conn,
               UPSTREAM_KEEPALIVE=self.workers)
        render_locations(conf, "hostagent-", DATA_DIR=self.data_dir, RATE_BURST=self.burst,
                         FCGI_KEEP_CONN=self.keep_conn, STREAM_MAX=self.stream_max,
                         UPLOAD_MAX=self.upload_max)
        render(ROOT / "nginx" / "hostagent.conf.in", conf / "nginx.conf",
               NGINX_USER=_user_name(), PID_FILE=self.nginx_prefix / "nginx.pid",
               ERROR_LOG="stderr warn", TEMP_DIR=self.nginx_prefix / "tmp",
               ACCESS_LOG=f"{self.nginx_prefix}/logs/access.log hostagent",
               HTTP_SNIPPET=conf / "hostagent-http.conf",
               LOCATIONS_SNIPPET=conf / "hostagent-locations.conf",
               HTTP_LISTEN=f"127.0.0.1:{self.http_port}",
               HTTPS_LISTEN=f"127.0.0.1:{self.https_port}",
               WORKER_PROCESSES=2,
               TLS_CERT=conf / "tls.crt", TLS_KEY=conf / "tls.key")

    def nginx_test(self):
        """`nginx -t` on the rendered configuration: CompletedProcess."""
        return subprocess.run(
            [NGINX_BIN, "-t", "-p", str(self.nginx_prefix), "-c", "conf/nginx.conf",
             "-e", "stderr"], capture_output=True, text=True, timeout=60)

    def ctl(self, *args, check=True):
        """Runs hostagentctl -c CONF ARGS...; CompletedProcess (text)."""
        r = subprocess.run([str(CTL_BIN), "-c", str(self.conf), *args], env=self.env(),
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise StackError(f"hostagentctl {' '.join(args)} exited {r.returncode}: {r.stderr}")
        return r

    def create_token(self, name, scopes="admin"):
        """A new token made on the command line; the text of the token."""
        token = self.ctl("token", "create", "--name", name, "--scopes", scopes).stdout.strip()
        if not token.startswith("hat_"):
            raise StackError(f"hostagentctl token create printed {token!r}")
        return token

    def _spawn(self, name, extra_env=None, nofile=None):
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if name == "nginx":
            argv = [NGINX_BIN, "-p", str(self.nginx_prefix), "-c", "conf/nginx.conf",
                    "-e", "stderr", "-g", "daemon off;"]
        elif name == "fcgi":
            argv = [str(FCGI_BIN), "-c", str(self.conf)]
        else:
            argv = [str(RUNNER_BIN), "-c", str(self.conf)]
        with open(self.log_dir / f"{name}.log", "ab") as log:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, env={**self.env(), **(extra_env or {})},
                                 cwd=str(self.data_dir), start_new_session=True,
                                 preexec_fn=_nofile(nofile))
        self.procs[name] = p
        self.started.append((name, p))
        self.start_times[p.pid] = proc_starttime(p.pid)
        return p

    def start(self):
        try:
            self.http_port, self.https_port = free_ports(2)
            self.write_config()
            self.render_nginx()
            t = self.nginx_test()
            if t.returncode != 0:
                raise StackError(f"nginx -t failed:\n{t.stderr}")
            self.token = self.create_token(f"e2e-admin-{self.label}")
            for name in self.NAMES:
                self._spawn(name)
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _check_running(self):
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise StackError(f"{name} exited with {p.returncode} during start-up\n"
                                 + self.logs())

    def wait_ready(self, timeout=60):
        """Polls GET /ready until it answers 200."""
        def ready():
            self._check_running()
            try:
                return self.req("GET", "/ready", token=None, timeout=5)[0] == 200
            except (OSError, http.client.HTTPException):
                return False
        try:
            wait_for(ready, timeout, "GET /ready to answer 200")
        except AssertionError as e:
            raise StackError(f"{e}\n{self.logs()}") from None

    # -- using it --

    def req(self, method, path, body=None, token=DEFAULT, headers=None, tls=False, timeout=60):
        """(status, headers, json-or-bytes) of one request; token=None sends
        no Authorization header."""
        h = dict(headers or {})
        if token is DEFAULT:
            token = self.token
        if token:
            h["Authorization"] = f"Bearer {token}"
        port = self.https_port if tls else self.http_port
        return http_request(port, method, path, body=body, headers=h, tls=tls, timeout=timeout)

    def kill(self, name, sig=signal.SIGKILL, timeout=30):
        """Signals one daemon and waits for it to exit; its exit status."""
        p = self.procs[name]
        if p.poll() is None:
            p.send_signal(sig)
        return p.wait(timeout=timeout)

    def kill_runner(self, sig=signal.SIGKILL):
        return self.kill("runner", sig)

    def start_runner(self, env=None, nofile=None):
        """Starts the runner (again); env adds variables, such as HOSTAGENT_FAULT;
        nofile sets its soft RLIMIT_NOFILE (as a default systemd unit would)."""
        return self._spawn("runner", env, nofile)

    def fcgi_master_pid(self):
        return self.procs["fcgi"].pid

    def fcgi_worker_pids(self):
        """The pool's workers (not its upload inspector)."""
        return [p for p in children(self.fcgi_master_pid()) if proc_comm(p) != "ha-inspector"]

    def fcgi_inspector_pid(self):
        """The pool's upload inspector, or None."""
        found = [p for p in children(self.fcgi_master_pid()) if proc_comm(p) == "ha-inspector"]
        return found[0] if found else None

    def wait_inspector(self, timeout=15):
        """The upload inspector once it watches the upload directory (its
        inotify watch is in place): the master starts it beside the workers,
        so the pool may answer before it is ready."""
        def watching():
            pid = self.fcgi_inspector_pid()
            if pid is None:
                return None
            try:
                for fd in os.listdir(f"/proc/{pid}/fdinfo"):
                    with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                        if "inotify wd:" in f.read():
                            return pid
            except OSError:
                return None
            return None
        return wait_for(watching, timeout, "the upload inspector to watch the upload directory")

    def sql(self, query, params=()):
        """Rows (sqlite3.Row) of a read-only query on the stack's database."""
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            con.row_factory = sqlite3.Row
            return con.execute(query, params).fetchall()
        finally:
            con.close()

    def logs(self, lines=60):
        """The last lines of each daemon's output, for failure reports."""
        out = []
        for name in self.NAMES:
            f = self.log_dir / f"{name}.log"
            if f.exists():
                text = f.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {self.label} {name} ({f}) ---\n" + "\n".join(text))
        return "\n".join(out)

    # -- tear-down --

    def _own_sessions(self, sids):
        """The sessions in sids that are still this stack's. A session
        outlives its leader, and its ID stays taken while a member lives;
        but once empty the ID is free, and on a busy machine (pid_max
        32768, parallel test runs) a process of someone else's may come to
        lead a session with that number. A live process with the leader's
        PID but another start time is such a reuse: not ours to kill."""
        out = set()
        for sid in sids:
            t = proc_starttime(sid)
            if t is None or t == self.start_times.get(sid):
                out.add(sid)
        return out

    def _stack_processes(self, sids):
        """Processes of this stack still alive: in one of its sessions, or
        working in / naming its data directory (shims, jobs)."""
        mine = {os.getpid()}
        d = str(self.data_dir)
        sids = self._own_sessions(sids)
        out = {}
        for p in all_pids():
            if p in mine:
                continue
            st = proc_stat(p)
            if st is None or st[0] in ("Z", "X"):
                continue
            if st[3] in sids:
                out[p] = proc_cmdline(p)
                continue
            try:
                cwd = os.readlink(f"/proc/{p}/cwd")
            except OSError:
                cwd = ""
            cmd = proc_cmdline(p)
            if cwd == d or cwd.startswith(d + "/") or (d + "/") in cmd:
                out[p] = cmd
        return out

    def stop(self, keep=None):
        """SIGTERM to every daemon, SIGKILL after 15 s, then SIGKILL to
        anything of the stack left. Returns the list of problems found (a
        daemon that ignored SIGTERM, processes left behind); removes the
        data directory unless HOSTAGENT_E2E_KEEP is set or keep is true."""
        if self._stopped:
            return []
        self._stopped = True
        problems = []
        sids = {p.pid for _, p in self.started}
        # the runner's session may hold shims, which outlive it by design
        strict_sids = {p.pid for n, p in self.started if n != "runner"}
        daemons = [p.pid for _, p in self.started]
        # nginx first: no new requests reach a pool that is stopping
        order = sorted(self.procs.items(), key=lambda kv: kv[0] != "nginx")
        for name, p in order:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in order:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                problems.append(f"{name} ({p.pid}) still running 15 s after SIGTERM")
                p.kill()
                p.wait(timeout=15)
        for _, p in self.started:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=15)

        def left():
            return {p: c for p, c in self._stack_processes(sids).items() if p not in daemons}
        # workers may take a moment to notice that their master is gone
        try:
            wait_for(lambda: not left(), 10, "the stack's processes to exit")
        except AssertionError:
            pass
        rest = left()
        for pid, cmd in rest.items():
            st = proc_stat(pid)
            # a job or shim may outlive the runner by design; anything in
            # nginx's or the pool's session is a leftover of theirs
            if st and st[3] in strict_sids:
                problems.append(f"left running: {pid} {cmd}")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            wait_for(lambda: not left(), 10, "leftover processes to die after SIGKILL")
        except AssertionError as e:
            problems.append(str(e))
        remove_cgroup_tree(self.cgroup_root)
        if problems:
            problems.append(self.logs())
        if keep is None:
            keep = bool(os.environ.get("HOSTAGENT_E2E_KEEP")) or bool(problems)
        if not keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return problems


def _nofile(soft):
    """A preexec_fn that lowers the soft RLIMIT_NOFILE to soft (None: none)."""
    if soft is None:
        return None

    def set_limit():
        import resource
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, hard), hard))
    return set_limit


def _user_name():
    import pwd
    return pwd.getpwuid(os.geteuid()).pw_name


def render(template, out, **values):
    """nginx/render TEMPLATE into out with NAME=VALUE for each keyword."""
    args = [f"{k}={v}" for k, v in values.items()]
    r = subprocess.run(["sh", str(RENDER), "-o", str(out), str(template), *args],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise StackError(f"nginx/render {template} failed: {r.stderr}")


def render_locations(conf, prefix, **values):
    """The server snippet and the two it includes (FastCGI, errors) into
    conf as PREFIXlocations.conf, PREFIXfastcgi.conf and PREFIXerrors.conf;
    every value goes to all three templates."""
    fastcgi, errors = conf / f"{prefix}fastcgi.conf", conf / f"{prefix}errors.conf"
    render(ROOT / "nginx" / "hostagent-fastcgi.conf.in", fastcgi, **values)
    render(ROOT / "nginx" / "hostagent-errors.conf.in", errors, **values)
    render(ROOT / "nginx" / "hostagent-locations.conf.in", conf / f"{prefix}locations.conf",
           FASTCGI_SNIPPET=fastcgi, ERRORS_SNIPPET=errors, **values)


def assert_envelope(status, headers, body):
    """docs/api.md, Conventions: a JSON object with exactly one of result/error, and meta
    with request_id (equal to the X-Request-Id header) and duration_ms."""
    assert isinstance(body, dict), f"{status}: not a JSON object: {body!r}"
    assert ("result" in body) != ("error" in body), f"{status}: result xor error: {body}"
    if status >= 400:
        assert "error" in body, f"{status} without error: {body}"
        err = body["error"]
        assert isinstance(err, dict) and isinstance(err.get("type"), str) \
            and isinstance(err.get("detail"), str), f"bad error object: {body}"
    else:
        assert "result" in body, f"{status} without result: {body}"
    meta = body.get("meta")
    assert isinstance(meta, dict), f"no meta: {body}"
    rid = headers.get("X-Request-Id")
    assert rid, f"{status}: no X-Request-Id header"
    assert meta.get("request_id") == rid, f"meta.request_id {meta.get('request_id')} != {rid}"
    assert isinstance(meta.get("duration_ms"), (int, float)) \
        and not isinstance(meta.get("duration_ms"), bool), f"bad duration_ms: {meta}"
    assert meta["duration_ms"] >= 0


# ---- a PID namespace of the test's own ----------------------------------------

# PID 1 of the namespace: runs argv as its only child and reaps every
# orphan (shims whose runner was killed end up here) until that child ends,
# then exits with its status. When PID 1 exits the kernel kills whatever is
# left in the namespace, so nothing started inside can outlive the run.
_PIDNS_INIT = r"""
import os, sys
child = os.fork()
if child == 0:
    os.execv(sys.argv[1], sys.argv[1:])
while True:
    pid, status = os.wait()
    if pid == child:
        code = os.waitstatus_to_exitcode(status)
        sys.exit(code if code >= 0 else 128 - code)
"""

# Set in the environment of what run_in_own_pid_namespace starts: the PID
# namespace it was started from (readlink /proc/self/ns/pid).
PIDNS_ENV = "HOSTAGENT_E2E_PIDNS_FROM"


def in_own_pid_namespace():
    """True inside run_in_own_pid_namespace: in a PID namespace other than
    the one the run was started from."""
    outer = os.environ.get(PIDNS_ENV)
    return bool(outer) and os.readlink("/proc/self/ns/pid") != outer


def run_in_own_pid_namespace(argv, timeout):
    """Runs argv inside a new PID namespace (with its own /proc) under
    `unshare --pid --fork --mount-proc --kill-child`, so that the namespace's
    /proc/sys/kernel/ns_last_pid is writable and PIDs can be steered without
    touching the host's PID counter. Returns the CompletedProcess (stdout
    and stderr merged, text). Raises AssertionError with the exact reason
    when the namespace cannot be made: a test that needs it must fail, not
    skip."""
    unshare = shutil.which("unshare")
    assert unshare, "unshare (util-linux) is not installed: cannot make a PID namespace"
    probe = subprocess.run(
        [unshare, "--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c",
         "echo 5000 > /proc/sys/kernel/ns_last_pid && sh -c 'echo $$'"],
        capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0 and probe.stdout.strip() == "5001", (
        "cannot steer PIDs in a PID namespace of our own (unshare --pid --fork --mount-proc,"
        " then writing its /proc/sys/kernel/ns_last_pid): exit %d, stdout %r, stderr %r"
        % (probe.returncode, probe.stdout, probe.stderr))
    env = dict(os.environ)
    env[PIDNS_ENV] = os.readlink("/proc/self/ns/pid")
    return subprocess.run(
        [unshare, "--pid", "--fork", "--mount-proc", "--kill-child",
         sys.executable, "-c", _PIDNS_INIT, *argv],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=env, timeout=timeout)
