/* SPDX-License-Identifier: MIT */
/*
 * GET /api/v1/projects/{name}/logs/{stdout|stderr}: a run's output as
 * plain text, from its segments (older ones gzip'd, decompressed with
 * libarchive's raw reader; plain while being compressed) and the current file; ?tail=N keeps the
 * last N lines; ?follow=true streams new bytes (polling every 100 ms, following a rotation) until
 * exit.json says the run is over and everything is sent.
 */
#include "handlers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>

#include "config.h"
#include "log.h"
#include "store_queue.h"
#include "util.h"

#define TAIL_MAX       1000000
#define FOLLOW_POLL_MS 100
#define CHUNK          65536

struct lstream {
	struct request *req;
	char dir[PATH_MAX];
	const char *name; /* "stdout" or "stderr" */
	int fd;           /* current segment, -1 when not open */
	ino_t ino;
	off_t off;
	char *buf; /* tail: collected bytes (owned) */
	size_t len;
};

static int out_put(struct lstream *ls, const char *p, size_t n)
{
	FCGX_Stream *out = ls->req->fx->out;

	while (n > 0) {
		int k = n > CHUNK ? CHUNK : (int)n;
		if (FCGX_PutStr(p, k, out) != k)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return FCGX_GetError(out) == 0 ? 0 : -1;
}

static int buf_prepend(struct lstream *ls, const char *p, size_t n)
{
	char *nb = malloc(ls->len + n + 1);

	if (nb == NULL)
		return -1;
	memcpy(nb, p, n);
	if (ls->len)
		memcpy(nb + n, ls->buf, ls->len);
	free(ls->buf);
	ls->buf = nb;
	ls->len += n;
	return 0;
}

/* Decompresses one .gz segment, giving each chunk to fn. 0 or -1. */
static int gz_each(const char *path, int (*fn)(void *ctx, const char *p, size_t n), void *ctx)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	static char buf[CHUNK];
	la_ssize_t n = 0;
	int rc = -1;

	if (a == NULL)
		return -1;
	archive_read_support_filter_gzip(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_filename(a, path, CHUNK) != ARCHIVE_OK)
		goto done;
	rc = archive_read_next_header(a, &e);
	if (rc == ARCHIVE_EOF) {
		rc = 0;
		goto done;
	}
	rc = -1;
	while ((n = archive_read_data(a, buf, sizeof(buf))) > 0)
		if (fn(ctx, buf, (size_t)n) < 0)
			goto done;
	rc = n < 0 ? -1 : 0;
done:
	if (rc < 0)
		log_warn("log segment %s: %s", path,
		         archive_error_string(a) ? archive_error_string(a) : "unreadable");
	archive_read_free(a);
	return rc;
}

static const char *seg_prefix;

/*
 * stdout.NNNNNN.log.gz, or stdout.NNNNNN.log while its compressor runs
 * (docs/architecture.md), for the stream asked (scandir has no context).
 */
static int seg_filter(const struct dirent *d)
{
	size_t pl = strlen(seg_prefix), n = strlen(d->d_name);

	if (n < pl + 1 + 6 + 4 || strncmp(d->d_name, seg_prefix, pl) != 0 || d->d_name[pl] != '.' ||
	    strspn(d->d_name + pl + 1, "0123456789") != 6)
		return 0;
	return strcmp(d->d_name + pl + 7, ".log.gz") == 0 ||
	       strcmp(d->d_name + pl + 7, ".log") == 0;
}

/* True for a .gz whose plain twin is still there: the compressor has not finished it. */
static bool seg_partial(struct dirent **list, int i)
{
	size_t n = strlen(list[i]->d_name);

	return i > 0 && n > 3 && strcmp(list[i]->d_name + n - 3, ".gz") == 0 &&
	       strncmp(list[i - 1]->d_name, list[i]->d_name, n - 3) == 0 &&
	       list[i - 1]->d_name[n - 3] == '\0';
}

/*
 * The rotated segments, oldest first (alphasort puts "x.log" before
 * "x.log.gz", and the numbers are zero-padded). A .gz still being written
 * beside its plain twin is left out. Caller frees each and the array.
 */
static int segments(struct lstream *ls, struct dirent ***list)
{
	int n, k = 0;

	seg_prefix = ls->name;
	n = scandir(ls->dir, list, seg_filter, alphasort);
	for (int i = 0; i < n; i++) {
		if (seg_partial(*list, i))
			free((*list)[i]);
		else
			(*list)[k++] = (*list)[i];
	}
	return n < 0 ? n : k;
}

/* A plain segment: read it whole through fn. */
static int plain_each(const char *path, int (*fn)(void *ctx, const char *p, size_t n), void *ctx)
{
	static char buf[CHUNK];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;
	int rc = 0;

	if (fd < 0)
		return -1;
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		if (fn(ctx, buf, (size_t)r) < 0) {
			rc = -1;
			break;
		}
	close(fd);
	return r < 0 ? -1 : rc;
}

