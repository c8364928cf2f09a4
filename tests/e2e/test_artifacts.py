# SPDX-License-Identifier: MIT
"""Artifact uploads through nginx (docs/api.md, Artifacts): every format
detected from the bytes, content-addressed storage, ?sha256= verification,
the same bytes twice, metadata, download served by nginx, deletion rules."""

import hashlib
import os
import re

import pytest

import archives as A
import projects_helpers as H
from projects_helpers import projects  # noqa: F401  (fixture)

RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _check_stored(stack, data, res, fmt, entries):
    sha = hashlib.sha256(data).hexdigest()
    assert res["sha256"] == sha
    assert res["size"] == len(data)
    assert res["format"] == fmt
    assert res["entries"] == entries
    path = os.path.join(H.artifacts_dir(stack), sha)
    with open(path, "rb") as f:
        assert f.read() == data, "stored file differs from the uploaded bytes"
    rows = H.artifact_rows(stack, sha)
    assert rows == [(sha, len(data), fmt, entries)]
    return sha


@pytest.mark.parametrize("fmt", A.FORMATS)
def test_upload_each_format(stack, fmt):
    # A fresh version string makes the bytes (and so the digest) new.
    files = A.project_files("fmt-" + fmt + "-" + H.new_marker())
    data = A.archive(fmt, files)
    r = H.upload(stack, data)
    assert r.status == 201, r
    assert r.json["meta"]["request_id"], r
    assert r.headers.get("x-request-id") == r.json["meta"]["request_id"]
    _check_stored(stack, data, r.result, fmt, A.entry_count(fmt, files))


def test_format_comes_from_the_bytes_not_the_name(stack):
    data = A.project_archive("tar.xz", version=H.new_marker())
    r = H.upload(stack, data, headers={"Content-Type": "application/zip",
                                       "Content-Disposition": 'attachment; filename="x.zip"'})
    assert r.status == 201, r
    assert r.result["format"] == "tar.xz"


def test_same_bytes_twice_same_artifact_one_row(stack):
    data = A.project_archive("tar.gz", version=H.new_marker())
    sha = hashlib.sha256(data).hexdigest()
    r1 = H.upload(stack, data)
    assert r1.status == 201, r1
    r2 = H.upload(stack, data)
    assert r2.status == 200, r2
    assert r2.result["sha256"] == r1.result["sha256"] == sha
    assert r2.result["size"] == r1.result["size"]
    assert len(H.artifact_rows(stack, sha)) == 1
    stored = [f for f in os.listdir(H.artifacts_dir(stack)) if f.startswith(sha)]
    assert stored == [sha], stored
    # nothing of the second upload is left in the temporary directories
    assert not H.list_files(os.path.join(stack.data_dir, "tmp")), \
        H.list_files(os.path.join(stack.data_dir, "tmp"))


def test_sha256_query_that_matches_is_accepted(stack):
    data = A.project_archive("zip", version=H.new_marker())
    sha = hashlib.sha256(data).hexdigest()
    r = H.upload(stack, data, sha256=sha)
    assert r.status == 201, r
    assert r.result["sha256"] == sha


def test_sha256_mismatch_is_422_and_stores_nothing(stack):
    data = A.project_archive("tar.gz", version=H.new_marker())
    real = hashlib.sha256(data).hexdigest()
    wrong = hashlib.sha256(b"something else").hexdigest()
    before = H.storage_snapshot(stack)
    r = H.upload(stack, data, sha256=wrong)
    assert r.status == 422, r
    assert r.error.get("type") == "validation_error", r
    assert "sha256" in r.error.get("detail", ""), r
    assert H.wait_storage_back_to(stack, before) == before
    assert H.artifact_rows(stack, real) == []
    assert not os.path.exists(os.path.join(H.artifacts_dir(stack), real))


def test_sha256_query_malformed_is_4xx(stack):
    data = A.project_archive("tar.gz", version=H.new_marker())
    before = H.storage_snapshot(stack)
    r = H.upload(stack, data, sha256="not-a-digest")
    assert r.status == 422 and r.error["type"] == "validation_error", r
    assert r.error["detail"] == "sha256: must be 64 lower-case hex characters", r
    assert H.wait_storage_back_to(stack, before) == before


