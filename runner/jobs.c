/* SPDX-License-Identifier: MIT */
/*
 * The runner's side of running jobs: one SOCK_SEQPACKET connection per
 * shim, the events it sends (started, exec_failed, exited, status), the
 * ops the runner sends (never a kill(2) of a job PID: architecture.md), and
 * recovery after a runner restart, when every live shim is found again
 * through its shim.sock or its exit.json.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "log.h"
#include "loop.h"
#include "packet.h"
#include "runner.h"
#include "store.h"
#include "store_run.h"
#include "util.h"

int job_dir(const struct runner *r, const char *task_id, char *buf, size_t len)
{
	return util_fmt(buf, len, "%s/jobs/%s", r->cfg.data_dir, task_id) < 0 ? -1 : 0;
}

struct job *job_find(struct runner *r, const char *task_id)
{
	for (struct job *j = r->jobs; j != NULL; j = j->next)
		if (strcmp(j->task_id, task_id) == 0)
			return j;
	return NULL;
}

static void job_unlink(struct runner *r, struct job *j)
{
	for (struct job **pp = &r->jobs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	}
	if (j->conn_fd >= 0) {
		loop_del_fd(r->loop, j->conn_fd);
		close(j->conn_fd);
		j->conn_fd = -1;
	}
}

static void exit_from_json(struct json_object *o, struct job_exit *e)
{
	struct json_object *v;

	memset(e, 0, sizeof(*e));
	if (json_object_object_get_ex(o, "exit_code", &v) &&
	    !json_object_is_type(v, json_type_null))
		e->has_code = true, e->exit_code = json_object_get_int(v);
	if (json_object_object_get_ex(o, "signal", &v) && !json_object_is_type(v, json_type_null))
		e->has_signal = true, e->signal = json_object_get_int(v);
	e->core = json_object_get_boolean(json_object_object_get(o, "core"));
	e->killed = json_object_get_boolean(json_object_object_get(o, "killed"));
	e->timed_out = json_object_get_boolean(json_object_object_get(o, "timed_out"));
	e->oom = json_object_get_boolean(json_object_object_get(o, "oom"));
	e->stopped = json_object_get_boolean(json_object_object_get(o, "stopped"));
	e->started_at = json_int(o, "started_at", 0);
	e->ended_at = json_int(o, "ended_at", 0);
	snprintf(e->reason, sizeof(e->reason), "%s",
	         json_str(o, "reason") ? json_str(o, "reason") : "");
}

int job_read_exit(const char *jobdir, struct job_exit *e)
{
	char path[PATH_MAX], *text = NULL;
	struct json_object *o;

	if (util_fmt(path, sizeof(path), "%s/exit.json", jobdir) < 0)
		return -1;
	if (util_read_file(path, 65536, &text, NULL) < 0)
		return errno == ENOENT ? 0 : -1;
	o = json_tokener_parse(text);
	free(text);
	if (o == NULL)
		return -1;
	exit_from_json(o, e);
	json_object_put(o);
	return 1;
}

/* The run is over: record it, tell its project, forget the job. */
static void job_end(struct runner *r, struct job *j, const struct job_exit *e)
{
	struct run_end end = {0};
	char reason[300];
	bool by_request = e->stopped || j->stop_requested || j->kill_requested;

	end.state = sv_end_state(e->has_code, e->exit_code, e->has_signal, e->signal, by_request,
	                         e->timed_out, reason, sizeof(reason));
	if (!e->has_code && !e->has_signal && e->reason[0] != '\0')
		snprintf(reason, sizeof(reason), "%s", e->reason); /* exec failed, shim lost */
	if (!by_request && e->oom)
		snprintf(reason + strlen(reason), sizeof(reason) - strlen(reason),
		         " (out of memory)");
	end.reason = reason;
	end.has_code = e->has_code;
	end.exit_code = e->exit_code;
	end.has_signal = e->has_signal;
	end.signal = e->signal;
	end.killed = e->killed;
	end.timed_out = e->timed_out;
	end.oom = e->oom;
	end.started_at = e->started_at;
	end.ended_at = e->ended_at;
	if (store_run_task_ended(r->store, j->task_id, &end) < 0)
		log_error("task %s: cannot record its end", j->task_id);
	store_event_add(r->store, "task.exited", j->task_id, j->project[0] ? j->project : NULL,
	                strcmp(end.state, "failed") == 0 ? "warn" : "info", reason, NULL);
	log_info("task %s %s: %s", j->task_id, end.state, reason);
	j->ended = true;
	job_unlink(r, j);
	if (j->project[0] != '\0')
		project_job_ended(r, j, e);
	free(j);
}

