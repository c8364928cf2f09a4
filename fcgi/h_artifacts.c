/* SPDX-License-Identifier: MIT */
/*
 * /api/v1/artifacts: content-addressed uploads. The bytes are inspected
 * (format from magic bytes, every entry under the extraction policy) before
 * anything is kept; the file is linked into <data>/artifacts/<sha256> and
 * made durable before its row is committed, so a row never points at a
 * missing or partial file. Downloads are served by nginx (X-Accel-Redirect).
 */
#include "handlers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "archive.h"
#include "config.h"
#include "inspector.h"
#include "json_out.h"
#include "log.h"
#include "util.h"
#include "validate.h"

#define COPY_CHUNK 65536

static int inspect(struct request *req, struct response *resp, int fd, struct arc_info *info)
{
	struct arc_limits lim;
	char err[512] = "";

	/* nginx's own body file may have been read while nginx wrote it */
	if (fd == req->body_fd && req->body_file != NULL &&
	    inspector_ask(req->cfg, fd, req->body_size, info)) {
		req->followed = true;
		return 0;
	}
	arc_limits_config(&lim, req->cfg);
	if (lseek(fd, 0, SEEK_SET) < 0)
		goto io;
	/*
	 * nginx never flushes the body it wrote. Start the writeback now, so
	 * that the disk works while the inspection pass hashes and parses, and
	 * the fsync before the file is named has little left to wait for. A
	 * rejected upload only wastes the writes.
	 */
	sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	switch (arc_inspect(fd, &lim, info, err, sizeof(err))) {
	case ARC_OK:
		return 0;
	case ARC_E_FORMAT:
		resp_error(
		    resp, 415, "unsupported_media_type",
		    "artifact: not a supported archive (tar, tar.gz, tar.xz, tar.zst, zip): %s",
		    err);
		return -1;
	case ARC_E_CORRUPT:
	case ARC_E_POLICY:
		resp_error(resp, 422, "validation_error", "artifact: %s", err);
		return -1;
	case ARC_E_IO:
		break;
	}
io:
	resp_error(resp, 500, "internal", "cannot read the upload: %s",
	           err[0] ? err : strerror(errno));
	return -1;
}

static int copy_fd(int in, int out)
{
	static char buf[COPY_CHUNK];
	ssize_t n;

	if (lseek(in, 0, SEEK_SET) < 0)
		return -1;
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		for (ssize_t o = 0; o < n;) {
			ssize_t w = write(out, buf + o, (size_t)(n - o));
			if (w < 0 && errno != EINTR)
				return -1;
			o += w > 0 ? w : 0;
		}
	}
	return 0;
}

/* Another filesystem: copy beside the destination, fsync, rename into place. */
static int place_by_copy(int fd, const char *dest)
{
	char tmp[PATH_MAX];
	unsigned char r[6];
	char hex[13];
	int out;

	if (util_random(r, sizeof(r)) < 0)
		return -1;
	util_hex(r, sizeof(r), hex);
	if (util_fmt(tmp, sizeof(tmp), "%s.tmp-%s", dest, hex) < 0)
		return -1;
	out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0)
		return -1;
	if (copy_fd(fd, out) < 0 || fsync(out) < 0 || close(out) < 0) {
		int saved = errno;
		close(out); /* may fail when close failed above: harmless */
		unlink(tmp);
		errno = saved;
		return -1;
	}
	if (rename(tmp, dest) < 0) {
		int saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}

static int place(struct request *req, struct response *resp, int fd, const char *path,
                 const char *sha, bool *created)
{
	char dir[PATH_MAX], dest[PATH_MAX];

	*created = false;
	if (config_path(req->cfg, "artifacts", dir, sizeof(dir)) < 0 ||
	    util_fmt(dest, sizeof(dest), "%s/%s", dir, sha) < 0)
		goto fail;
	/* nginx never fsyncs its body file: make the bytes durable before naming them */
	if (fsync(fd) < 0)
		goto fail;
	if (link(path, dest) == 0) {
		*created = true;
		fchmod(fd, 0644); /* best effort: the file may belong to nginx's user */
	} else if (errno == EEXIST) {
		return 0; /* the same bytes are already there */
	} else if (errno == EXDEV || errno == EPERM) {
		if (place_by_copy(fd, dest) < 0)
			goto fail;
		*created = true;
	} else {
		goto fail;
	}
	if (util_fsync_dir(dir) < 0)
		goto fail;
	return 0;
fail:
	resp_error(resp, 500, "internal", "cannot store the artifact under %s/artifacts: %s",
	           req->cfg->data_dir, strerror(errno));
	if (*created)
		unlink(dest);
	*created = false;
	return -1;
}

