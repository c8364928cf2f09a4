# SPDX-License-Identifier: MIT
"""Hostile input (docs/architecture.md, Artifact and extraction policy): every archive from
archives.HOSTILE gets a clear 4xx at upload and leaves nothing behind (no
artifact file, no temporary file, no row, nothing written outside); the same
through a multipart deploy; set-uid bits are masked on extraction; 100 000
entries and compression bombs are refused quickly; cut-off and oversized
uploads leave nothing."""

import hashlib
import os
import stat
import time
import uuid

import pytest

import archives as A
import projects_helpers as H
from projects_helpers import projects  # noqa: F401  (fixture)

ERROR_TYPES = {400: "bad_request", 413: "payload_too_large", 415: "unsupported_media_type",
               422: "validation_error"}


@pytest.fixture
def outside(tmp_path_factory):
    """An absolute path outside every release, with known content: an
    extraction that escapes either creates a sibling or rewrites this file."""
    d = tmp_path_factory.mktemp("outside")
    os.chmod(d, 0o777)
    f = d / ("hostagent-escape-" + uuid.uuid4().hex[:8])
    f.write_bytes(b"original\n")
    os.chmod(f, 0o666)
    yield str(f)


def _outside_untouched(path):
    with open(path, "rb") as f:
        assert f.read() == b"original\n", "a file outside the release was rewritten"
    d = os.path.dirname(path)
    assert sorted(os.listdir(d)) == [os.path.basename(path)], os.listdir(d)


def _check_rejection(stack, r, expected, data):
    assert r.status in expected, r
    assert r.status < 500
    err = r.error
    assert err.get("type") == ERROR_TYPES.get(r.status), r
    assert len(err.get("detail", "")) > 5, r
    assert H.artifact_rows(stack, hashlib.sha256(data).hexdigest()) == []


@pytest.mark.parametrize("kind", sorted(A.HOSTILE))
def test_hostile_upload_rejected_and_nothing_left(stack, outside, kind):
    builder, expected = A.HOSTILE[kind]
    data = builder(outside)
    before = H.storage_snapshot(stack)
    r = H.upload(stack, data)
    _check_rejection(stack, r, expected, data)
    assert H.wait_storage_back_to(stack, before) == before
    _outside_untouched(outside)


@pytest.mark.parametrize("kind", ["dotdot", "symlink_abs_write", "hardlink_abs", "fifo",
                                  "zip_backslash", "truncated_gzip", "not_an_archive"])
def test_hostile_multipart_deploy_rejected_and_nothing_left(stack, outside, kind):
    builder, expected = A.HOSTILE[kind]
    data = builder(outside)
    name = H.new_name("hostile")
    before = H.storage_snapshot(stack)
    r = H.deploy(stack, H.svc_spec(name, "idle", H.new_marker()), artifact=data,
                 filename="build.tar.gz")
    _check_rejection(stack, r, expected, data)
    assert H.project(stack, name) is None
    assert not os.path.exists(os.path.join(stack.data_dir, "releases", name))
    assert H.wait_storage_back_to(stack, before) == before
    _outside_untouched(outside)


def test_setuid_accepted_but_masked_on_extraction(stack, projects):
    data = A.setuid_archive()
    r = H.upload(stack, data)
    assert r.status == 201, r
    sha = r.result["sha256"]
    name = projects.add(H.new_name("suid"))
    marker = H.new_marker()
    projects.markers.append(marker)
    res = H.deploy_ok(stack, H.svc_spec(name, "idle", marker, artifact=sha))
    H.wait_running(stack, name, res["task"]["id"])
    rel = os.path.join(stack.data_dir, "releases", name, str(res["release"]["seq"]))
    for f in ("bin/suid", "bin/sgid", "bin/sticky", "bin/svc.sh"):
        st = os.lstat(os.path.join(rel, f))
        assert stat.S_ISREG(st.st_mode), f
        assert st.st_mode & 0o7000 == 0, "%s extracted with mode %o" % (f, st.st_mode)
        assert st.st_mode & 0o777 == 0o755, "%s: %o" % (f, st.st_mode)
        assert st.st_mode & 0o022 == 0, "%s is group/world writable" % f
    assert os.lstat(os.path.join(rel, "VERSION")).st_mode & 0o777 == 0o644


def test_100000_entries_rejected(stack):
    data = A.many_entries(100000)
    before = H.storage_snapshot(stack)
    t0 = time.monotonic()
    r = H.upload(stack, data)
    _check_rejection(stack, r, (422,), data)
    assert time.monotonic() - t0 < 60
    assert H.wait_storage_back_to(stack, before) == before