static void on_started(struct runner *r, struct job *j, struct json_object *o)
{
	j->pid = (pid_t)json_int(o, "pid", 0);
	j->started_at = json_int(o, "started_at", util_now_ms());
	j->started = true;
	store_run_task_started(r->store, j->task_id, j->pid, j->shim_pid, j->started_at);
	store_event_add(r->store, "task.started", j->task_id, j->project[0] ? j->project : NULL,
	                NULL, "started", NULL);
	log_info("task %s started: pid %d (%lld ms after spawn)", j->task_id, (int)j->pid,
	         (long long)(util_mono_ms() - j->spawned_mono));
	if (j->project[0] != '\0')
		project_job_started(r, j);
}

/* 1 when the packet ended the job (j is freed), else 0. */
static int on_packet(struct runner *r, struct job *j, const char *buf)
{
	int ended = 0;
	struct json_object *o = json_tokener_parse(buf);
	const char *ev = json_str(o, "ev");
	struct job_exit e;

	if (ev == NULL) {
		log_warn("task %s: bad packet from the shim", j->task_id);
	} else if (strcmp(ev, "started") == 0) {
		on_started(r, j, o);
	} else if (strcmp(ev, "exited") == 0) {
		exit_from_json(o, &e);
		job_end(r, j, &e);
		ended = 1;
	} else if (strcmp(ev, "exec_failed") == 0) {
		memset(&e, 0, sizeof(e));
		snprintf(e.reason, sizeof(e.reason), "%s", json_str(o, "message") ?: "exec failed");
		e.ended_at = util_now_ms();
		job_end(r, j, &e);
		ended = 1;
	} else if (strcmp(ev, "status") == 0 && !j->started && json_int(o, "pid", 0) > 0) {
		on_started(r, j, o); /* adopted before "started" was recorded */
	} else if (strcmp(ev, "status") == 0) {
		j->paused = json_object_get_boolean(json_object_object_get(o, "paused"));
		log_debug("task %s: shim rss %lld", j->task_id,
		          (long long)json_int(o, "shim_rss", 0));
	}
	json_object_put(o);
	return ended;
}

/* The connection closed without "exited": exit.json, else the shim is gone. */
static void job_lost(struct runner *r, struct job *j)
{
	char dir[PATH_MAX];
	struct job_exit e;

	memset(&e, 0, sizeof(e));
	if (job_dir(r, j->task_id, dir, sizeof(dir)) == 0 && job_read_exit(dir, &e) == 1) {
		job_end(r, j, &e);
		return;
	}
	/* no exit status can be had: a cgroup still lets us leave nothing running */
	cgroup_job_destroy(j->cgroup);
	snprintf(e.reason, sizeof(e.reason), "the shim died; the job's exit status is unknown");
	e.ended_at = util_now_ms();
	job_end(r, j, &e);
}

static int conn_packet(const char *pkt, void *arg)
{
	struct job *j = arg;

	return on_packet(j->r, j, pkt); /* nonzero: the job ended, and is freed */
}

static void on_conn(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct job *j = arg;

	if (packet_drain(fd, conn_packet, j) == PACKET_PEER_GONE)
		job_lost(j->r, j);
}

static struct job *job_new(struct runner *r, const char *task_id, const char *project, int fd)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->r = r;
	snprintf(j->task_id, sizeof(j->task_id), "%s", task_id);
	snprintf(j->project, sizeof(j->project), "%s", project ? project : "");
	j->conn_fd = fd;
	j->spawned_mono = util_mono_ms();
	if (fd >= 0 && loop_add_fd(r->loop, fd, EPOLLIN, on_conn, j) < 0) {
		free(j);
		return NULL;
	}
	j->next = r->jobs;
	r->jobs = j;
	return j;
}