int h_artifact_store(struct request *req, struct response *resp, int fd, const char *path,
                     const char *want_sha256, struct arc_info *info, bool *created)
{
	*created = false;
	if (inspect(req, resp, fd, info) < 0)
		return -1;
	if (want_sha256 != NULL && strcmp(want_sha256, info->sha256) != 0) {
		resp_error(resp, 422, "validation_error",
		           "sha256: the upload's digest is %s, not %s", info->sha256, want_sha256);
		return -1;
	}
	return place(req, resp, fd, path, info->sha256, created);
}

int h_artifact_row(struct request *req, struct response *resp, const struct arc_info *info,
                   bool created)
{
	struct store_artifact a;
	char dest[PATH_MAX];
	int rc;

	memset(&a, 0, sizeof(a));
	memcpy(a.sha256, info->sha256, sizeof(a.sha256));
	snprintf(a.format, sizeof(a.format), "%s", arc_format_name(info->format));
	a.size = (int64_t)info->size;
	a.entries = (int64_t)info->entries;
	a.unpacked = (int64_t)info->unpacked;
	rc = store_artifact_insert(req->store, &a);
	if (rc >= 0)
		return rc;
	/* a file we just made has no row: do not leave it behind */
	if (created &&
	    util_fmt(dest, sizeof(dest), "%s/artifacts/%s", req->cfg->data_dir, info->sha256) >= 0)
		unlink(dest);
	return h_db_error(req, resp, "recording the artifact");
}

int h_artifacts_upload(struct request *req, struct response *resp)
{
	const char *want = req_query(req, "sha256");
	struct store_artifact_info row;
	struct arc_info info;
	bool created;
	int rc;

	if (h_need_store(req, resp) < 0)
		return -1;
	if (want != NULL && validate_sha256_hex(want) < 0) {
		resp_error(resp, 422, "validation_error",
		           "sha256: must be 64 lower-case hex characters");
		return -1;
	}
	if (req->body_size == 0) {
		resp_error(resp, 400, "bad_request", "empty body: send the archive's bytes");
		return -1;
	}
	if (h_artifact_store(req, resp, req->body_fd, req->body_path, want, &info, &created) < 0)
		return -1;
	if (store_begin(req->store) < 0)
		return h_db_error(req, resp, "starting a transaction");
	rc = h_artifact_row(req, resp, &info, created);
	if (rc < 0)
		return -1;
	if (store_artifact_get(req->store, info.sha256, &row) != 1)
		return h_db_error(req, resp, "reading the artifact back");
	resp_ok(resp, rc == 1 ? 201 : 200, json_out_artifact(&row));
	store_artifact_info_clear(&row);
	if (h_commit(req, resp) < 0)
		return -1;
	log_info("artifact %s (%s, %llu bytes) %s, inspected %s", info.sha256,
	         arc_format_name(info.format), (unsigned long long)info.size,
	         rc == 1 ? "stored" : "already known",
	         req->followed ? "while uploading" : "after the upload");
	return 0;
}

int h_artifacts_list(struct request *req, struct response *resp)
{
	struct store_artifact_info *arr;
	int64_t total;
	int limit, offset;
	size_t n;

	if (h_need_store(req, resp) < 0 || h_paging(req, resp, &limit, &offset) < 0)
		return -1;
	if (store_artifact_list(req->store, limit, offset, &arr, &n, &total) < 0)
		return h_db_error(req, resp, "listing artifacts");
	resp_list(resp, json_out_artifacts(arr, n), total, limit, offset);
	store_artifact_info_free(arr, n);
	return 0;
}

