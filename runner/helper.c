/* SPDX-License-Identifier: MIT */
/*
 * Short-lived helper children for slow work (see helper.h). The runner stays responsive: a kill
 * arriving during a 1 GB extraction is applied at once, and the extraction's result is taken when
 * its pipe closes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <json-c/json.h>

#include "log.h"
#include "loop.h"
#include "helper.h"
#include "json_get.h"
#include "runner.h"
#include "util.h"

#define HELPER_MAX_OUT (1 << 20)

struct helper {
	struct runner *r;
	int fd;
	pid_t pid;
	helper_done_fn *done;
	void *arg;
	char *buf;
	size_t len, cap;
};

static void helper_child(int wfd, helper_work_fn *work, void *arg)
{
	struct json_object *res = NULL, *o = json_object_new_object();
	char err[512] = "";
	const char *txt;
	int ok = work(arg, &res, err, sizeof(err)) == 0;
	size_t len;

	fcntl(wfd, F_SETFL, 0); /* blocking: the parent reads at its own pace */
	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	json_object_object_add(o, "result", res);
	json_object_object_add(o, "error", json_object_new_string(err));
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	len = strlen(txt);
	while (len > 0) {
		ssize_t n = write(wfd, txt, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		txt += n;
		len -= (size_t)n;
	}
	_exit(0);
}

static void helper_finish(struct helper *h)
{
	struct json_object *o = NULL, *res = NULL;
	const char *err = "helper process died";
	bool ok = false;

	if (h->buf != NULL) {
		h->buf[h->len] = '\0';
		o = json_tokener_parse(h->buf);
	}
	if (o != NULL) {
		ok = json_object_get_boolean(json_object_object_get(o, "ok"));
		res = json_object_object_get(o, "result");
		err = json_get_str(o, "error");
	}
	h->done(h->r, h->arg, ok, res, err ? err : "");
	json_object_put(o);
	free(h->buf);
	free(h);
}

static void on_helper(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct helper *h = arg;

	for (;;) {
		ssize_t n;
		if (h->cap - h->len < 4096) {
			size_t cap = h->cap ? h->cap * 2 : 8192;
			char *nb = cap <= HELPER_MAX_OUT ? realloc(h->buf, cap + 1) : NULL;
			if (nb == NULL)
				break;
			h->buf = nb;
			h->cap = cap;
		}
		n = read(fd, h->buf + h->len, h->cap - h->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			break;
		h->len += (size_t)n;
	}
	loop_del_fd(l, fd);
	close(fd);
	helper_finish(h);
}

int helper_start(struct runner *r, helper_work_fn *work, helper_done_fn *done, void *arg)
{
	struct helper *h = calloc(1, sizeof(*h));
	int p[2];

	if (h == NULL || pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		free(h);
		return -1;
	}
	h->pid = fork();
	if (h->pid == 0) {
		close(p[0]);
		helper_child(p[1], work, arg);
	}
	close(p[1]);
	if (h->pid < 0 || loop_add_fd(r->loop, p[0], EPOLLIN, on_helper, h) < 0) {
		log_error("helper: %s", strerror(errno));
		close(p[0]);
		free(h);
		return -1;
	}
	h->r = r;
	h->fd = p[0];
	h->done = done;
	h->arg = arg;
	return 0;
}

struct rm_job {
	char path[PATH_MAX];
};

static int rm_work(void *arg, struct json_object **result, char *err, size_t errlen)
{
	struct rm_job *j = arg;

	if (util_rm_rf(j->path) < 0) {
		snprintf(err, errlen, "%s: %s", j->path, strerror(errno));
		return -1;
	}
	return 0;
}

static void rm_done(struct runner *r, void *arg, bool ok, struct json_object *result,
                    const char *err)
{
	if (!ok)
		log_warn("remove: %s", err);
	free(arg);
}

void helper_remove_tree(struct runner *r, const char *path)
{
	struct rm_job *j = calloc(1, sizeof(*j));

	if (j == NULL || util_fmt(j->path, sizeof(j->path), "%s", path) < 0) {
		free(j);
		return;
	}
	if (helper_start(r, rm_work, rm_done, j) < 0) {
		util_rm_rf(path); /* no child to be had: do it here rather than leak it */
		free(j);
	}
}