int job_spawn(struct runner *r, const char *task_id, const char *project, const char *cgroup,
              struct job **out, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	const char *argv[] = {r->shim_path, dir, NULL};
	struct spawn sp = {.argv = argv};
	int sv[2];
	struct job *j;

	if (job_dir(r, task_id, dir, sizeof(dir)) < 0) {
		snprintf(err, errlen, "job directory path too long");
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return -1;
	}
	sp.fd3 = sv[1];
	if (spawn_start(&sp, err, errlen) < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	close(sv[1]);
	util_set_nonblock(sv[0]);
	j = job_new(r, task_id, project, sv[0]);
	if (j == NULL) {
		/* the shim runs on; a restart of the runner would adopt it */
		close(sv[0]);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	j->shim_pid = sp.pid;
	snprintf(j->cgroup, sizeof(j->cgroup), "%s", cgroup ? cgroup : "");
	store_run_task_spawned(r->store, task_id, sp.pid, cgroup && cgroup[0] ? cgroup : NULL);
	*out = j;
	return 0;
}

/* Connects to <jobdir>/shim.sock: the fd, or -1 (errno: ENOENT/ECONNREFUSED = shim gone). */
static int shim_connect(const char *jobdir)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, dfd = -1, rc;

	if (util_fmt(sa.sun_path, sizeof(sa.sun_path), "%s/shim.sock", jobdir) < 0) {
		/* too long for sun_path: go through the directory's fd instead */
		dfd = open(jobdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return -1;
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/shim.sock", dfd);
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	rc = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (dfd >= 0)
		close(dfd);
	if (rc < 0 && fd >= 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int job_send(struct job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int job_send(struct job *j, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	if (j->conn_fd < 0)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf) || packet_send(j->conn_fd, buf, (size_t)n) < 0) {
		log_warn("task %s: send to shim: %s", j->task_id, strerror(errno));
		return -1;
	}
	return 0;
}

int job_op_stop(struct runner *r, struct job *j, int sig, int64_t timeout_ms)
{
	j->stop_requested = true;
	if (sig <= 0)
		return job_send(j, "{\"op\":\"stop\"}");
	return job_send(j, "{\"op\":\"stop\",\"signal\":%d,\"timeout_ms\":%lld}", sig,
	                (long long)timeout_ms);
}

int job_op_kill(struct runner *r, struct job *j)
{
	j->kill_requested = true;
	return job_send(j, "{\"op\":\"kill\"}");
}

int job_op_signal(struct runner *r, struct job *j, int sig)
{
	return job_send(j, "{\"op\":\"signal\",\"signal\":%d}", sig);
}

int job_op_pause(struct runner *r, struct job *j, bool pause)
{
	if (job_send(j, pause ? "{\"op\":\"pause\"}" : "{\"op\":\"resume\"}") < 0)
		return -1;
	j->paused = pause;
	store_run_task_paused(r->store, j->task_id, pause);
	return 0;
}

/* One task found live in the database at start-up. */
static void recover_one(struct runner *r, const struct run_task *t)
{
	char dir[PATH_MAX];
	struct job_exit e;
	struct job *j;
	int fd;

	if (job_find(r, t->id) != NULL || job_dir(r, t->id, dir, sizeof(dir)) < 0)
		return;
	fd = shim_connect(dir);
	j = job_new(r, t->id, t->project, fd);
	if (j == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	j->shim_pid = t->shim_pid;
	j->pid = t->pid;
	j->started = strcmp(t->state, "pending") != 0;
	j->paused = strcmp(t->state, "paused") == 0;
	j->started_at = t->started_at;
	snprintf(j->cgroup, sizeof(j->cgroup), "%s", t->cgroup);
	if (fd >= 0) {
		log_info("task %s: shim found again (pid %d)", t->id, t->shim_pid);
		if (j->project[0] != '\0')
			project_job_adopted(r, j);
		job_send(j, "{\"op\":\"status\"}");
		return;
	}
	/* the project owns the run again, so that its end goes through the restart policy */
	if (j->project[0] != '\0')
		project_job_adopted(r, j);
	if (job_read_exit(dir, &e) == 1) {
		log_info("task %s: ended while the runner was away", t->id);
		job_end(r, j, &e);
		return;
	}
	job_lost(r, j);
}

void jobs_recover(struct runner *r)
{
	struct run_task *t;
	size_t n;

	if (store_run_tasks_live(r->store, &t, &n) < 0) {
		log_error("recovery: cannot list live tasks");
		return;
	}
	for (size_t i = 0; i < n; i++)
		recover_one(r, &t[i]);
	run_tasks_free(t, n);
}
