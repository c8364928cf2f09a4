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