@pytest.fixture(scope="module")
def bombs():
    return {"tar.gz": A.gzip_bomb(3 << 30), "zip": A.zip_bomb(3 << 30)}


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_compression_bomb_rejected_quickly(stack, bombs, fmt):
    data = bombs[fmt]
    assert len(data) < 4 << 20  # small archive, 3 GiB inside
    before = H.storage_snapshot(stack)
    free0 = os.statvfs(stack.data_dir)
    t0 = time.monotonic()
    r = H.upload(stack, data)
    took = time.monotonic() - t0
    _check_rejection(stack, r, (422,), data)
    # the ratio cap stops it long before 3 GiB are inflated
    assert took < 30, "took %.1fs" % took
    assert H.wait_storage_back_to(stack, before) == before
    free1 = os.statvfs(stack.data_dir)
    assert (free0.f_bavail - free1.f_bavail) * free0.f_frsize < 512 << 20


def test_bomb_multipart_deploy_rejected(stack, bombs):
    data = bombs["tar.gz"]
    name = H.new_name("bomb")
    before = H.storage_snapshot(stack)
    r = H.deploy(stack, H.svc_spec(name, "idle", H.new_marker()), artifact=data)
    _check_rejection(stack, r, (422,), data)
    assert H.project(stack, name) is None
    assert H.wait_storage_back_to(stack, before) == before


def test_upload_cut_off_mid_body_leaves_nothing(stack):
    data = A.project_archive("tar", version=H.new_marker())
    data += os.urandom(8 << 20)  # (junk after the archive; never sent in full)
    before = H.storage_snapshot(stack)
    H.cut_upload(stack, data[:len(data) // 2], len(data))
    assert H.wait_storage_back_to(stack, before, 15) == before
    assert H.artifact_rows(stack, hashlib.sha256(data).hexdigest()) == []
    assert H.artifact_rows(stack, hashlib.sha256(data[:len(data) // 2]).hexdigest()) == []
    # the pool still serves uploads
    ok = A.project_archive("tar", version=H.new_marker())
    assert H.upload(stack, ok).status == 201


def test_multipart_deploy_cut_off_leaves_nothing(stack):
    data = A.project_archive("tar.gz", version=H.new_marker())
    body, ctype = H.multipart([("spec", '{"name":"%s","command":["./x"]}' % H.new_name(), None,
                                "application/json"),
                               ("artifact", data, "build.tar.gz", None)])
    before = H.storage_snapshot(stack)
    host, port, _ = H._hostport(stack)
    import socket
    s = socket.create_connection((host, port), timeout=30)
    try:
        s.sendall(H.raw_request_head(stack, "POST", "/api/v1/projects", {
            "Authorization": "Bearer " + stack.token, "Content-Type": ctype,
            "Content-Length": str(len(body))}))
        s.sendall(body[:len(body) // 2])
    finally:
        s.close()
    assert H.wait_storage_back_to(stack, before, 15) == before


def test_upload_over_the_limit_is_413_before_the_body(stack):
    limit = getattr(stack, "upload_max_bytes", None) or (1 << 30)
    before = H.storage_snapshot(stack)
    r = H.announce_only(stack, limit + 1)
    assert r.status == 413, r
    assert r.error.get("type") == "payload_too_large", r
    assert H.wait_storage_back_to(stack, before) == before


def test_upload_over_a_small_limit_is_413_and_leaves_nothing(fresh_stack):
    stack = fresh_stack(upload_max="1m", config={"upload_max_bytes": "1m"})
    before = H.storage_snapshot(stack)
    data = A.project_archive("tar", version=H.new_marker()) + os.urandom(2 << 20)
    try:
        r = H.upload(stack, data)
    except (BrokenPipeError, ConnectionResetError):
        r = None  # nginx may answer and close before the whole body is sent
    if r is not None:
        assert r.status == 413, r
        assert r.error.get("type") == "payload_too_large", r
    r = H.announce_only(stack, (1 << 20) + 1)
    assert r.status == 413, r
    # chunked: no Content-Length to refuse early, the limit applies as it reads
    c = H.connect(stack)
    try:
        c.request("POST", "/api/v1/artifacts",
                  body=(data[i:i + 65536] for i in range(0, len(data), 65536)),
                  encode_chunked=True, headers={
                      "Authorization": "Bearer " + stack.token,
                      "Content-Type": "application/octet-stream",
                      "Transfer-Encoding": "chunked"})
        resp = c.getresponse()
        assert resp.status == 413, resp.read()
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        c.close()
    assert H.wait_storage_back_to(stack, before) == before
    # just under the limit is fine
    ok = A.project_archive("tar.gz", version=H.new_marker())
    assert H.upload(stack, ok).status == 201
