# SPDX-License-Identifier: MIT
"""The handler pool's own promises (issue 2): a SIGHUP replaces every worker
without failing a request, Idempotency-Key replays the first answer and
refuses a changed body, and the pool serves a listening socket it is handed
on fd 0 (spawn-fcgi, systemd socket activation)."""

import os
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import helpers
from helpers import assert_envelope, wait_for


def test_sighup_replaces_workers_without_failing_a_request(fresh_stack):
    s = fresh_stack(workers=4)
    before = wait_for(lambda: (lambda w: w if len(w) == 4 else None)(s.fcgi_worker_pids()),
                      30, "4 handler workers")
    failures, done, count = [], threading.Event(), [0]

    def hammer():
        while not done.is_set():
            # /health reads the database in a worker and is not rate limited
            status, _, body = s.req("GET", "/health")
            count[0] += 1
            if status != 200:
                failures.append((status, body))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        # the reload happens under load: requests are being answered
        wait_for(lambda: count[0] >= 20, 30, "20 requests answered before the reload")
        os.kill(s.fcgi_master_pid(), signal.SIGHUP)
        # every old worker retires, and a full new generation serves
        wait_for(lambda: (lambda w: w if len(w) == 4 and not set(w) & set(before) else None)(
            s.fcgi_worker_pids()), 30, "a new generation of 4 workers")
        after = count[0]
        wait_for(lambda: count[0] >= after + 20, 30, "20 requests answered by the new workers")
    finally:
        done.set()
        for t in threads:
            t.join(60)
    assert count[0] >= 40, count
    assert not failures, failures[:5]
    assert s.procs["fcgi"].poll() is None, "the pool master died on SIGHUP"


def test_many_sighups_in_a_row_reap_every_retired_worker(fresh_stack):
    """Reloads pile up retiring generations while requests are in flight:
    each old worker must still get its SIGTERM, exit and be reaped (the
    master once tracked at most 1,024; tests/unit/test_pidset.c covers the
    set past that size)."""
    s = fresh_stack(workers=2)
    master = s.fcgi_master_pid()
    current = lambda: helpers.children(master)  # noqa: E731
    first = wait_for(lambda: (lambda c: c if len(c) >= 2 else None)(current()), 30,
                     "the first generation")
    size = len(first)  # the workers, and the upload inspector when it is on
    seen, failures, done = set(first), [], threading.Event()

    def hammer():
        while not done.is_set():
            status, _, body = s.req("GET", "/health")
            if status != 200:
                failures.append((status, body))

    def sample():
        while not done.is_set():
            seen.update(current())
            time.sleep(0.005)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    threads.append(threading.Thread(target=sample))
    for t in threads:
        t.start()
    reloads = 40
    log_path = s.log_dir / "fcgi.log"
    reloaded = lambda: log_path.read_text(errors="replace").count("reloaded:")  # noqa: E731
    try:
        # pending SIGHUPs merge into one: each waits for the reload before it
        for i in range(reloads):
            os.kill(master, signal.SIGHUP)
            wait_for(lambda: reloaded() > i, 30, f"reload {i + 1}", interval=0.005)

        def settled():
            c = current()
            if len(c) != size:
                return None
            # every other child ever seen is gone: exited and reaped, no zombie
            rest = [p for p in seen - set(c)
                    if (st := helpers.proc_stat(p)) is not None and st[1] == master]
            return c if not rest else None
        last = wait_for(settled, 60, "every retired worker to exit and be reaped")
    finally:
        done.set()
        for t in threads:
            t.join(60)
    assert not failures, failures[:5]
    assert s.procs["fcgi"].poll() is None, "the pool master died"
    assert len(seen) > size * 10, f"only {len(seen)} workers seen across {reloads} reloads"
    log = log_path.read_text(errors="replace")
    assert log.count("reloaded:") == reloads, log[-3000:]
    assert "out of memory" not in log
    # the stop waits for the live generation only: nothing retiring is left
    s.kill("fcgi", signal.SIGTERM)
    log = (s.log_dir / "fcgi.log").read_text(errors="replace")
    assert f"stopping: waiting for {len(last)} processes to finish" in log, log[-2000:]


