/* SPDX-License-Identifier: MIT */
/*
 * The shim's health checks (see shim_health.h). A run is: start (fork the
 * command, or connect a non-blocking socket), then events from the loop
 * (output, writable, readable), then one end: the command reaped, the
 * connect's outcome, the HTTP status line, or the deadline. The next run
 * is armed an interval after the end, so a slow check never overlaps
 * itself.
 */
#include "shim_health.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "util.h"

#define FIRST_CHECK_MAX_MS 1000

static void run_check(struct loop *l, void *arg);

static void close_fd(struct shim_prober *p)
{
	if (p->fd < 0)
		return;
	loop_del_fd(p->loop, p->fd);
	close(p->fd);
	p->fd = -1;
}

/* The run is over: report it and arm the next one. */
static void finish(struct shim_prober *p, bool ok, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void finish(struct shim_prober *p, bool ok, int code, const char *fmt, ...)
{
	struct shim_health h = {.ok = ok, .code = code, .at = p->at};
	va_list ap;

	loop_timer_cancel(p->loop, p->timer);
	close_fd(p);
	p->running = false;
	h.duration_ms = util_mono_ms() - p->t0;
	va_start(ap, fmt);
	vsnprintf(h.output, sizeof(h.output), fmt, ap);
	va_end(ap);
	p->report(&h, p->arg);
	if (!p->paused)
		p->timer = loop_timer_add(p->loop, p->spec->check.interval_ms, run_check, p);
}

/* The tail of what a command printed, on one line. */
static const char *out_tail(struct shim_prober *p)
{
	size_t b = p->len, a;

	while (b > 0 && (p->buf[b - 1] == '\n' || p->buf[b - 1] == ' '))
		b--;
	a = b > sizeof(((struct shim_health *)0)->output) - 64
	        ? b - (sizeof(((struct shim_health *)0)->output) - 64)
	        : 0;
	for (size_t i = a; i < b; i++)
		if ((unsigned char)p->buf[i] < 0x20)
			p->buf[i] = ' ';
	p->buf[b] = '\0';
	return p->buf + a;
}

/* Keeps the last bytes of a command's output; never more than buf holds. */
static void read_output(struct shim_prober *p)
{
	char tmp[4096];
	ssize_t n;

	while (p->fd >= 0 && (n = read(p->fd, tmp, sizeof(tmp))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return; /* EAGAIN */
		}
		size_t keep = sizeof(p->buf) - 1, k = (size_t)n > keep ? keep : (size_t)n;
		if (p->len + k > keep) {
			memmove(p->buf, p->buf + (p->len + k - keep), keep - k);
			p->len = keep - k;
		}
		memcpy(p->buf + p->len, tmp + (size_t)n - k, k);
		p->len += k;
	}
	close_fd(p); /* EOF */
}

static void on_cmd_output(struct loop *l, int fd, uint32_t events, void *arg)
{
	read_output(arg);
}

int shim_health_exited(struct shim_prober *p, pid_t pid)
{
	int status;

	if (p->pid == 0 || pid != p->pid)
		return 0;
	killpg(pid, SIGKILL); /* what the check left running: the group is still its own */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	p->pid = 0;
	if (!p->running)
		return 1; /* killed by shim_health_stop or a pause: nobody wants the result */
	read_output(p); /* what is in the pipe now; an orphan holding it is not waited for */
	if (p->timed_out)
		finish(p, false, -1, "timed out after %lld ms%s%s",
		       (long long)p->spec->check.timeout_ms, p->len ? ": " : "", out_tail(p));
	else if (WIFEXITED(status))
		finish(p, WEXITSTATUS(status) == 0, WEXITSTATUS(status), "%s%s", out_tail(p),
		       p->len ? "" : (WEXITSTATUS(status) == 0 ? "" : "exited without output"));
	else
		finish(p, false, -1, "killed by signal %d%s%s", WTERMSIG(status), p->len ? ": " : "",
		       out_tail(p));
	return 1;
}

static void start_command(struct shim_prober *p)
{
	char err[256];
	int pf[2];

	if (pipe2(pf, O_CLOEXEC) < 0) {
		finish(p, false, -1, "pipe: %s", strerror(errno));
		return;
	}
	util_set_nonblock(pf[0]);
	if (shim_exec_argv(p->spec, p->spec->check.argv, pf[1], pf[1], &p->pid, err, sizeof(err)) <
	    0) {
		p->pid = 0; /* a failed start was reaped by shim_exec_argv */
		close(pf[0]);
		close(pf[1]);
		finish(p, false, -1, "%s", err);
		return;
	}
	close(pf[1]);
	p->fd = pf[0];
	if (loop_add_fd(p->loop, p->fd, EPOLLIN, on_cmd_output, p) < 0) {
		close(p->fd);
		p->fd = -1;
	}
}

/* An HTTP status line: "HTTP/1.x NNN ..."; 200-399 passes. */
static void http_answer(struct shim_prober *p, bool eof)
{
	char *nl = memchr(p->buf, '\n', p->len);
	int code = 0;

	if (nl == NULL && !eof && p->len < sizeof(p->buf) - 1)
		return; /* more to come */
	p->buf[nl ? (size_t)(nl - p->buf) : p->len] = '\0';
	p->buf[strcspn(p->buf, "\r")] = '\0';
	if (sscanf(p->buf, "HTTP/%*d.%*d %d", &code) != 1 || code < 100 || code > 599) {
		finish(p, false, -1, "not an HTTP answer: %.80s", p->buf);
		return;
	}
	finish(p, code >= 200 && code < 400, code, "%s", p->buf);
}

static void on_http_read(struct shim_prober *p)
{
	ssize_t n;

	while (p->len < sizeof(p->buf) - 1 &&
	       (n = read(p->fd, p->buf + p->len, sizeof(p->buf) - 1 - p->len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				finish(p, false, -1, "read: %s", strerror(errno));
			else
				http_answer(p, false);
			return;
		}
		p->len += (size_t)n;
	}
	http_answer(p, true);
}

static void on_socket(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct shim_prober *p = arg;
	const struct shim_check *c = &p->spec->check;
	char req[1200];
	int err = 0, n;
	socklen_t el = sizeof(err);

	if (p->sent) {
		on_http_read(p);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		err = errno;
	if (err != 0) {
		finish(p, false, -1, "connect to 127.0.0.1:%d: %s", c->port, strerror(err));
		return;
	}
	if (c->kind == SHIM_CHECK_TCP) {
		finish(p, true, -1, "connected to 127.0.0.1:%d", c->port);
		return;
	}
	n = snprintf(req, sizeof(req),
	             "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\nUser-Agent: hostagent-health\r\n"
	             "Connection: close\r\n\r\n",
	             c->path, c->port);
	/* a fresh socket's send buffer takes a request this small at once */
	if (n < 0 || (size_t)n >= sizeof(req) || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		finish(p, false, -1, "sending the request: %s", strerror(errno));
		return;
	}
	p->sent = true;
	loop_mod_fd(l, fd, EPOLLIN);
}

static void start_socket(struct shim_prober *p)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(p->spec->check.port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0) {
		finish(p, false, -1, "socket: %s", strerror(errno));
		return;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		finish(p, false, -1, "connect to 127.0.0.1:%d: %s", p->spec->check.port, strerror(e));
		return;
	}
	p->fd = fd;
	if (loop_add_fd(p->loop, fd, EPOLLOUT, on_socket, p) < 0) {
		close(fd);
		p->fd = -1;
		finish(p, false, -1, "loop: %s", strerror(errno));
	}
}

static void on_deadline(struct loop *l, void *arg)
{
	struct shim_prober *p = arg;

	p->timer = 0;
	if (p->pid > 0) {
		/* the end is reported when it is reaped: SIGKILL cannot be refused */
		p->timed_out = true;
		killpg(p->pid, SIGKILL);
		return;
	}
	finish(p, false, -1, "timed out after %lld ms", (long long)p->spec->check.timeout_ms);
}

static void run_check(struct loop *l, void *arg)
{
	struct shim_prober *p = arg;

	p->timer = 0;
	p->running = true;
	p->timed_out = p->sent = false;
	p->len = 0;
	p->at = util_now_ms();
	p->t0 = util_mono_ms();
	p->timer = loop_timer_add(l, p->spec->check.timeout_ms, on_deadline, p);
	if (p->spec->check.kind == SHIM_CHECK_COMMAND)
		start_command(p);
	else if (p->spec->check.kind == SHIM_CHECK_BROKEN)
		finish(p, false, -1, "the check cannot run: its port is not one the job has");
	else
		start_socket(p);
}

void shim_health_pause(struct shim_prober *p, bool on)
{
	if (p->loop == NULL || p->paused == on)
		return;
	p->paused = on;
	loop_timer_cancel(p->loop, p->timer);
	p->timer = 0;
	if (on) {
		close_fd(p);
		if (p->pid > 0)
			killpg(p->pid, SIGKILL); /* reaped later; its result is dropped */
		p->running = false;
		return;
	}
	p->timer = loop_timer_add(p->loop, p->spec->check.interval_ms, run_check, p);
}

void shim_health_start(struct shim_prober *p, struct loop *l, const struct shim_spec *spec,
                       shim_health_fn *report, void *arg)
{
	int64_t first = spec->check.interval_ms;

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	if (spec->check.kind == SHIM_CHECK_NONE)
		return;
	p->loop = l;
	p->spec = spec;
	p->report = report;
	p->arg = arg;
	p->timer = loop_timer_add(l, first < FIRST_CHECK_MAX_MS ? first : FIRST_CHECK_MAX_MS,
	                          run_check, p);
}

void shim_health_stop(struct shim_prober *p)
{
	if (p->loop == NULL)
		return;
	loop_timer_cancel(p->loop, p->timer);
	p->timer = 0;
	close_fd(p);
	if (p->pid > 0)
		killpg(p->pid, SIGKILL); /* reaped later; shim_health_exited drops it */
	p->running = false;
	p->loop = NULL;
}
