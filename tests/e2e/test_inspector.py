# SPDX-License-Identifier: MIT
"""The upload inspector (fcgi/inspector.c, docs/architecture.md "Uploads"):
artifact uploads are hashed and inspected while nginx writes them, and the
handler only confirms; whatever the inspector cannot vouch for (a zip, a
refusal, a follower that died, the inspector switched off) is inspected by
the handler itself, with the same answer. Real nginx, pool and files."""

import hashlib
import os
import signal
import socket
import threading
import time

import archives as A
import helpers
import projects_helpers as H


def fcgi_log(stack):
    path = os.path.join(stack.data_dir, "log", "fcgi.log")
    with open(path, errors="replace") as f:
        return f.read()


def artifact_line(stack, sha):
    """The handler's log line for an artifact (it says how it was inspected)."""
    lines = [l for l in fcgi_log(stack).splitlines() if ("artifact " + sha) in l]
    return lines[-1] if lines else ""


def followers(stack):
    insp = stack.fcgi_inspector_pid()
    return [p for p in helpers.children(insp)] if insp else []


def follow_names(stack):
    d = os.path.join(stack.data_dir, "run", "follow")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def slow_body(path, piece=1 << 20, pause=0.02, started=None):
    """The file's bytes in pieces with pauses: nginx writes it over a second or so."""
    with open(path, "rb") as f:
        first = True
        while True:
            b = f.read(piece)
            if not b:
                return
            yield b
            if first and started is not None:
                started.set()
            first = False
            time.sleep(pause)


def post_file(stack, path, **kw):
    size = os.path.getsize(path)
    return H.http(stack, "POST", "/api/v1/artifacts", slow_body(path, **kw), headers={
        "Content-Type": "application/octet-stream", "Content-Length": str(size)}, timeout=300)


def sha_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def test_upload_is_inspected_while_nginx_writes_it(fresh_stack, tmp_path):
    stack = fresh_stack()
    assert stack.wait_inspector(), "no upload inspector in the pool"
    path = str(tmp_path / "big.tar")
    A.write_random_tar(path, 40 << 20)
    sha = sha_of(path)
    r = post_file(stack, path)
    assert r.status == 201, r
    a = r.result
    assert a["sha256"] == sha and a["size"] == os.path.getsize(path)
    assert a["format"] == "tar" and a["entries"] == 1
    assert "inspected while uploading" in artifact_line(stack, sha)
    # the stored bytes are the uploaded ones, and the follower is gone with its name
    assert sha_of(os.path.join(H.artifacts_dir(stack), sha)) == sha
    assert helpers.wait_for(lambda: not followers(stack) and not follow_names(stack), 10,
                            "the follower to end")
    # a compressed archive too, and the same bytes again are only looked up
    small = A.project_archive("tar.gz", version=H.new_marker())
    r = H.upload(stack, small)
    assert r.status == 201, r
    small_sha = hashlib.sha256(small).hexdigest()
    assert r.result["sha256"] == small_sha and r.result["format"] == "tar.gz"
    assert H.upload(stack, small).status == 200


def test_zip_and_refusals_are_inspected_by_the_handler(fresh_stack):
    stack = fresh_stack()
    z = A.project_archive("zip", version=H.new_marker())
    r = H.upload(stack, z)
    assert r.status == 201, r
    assert "inspected after the upload" in artifact_line(stack, hashlib.sha256(z).hexdigest())
    # a hostile archive: the follower leaves it to the handler, whose answer it is
    bad = A.hostile_absolute("/etc/hostagent-evil")
    r = H.upload(stack, bad)
    assert r.status == 422, r
    assert "/etc/hostagent-evil" in r.error["detail"], r
    assert H.artifact_rows(stack, hashlib.sha256(bad).hexdigest()) == []
    # not an archive at all
    r = H.upload(stack, os.urandom(4096))
    assert r.status == 415, r
    assert helpers.wait_for(lambda: not followers(stack) and not follow_names(stack), 10,
                            "the followers to end")


def test_inspector_killed_mid_upload(fresh_stack, tmp_path):
    stack = fresh_stack()
    insp = stack.wait_inspector()
    path = str(tmp_path / "big.tar")
    A.write_random_tar(path, 40 << 20)
    sha = sha_of(path)
    result = {}
    started = threading.Event()

    def upload():
        result["r"] = post_file(stack, path, started=started)

    t = threading.Thread(target=upload)
    t.start()
    assert started.wait(30)
    helpers.wait_for(lambda: followers(stack), 20, "a follower for the upload")
    os.kill(insp, signal.SIGKILL)
    t.join(300)
    r = result["r"]
    # the handler inspects the upload itself: nothing is lost, nothing is wrong
    assert r.status == 201, r
    assert r.result["sha256"] == sha
    assert "inspected after the upload" in artifact_line(stack, sha)
    # the master starts a new inspector, which clears the dead followers' names
    new = helpers.wait_for(lambda: (lambda p: p if p and p != insp else None)(
        stack.fcgi_inspector_pid()), 15, "a new upload inspector")
    assert new != insp
    path2 = str(tmp_path / "big2.tar")
    A.write_random_tar(path2, 20 << 20)
    r = post_file(stack, path2)
    assert r.status == 201, r
    assert "inspected while uploading" in artifact_line(stack, sha_of(path2))
    assert helpers.wait_for(lambda: not follow_names(stack), 10, "no follower names left")