static int seg_each(const char *path, int (*fn)(void *ctx, const char *p, size_t n), void *ctx)
{
	size_t n = strlen(path);

	if (n > 3 && strcmp(path + n - 3, ".gz") == 0)
		return gz_each(path, fn, ctx);
	return plain_each(path, fn, ctx);
}

static void seg_path(struct lstream *ls, const char *file, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", ls->dir, file);
}

static int put_cb(void *ctx, const char *p, size_t n)
{
	return out_put(ctx, p, n);
}

static int prepend_cb(void *ctx, const char *p, size_t n)
{
	struct lstream *tmp = ctx;
	char *nb = realloc(tmp->buf, tmp->len + n + 1);

	if (nb == NULL)
		return -1;
	memcpy(nb + tmp->len, p, n);
	tmp->buf = nb;
	tmp->len += n;
	return 0;
}

/* Opens the current segment; ENOENT is fine (not written yet, or mid-rotation). */
static int cur_open(struct lstream *ls)
{
	char path[PATH_MAX + 16];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s.log", ls->dir, ls->name);
	ls->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ls->fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(ls->fd, &st) == 0)
		ls->ino = st.st_ino;
	ls->off = 0;
	return 0;
}

/* Reads what the current segment has beyond ls->off; fn gets it. -1 on a write error. */
static int cur_drain(struct lstream *ls, int (*fn)(void *, const char *, size_t), void *ctx)
{
	static char buf[CHUNK];
	ssize_t n;

	if (ls->fd < 0)
		return 0;
	while ((n = pread(ls->fd, buf, sizeof(buf), ls->off)) > 0) {
		if (fn(ctx, buf, (size_t)n) < 0)
			return -1;
		ls->off += n;
	}
	return 0;
}

/* Where the last n lines of buf start (a final line without '\n' counts). */
static size_t tail_start(const char *buf, size_t len, long n)
{
	size_t i = len;
	long seen = 0;

	if (n == 0)
		return len;
	if (i > 0 && buf[i - 1] == '\n')
		i--;
	for (; i > 0; i--)
		if (buf[i - 1] == '\n' && ++seen == n)
			return i;
	return 0;
}

/* Everything: every segment in order, then the current file. */
static void send_all(struct lstream *ls)
{
	struct dirent **list = NULL;
	char path[PATH_MAX + 300];
	int n = segments(ls, &list);

	for (int i = 0; i < n; i++) {
		seg_path(ls, list[i]->d_name, path, sizeof(path));
		seg_each(path, put_cb, ls);
		free(list[i]);
	}
	free(list);
	if (cur_open(ls) == 0)
		cur_drain(ls, put_cb, ls);
}

/* The last n lines: the current file, then older segments until there are enough. */
static void send_tail(struct lstream *ls, long n)
{
	struct dirent **list = NULL;
	char path[PATH_MAX + 300];
	int nseg;

	if (cur_open(ls) < 0 || cur_drain(ls, prepend_cb, ls) < 0)
		return;
	nseg = tail_start(ls->buf, ls->len, n) > 0 ? 0 : segments(ls, &list);
	for (int i = nseg - 1; i >= 0; i--) {
		struct lstream seg = {.len = 0, .buf = NULL};
		if (tail_start(ls->buf, ls->len, n) == 0) {
			seg_path(ls, list[i]->d_name, path, sizeof(path));
			if (seg_each(path, prepend_cb, &seg) == 0 && seg.len > 0)
				buf_prepend(ls, seg.buf, seg.len);
			free(seg.buf);
		}
		free(list[i]);
	}
	free(list);
	if (ls->len > 0) {
		size_t s = tail_start(ls->buf, ls->len, n);
		out_put(ls, ls->buf + s, ls->len - s);
	}
}

/* A new current segment (renamed away, or truncated in place): finish the old one first. */
static int rotate_check(struct lstream *ls)
{
	char path[PATH_MAX + 16];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s.log", ls->dir, ls->name);
	if (stat(path, &st) < 0)
		return 0;
	if (ls->fd >= 0 && st.st_ino == ls->ino) {
		if (st.st_size < ls->off)
			ls->off = 0;
		return 0;
	}
	if (cur_drain(ls, put_cb, ls) < 0)
		return -1;
	if (ls->fd >= 0)
		close(ls->fd);
	ls->fd = -1;
	return cur_open(ls);
}

/*
 * Sleeps one poll interval on the connection: nginx sends nothing more on
 * it unless the client went away (abort record or close), so readable means
 * stop.
 */
static bool client_gone(struct lstream *ls)
{
	struct pollfd p = {.fd = ls->req->fx->ipcFd, .events = POLLIN | POLLRDHUP};

	return poll(&p, 1, FOLLOW_POLL_MS) > 0;
}