def test_idempotency_key_replays_and_conflicts(stack):
    key = {"Idempotency-Key": "e2e-" + os.urandom(6).hex()}
    body = {"name": "idem-" + key["Idempotency-Key"], "scopes": ["read"]}
    st1, h1, b1 = stack.req("POST", "/api/v1/tokens", body=body, headers=key)
    assert st1 == 201, b1
    st2, h2, b2 = stack.req("POST", "/api/v1/tokens", body=body, headers=key)
    assert st2 == 201, b2
    assert_envelope(st2, h2, b2)
    assert b2["result"]["id"] == b1["result"]["id"], (b1, b2)
    assert {k.lower(): v for k, v in h2.items()}.get("idempotent-replayed") == "true", h2
    rows = stack.sql("SELECT count(*) FROM tokens WHERE name = ?", (body["name"],))
    assert rows[0][0] == 1, "a replay created a second token"
    st3, _, b3 = stack.req("POST", "/api/v1/tokens", body=dict(body, scopes=["operate"]),
                           headers=key)
    assert st3 == 409 and b3["error"]["type"] == "conflict", b3


def _fcgi_get(path, sock_path, timeout=10):
    """One FastCGI GET through a unix socket: (status line, body bytes)."""
    def rec(kind, content, rid=1):
        return struct.pack("!BBHHBx", 1, kind, rid, len(content), 0) + content

    def pair(k, v):
        k, v = k.encode(), v.encode()
        return bytes([len(k), len(v)]) + k + v

    params = b"".join(pair(k, v) for k, v in (
        ("REQUEST_METHOD", "GET"), ("DOCUMENT_URI", path), ("REQUEST_URI", path),
        ("QUERY_STRING", ""), ("REQUEST_ID", "fd0test")))
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(timeout)
    c.connect(sock_path)
    c.sendall(rec(1, struct.pack("!HB5x", 1, 0)) + rec(4, params) + rec(4, b"") + rec(5, b""))
    out, buf = b"", b""
    while True:
        chunk = c.recv(65536)
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 8:
            _, kind, _, clen, plen = struct.unpack("!BBHHBx", buf[:8])
            if len(buf) < 8 + clen + plen:
                break
            if kind == 6:
                out += buf[8:8 + clen]
            buf = buf[8 + clen + plen:]
            if kind == 3:
                c.close()
                head, _, body = out.partition(b"\r\n\r\n")
                return head.decode(), body
    c.close()
    raise AssertionError("no FCGI_END_REQUEST: %r" % out[:200])


def test_pool_serves_a_socket_handed_on_fd0(tmp_path):
    data = tempfile.mkdtemp(prefix="ha-fd0-")
    conf = tmp_path / "hostagent.conf"
    conf.write_text(f"data_dir = {data}\nfcgi_workers = 2\n")
    sock_path = os.path.join(data, "handed.sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(sock_path)
    lsock.listen(16)
    env = dict(os.environ, HOSTAGENT_CONFIG=str(conf))
    p = subprocess.Popen([str(helpers.FCGI_BIN), "-c", str(conf)], stdin=lsock.fileno(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                         start_new_session=True)
    lsock.close()
    try:
        head, body = wait_for(lambda: _try(lambda: _fcgi_get("/ping", sock_path)), 30,
                              "the pool answering on the handed socket")
        assert head.startswith("Status: 200"), head
        assert b'"pong"' in body, body
        # it must not have created a socket of its own
        assert not os.path.exists(os.path.join(data, "run", "fcgi.sock"))
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
        subprocess.run(["rm", "-rf", data])


def _try(fn):
    try:
        return fn()
    except OSError:
        return None