def test_cut_off_upload_leaves_no_follower(fresh_stack):
    stack = fresh_stack()
    stack.wait_inspector()
    before = H.storage_snapshot(stack)
    head = (f"POST /api/v1/artifacts HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {stack.token}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {21 << 20}\r\n\r\n")
    s = socket.create_connection(("127.0.0.1", stack.http_port), timeout=30)
    # a tar header for a 20 MB file, then the first 4 MB of it
    s.sendall(head.encode() + A._tar_header("random.bin", 20 << 20))
    s.sendall(os.urandom(4 << 20))
    helpers.wait_for(lambda: followers(stack), 20, "a follower for the upload")
    s.close()  # cut off: nginx drops the body file, the follower notices and goes
    assert helpers.wait_for(lambda: not followers(stack) and not follow_names(stack), 15,
                            "the follower to give up")
    assert H.wait_storage_back_to(stack, before, 15) == before
    assert H.artifact_rows(stack) == []


def test_concurrent_uploads_beyond_the_followers(fresh_stack, tmp_path):
    stack = fresh_stack(workers=8)
    stack.wait_inspector()
    paths = []
    for i in range(7):
        p = str(tmp_path / f"u{i}.tar")
        A.write_random_tar(p, 6 << 20)
        paths.append(p)
    results = [None] * len(paths)

    def up(i):
        results[i] = post_file(stack, paths[i], pause=0.05)

    threads = [threading.Thread(target=up, args=(i,)) for i in range(len(paths))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    for p, r in zip(paths, results):
        assert r is not None and r.status == 201, r
        assert r.result["sha256"] == sha_of(p)
    lines = [artifact_line(stack, sha_of(p)) for p in paths]
    # at most 4 followers at once: some were followed, and the rest still stored right
    assert any("while uploading" in l for l in lines), lines
    assert helpers.wait_for(lambda: not followers(stack) and not follow_names(stack), 15,
                            "the followers to end")


def test_upload_follow_off(fresh_stack, tmp_path):
    stack = fresh_stack(config={"upload_follow": "false"})
    assert stack.fcgi_inspector_pid() is None
    assert len(stack.fcgi_worker_pids()) == 4
    path = str(tmp_path / "big.tar")
    A.write_random_tar(path, 8 << 20)
    r = post_file(stack, path)
    assert r.status == 201, r
    assert "inspected after the upload" in artifact_line(stack, sha_of(path))


def test_unauthorized_upload_is_refused_before_its_body(fresh_stack):
    """nginx asks the pool (auth_request) before it reads a body: a client
    without a valid token gets the JSON 401/403 at once, and not a byte of
    its body is written to disk or reaches a follower."""
    stack = fresh_stack()
    upload_dir = os.path.join(stack.data_dir, "tmp", "upload")
    read_tok = stack.create_token("reader", scopes="read")
    for auth, status, words in ((None, 401, "missing Authorization"),
                                ("Bearer hat_not_a_real_token", 401, "malformed"),
                                (f"Bearer {read_tok}", 403, "'operate' scope")):
        for path in ("/api/v1/artifacts", "/api/v1/projects"):
            head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + (f"Authorization: {auth}\r\n" if auth else "")
                    + f"Content-Type: application/octet-stream\r\n"
                    f"Content-Length: {50 << 20}\r\nConnection: close\r\n\r\n")
            s = socket.create_connection(("127.0.0.1", stack.http_port), timeout=30)
            try:
                # the header and a first piece only: the answer must not wait for the rest
                s.sendall(head.encode() + A._tar_header("x.bin", 50 << 20))
                raw = b""
                while b"\r\n\r\n" not in raw or not raw.rstrip().endswith(b"}"):
                    b = s.recv(65536)
                    if not b:
                        break
                    raw += b
            finally:
                s.close()
            head_part, _, body = raw.partition(b"\r\n\r\n")
            assert head_part.startswith(b"HTTP/1.1 %d" % status), raw[:300]
            j = __import__("json").loads(body)
            assert j["error"]["type"] == ("unauthorized" if status == 401 else "forbidden"), j
            assert words in j["error"]["detail"], j
            assert j["meta"]["request_id"], j
            if status == 401:
                assert b"WWW-Authenticate: Bearer" in head_part, head_part
            assert os.listdir(upload_dir) == [], os.listdir(upload_dir)
            assert not followers(stack)
    # a GET of the list needs no pre-check and still answers
    assert H.get(stack, "/api/v1/projects").status == 200
    assert H.get(stack, "/api/v1/projects", token=None).status == 401


def test_unasked_followers_do_not_linger(fresh_stack, tmp_path):
    """Small uploads often end before their follower is asked (the handler
    then inspects them itself and links the file into artifacts/): the
    follower must leave when nginx's name for the body goes, not minutes
    later, or it would hold one of the four places."""
    stack = fresh_stack()
    stack.wait_inspector()
    for i in range(12):
        p = str(tmp_path / f"s{i}.tar")
        A.write_random_tar(p, 190 << 10)
        r = post_file(stack, p, piece=1 << 20, pause=0)
        assert r.status == 201, r
    assert helpers.wait_for(lambda: not followers(stack) and not follow_names(stack), 5,
                            "the followers to leave")
    path = str(tmp_path / "big.tar")
    A.write_random_tar(path, 30 << 20)
    r = post_file(stack, path)
    assert r.status == 201, r
    assert "inspected while uploading" in artifact_line(stack, sha_of(path))