static void follow_run(struct lstream *ls)
{
	char exitp[PATH_MAX + 16];
	bool ended = false;

	snprintf(exitp, sizeof(exitp), "%s/exit.json", ls->dir);
	/* consume the empty stdin record so that the socket is quiet from here on */
	while (FCGX_GetChar(ls->req->fx->in) != EOF)
		;
	for (;;) {
		if (cur_drain(ls, put_cb, ls) < 0 || FCGX_FFlush(ls->req->fx->out) < 0)
			return;
		if (ended)
			return;
		/* exit.json comes after the output is drained: one last pass sends the rest */
		ended = access(exitp, F_OK) == 0;
		if (rotate_check(ls) < 0)
			return;
		if (!ended && (client_gone(ls) || h_stopping()))
			return;
	}
}

/* ?tail= (-1 when absent) and ?follow=; 422 naming the bad one. */
static int stream_params(struct request *req, struct response *resp, long *tail, bool *follow)
{
	const char *t = req_query(req, "tail"), *f = req_query(req, "follow");
	char *end;

	*tail = -1;
	*follow = false;
	if (t != NULL) {
		*tail = strtol(t, &end, 10);
		if (*t < '0' || *t > '9' || *end != '\0' || *tail > TAIL_MAX) {
			resp_error(resp, 422, "validation_error",
			           "tail: must be an integer from 0 to %d", TAIL_MAX);
			return -1;
		}
	}
	if (f != NULL) {
		if (strcmp(f, "true") == 0 || strcmp(f, "1") == 0)
			*follow = true;
		else if (strcmp(f, "false") != 0 && strcmp(f, "0") != 0) {
			resp_error(resp, 422, "validation_error", "follow: must be true or false");
			return -1;
		}
	}
	return 0;
}

/* The run whose output is asked: ?task=, else the project's current one. */
static int stream_dir(struct request *req, struct response *resp, struct lstream *ls)
{
	struct store_project row;
	char task[37];
	struct stat st;

	if (h_project_param(req, resp, &row) < 0 || h_task_param(req, resp, row.name, task) < 0)
		return -1;
	if (task[0] == '\0')
		snprintf(task, sizeof(task), "%.36s", row.task_id);
	if (task[0] == '\0') {
		resp_error(resp, 404, "not_found", "project '%s' has no run yet", row.name);
		return -1;
	}
	if (util_fmt(ls->dir, sizeof(ls->dir), "%s/jobs/%s", req->cfg->data_dir, task) < 0 ||
	    stat(ls->dir, &st) < 0) {
		resp_error(resp, 404, "not_found", "no logs yet for task %s", task);
		return -1;
	}
	return 0;
}

/* A queued task's run: the task of the path (its latest attempt's directory). */
static int task_dir(struct request *req, struct response *resp, struct lstream *ls)
{
	const char *id = req_path_param(req, 0);
	struct store_task_info info;
	struct stat st;
	int rc;

	if (h_need_store(req, resp) < 0)
		return -1;
	rc = id != NULL && strlen(id) < 40 ? store_task_info_get(req->store, id, &info) : 0;
	if (rc < 0)
		return h_db_error(req, resp, "reading the task");
	if (rc == 0) {
		resp_error(resp, 404, "not_found", "task '%.40s' not found", id ? id : "");
		return -1;
	}
	store_task_info_clear(&info);
	if (util_fmt(ls->dir, sizeof(ls->dir), "%s/jobs/%s", req->cfg->data_dir, id) < 0 ||
	    stat(ls->dir, &st) < 0) {
		resp_error(resp, 404, "not_found", "no logs yet for task %s (it has not run)", id);
		return -1;
	}
	return 0;
}

static int log_stream(struct request *req, struct response *resp,
                      int (*dir_of)(struct request *, struct response *, struct lstream *))
{
	struct lstream ls = {.req = req, .fd = -1};
	const char *name = req_path_param(req, 1);
	bool follow;
	long tail;

	if (strcmp(name, "stdout") != 0 && strcmp(name, "stderr") != 0) {
		resp_error(resp, 404, "not_found", "no such log stream '%.32s' (stdout or stderr)",
		           name);
		return -1;
	}
	ls.name = name;
	if (stream_params(req, resp, &tail, &follow) < 0 || dir_of(req, resp, &ls) < 0)
		return -1;
	/* from here on the answer is streamed: the status is decided */
	resp->status = 200;
	resp->sent = true;
	FCGX_FPrintF(req->fx->out,
	             "Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
	             "Cache-Control: no-cache\r\n%s\r\n",
	             follow ? "X-Accel-Buffering: no\r\n" : "");
	if (tail >= 0)
		send_tail(&ls, tail);
	else
		send_all(&ls);
	if (follow)
		follow_run(&ls);
	if (ls.fd >= 0)
		close(ls.fd);
	free(ls.buf);
	return 0;
}

int h_projects_log_stream(struct request *req, struct response *resp)
{
	return log_stream(req, resp, stream_dir);
}

int h_tasks_log_stream(struct request *req, struct response *resp)
{
	return log_stream(req, resp, task_dir);
}