def test_upload_chunked_body(stack):
    """curl -T - sends Transfer-Encoding: chunked; the bytes must be the same."""
    data = A.project_archive("tar.zst", version=H.new_marker())

    def chunks():
        for i in range(0, len(data), 1000):
            yield data[i:i + 1000]

    c = H.connect(stack)
    try:
        c.request("POST", "/api/v1/artifacts", body=chunks(), encode_chunked=True,
                  headers={"Authorization": "Bearer " + stack.token,
                           "Content-Type": "application/octet-stream",
                           "Transfer-Encoding": "chunked"})
        r = c.getresponse()
        body = r.read()
        assert r.status == 201, body
    finally:
        c.close()
    r2 = H.upload(stack, data)
    assert r2.status == 200 and r2.result["sha256"] == hashlib.sha256(data).hexdigest(), r2


def test_upload_over_tls(stack):
    data = A.project_archive("tar", version=H.new_marker())
    r = H.http(stack, "POST", "/api/v1/artifacts", data,
               headers={"Content-Type": "application/octet-stream"}, tls=True)
    assert r.status == 201, r
    assert r.result["sha256"] == hashlib.sha256(data).hexdigest()


def test_upload_needs_a_token(stack):
    data = A.project_archive("tar.gz", version=H.new_marker())
    before = H.storage_snapshot(stack)
    r = H.upload(stack, data, headers={"Authorization": ""})
    assert r.status == 401, r
    assert r.error.get("type") == "unauthorized"
    r = H.upload(stack, data, headers={"Authorization": "Bearer hat_not_a_real_token"})
    assert r.status == 401, r
    assert H.wait_storage_back_to(stack, before) == before


def test_metadata_list_and_download(stack):
    data = A.project_archive("tar.gz", version=H.new_marker())
    sha = H.upload_ok(stack, data)
    r = H.get(stack, "/api/v1/artifacts/" + sha)
    assert r.status == 200, r
    m = r.result
    assert m["sha256"] == sha and m["size"] == len(data) and m["format"] == "tar.gz"
    assert RFC3339_MS.match(m["created_at"]), m
    r = H.get(stack, "/api/v1/artifacts")
    assert r.status == 200, r
    assert sha in [a["sha256"] for a in r.result], "uploaded artifact missing from the list"
    meta = r.json["meta"]
    for k in ("count", "total", "limit", "offset"):
        assert k in meta, meta
    d = H.get(stack, "/api/v1/artifacts/%s/download" % sha)
    assert d.status == 200, d
    assert d.body == data
    assert "x-accel-redirect" not in d.headers
    # nginx serves the file itself: byte ranges work
    part = H.get(stack, "/api/v1/artifacts/%s/download" % sha, headers={"Range": "bytes=10-109"})
    assert part.status == 206, part
    assert part.body == data[10:110]
    missing = H.get(stack, "/api/v1/artifacts/" + "0" * 64)
    assert missing.status == 404, missing
    assert missing.error.get("type") == "not_found"


def test_delete_artifact_in_use_is_409_then_allowed(stack, projects):
    data = A.project_archive("tar.gz", version=H.new_marker())
    sha = H.upload_ok(stack, data)
    name = projects.add(H.new_name("art"))
    spec = H.svc_spec(name, "idle", H.new_marker(), artifact=sha, start=False)
    H.deploy_ok(stack, spec)
    r = H.http(stack, "DELETE", "/api/v1/artifacts/" + sha)
    assert r.status == 409, r
    assert r.error.get("type") == "conflict"
    assert os.path.exists(os.path.join(H.artifacts_dir(stack), sha))
    # unused: deleted, file and row gone
    data2 = A.project_archive("tar.gz", version=H.new_marker())
    sha2 = H.upload_ok(stack, data2)
    r = H.http(stack, "DELETE", "/api/v1/artifacts/" + sha2)
    assert r.status == 200 and r.result == {"sha256": sha2, "deleted": True}, r
    assert H.poll(lambda: not os.path.exists(os.path.join(H.artifacts_dir(stack), sha2)), 10)
    assert H.artifact_rows(stack, sha2) == []