/*
 * The {sha256} path parameter: 404 unless well-formed and known. 0 with
 * *out filled (the caller clears it), or -1.
 */
static int artifact_param(struct request *req, struct response *resp,
                          struct store_artifact_info *out)
{
	const char *sha = req_path_param(req, 0);
	int rc;

	if (h_need_store(req, resp) < 0)
		return -1;
	rc = validate_sha256_hex(sha) == 0 ? store_artifact_get(req->store, sha, out) : 0;
	if (rc < 0)
		return h_db_error(req, resp, "reading the artifact");
	if (rc == 0) {
		resp_error(resp, 404, "not_found", "artifact '%.64s' not found", sha);
		return -1;
	}
	return 0;
}

int h_artifacts_get(struct request *req, struct response *resp)
{
	struct store_artifact_info row;

	if (artifact_param(req, resp, &row) < 0)
		return -1;
	resp_ok(resp, 200, json_out_artifact(&row));
	store_artifact_info_clear(&row);
	return 0;
}

int h_artifacts_download(struct request *req, struct response *resp)
{
	const char *sha = req_path_param(req, 0);
	struct store_artifact_info row;
	const char *fmt;

	if (artifact_param(req, resp, &row) < 0)
		return -1;
	fmt = row.a.format[0] ? row.a.format : "bin";
	resp->status = 200;
	resp->no_body = true;
	resp_header(resp, "X-Accel-Redirect", "/_hostagent/artifacts/%s", sha);
	resp_header(resp, "Content-Type", "application/octet-stream");
	resp_header(resp, "Content-Disposition", "attachment; filename=\"%.12s.%s\"", sha, fmt);
	store_artifact_info_clear(&row);
	return 0;
}

/* 409 with what keeps the artifact; 0 when nothing does. */
static int artifact_in_use(struct request *req, struct response *resp, const char *sha)
{
	struct store_artifact_use u;

	if (store_artifact_usage(req->store, sha, &u) < 0)
		return h_db_error(req, resp, "checking the artifact's users");
	if (u.projects > 0)
		resp_error(resp, 409, "conflict", "artifact is used by project '%s'%s", u.project,
		           u.projects > 1 ? " and others" : "");
	else if (u.tasks > 0)
		resp_error(resp, 409, "conflict", "artifact is used by task %s%s", u.task,
		           u.tasks > 1 ? " and others" : "");
	else if (u.releases > 0)
		resp_error(resp, 409, "conflict",
		           "artifact is kept by %lld release(s) for rollback; delete their project "
		           "with ?purge=true first",
		           (long long)u.releases);
	else
		return 0;
	store_rollback(req->store);
	return -1;
}

int h_artifacts_delete(struct request *req, struct response *resp)
{
	const char *sha = req_path_param(req, 0);
	struct store_artifact_info row;
	struct json_object *o;
	char dir[PATH_MAX], path[PATH_MAX];

	if (artifact_param(req, resp, &row) < 0)
		return -1;
	store_artifact_info_clear(&row);
	if (store_begin(req->store) < 0)
		return h_db_error(req, resp, "starting a transaction");
	if (artifact_in_use(req, resp, sha) < 0)
		return -1;
	if (store_artifact_delete(req->store, sha) < 0)
		return h_db_error(req, resp, "deleting the artifact");
	o = json_object_new_object();
	json_object_object_add(o, "sha256", json_object_new_string(sha));
	json_object_object_add(o, "deleted", json_object_new_boolean(1));
	resp_ok(resp, 200, o);
	if (h_commit(req, resp) < 0)
		return -1;
	/* the row is gone first: a crash here leaves an unreferenced file, never a dangling row */
	if (config_path(req->cfg, "artifacts", dir, sizeof(dir)) == 0 &&
	    util_fmt(path, sizeof(path), "%s/%s", dir, sha) >= 0) {
		if (unlink(path) < 0 && errno != ENOENT)
			log_warn("artifact %s: cannot remove the file: %s", sha, strerror(errno));
		util_fsync_dir(dir);
	}
	return 0;
}
