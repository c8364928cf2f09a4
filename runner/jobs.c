/* SPDX-License-Identifier: MIT */
/*
 * The runner's side of running jobs (see jobs.h): one SOCK_SEQPACKET
 * connection per shim, the protocol of common/shim_proto.h on it, the
 * record of each end, and recovery after a runner restart, when every live
 * shim is found again through its directory's lock and its shim.sock.
 */
#include "jobs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cgroup.h"
#include "jobdir.h"
#include "log.h"
#include "loop.h"
#include "packet.h"
#include "runner.h"
#include "spawn.h"
#include "store_projects.h"
#include "store_tasks.h"
#include "store_usage.h"
#include "supervise.h"
#include "util.h"

#define RETRY_FIRST_MS 10
#define RETRY_MAX_MS   1000

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
	loop_timer_cancel(r->loop, j->retry_timer);
	j->retry_timer = 0;
	if (j->conn_fd >= 0) {
		loop_del_fd(r->loop, j->conn_fd);
		close(j->conn_fd);
		j->conn_fd = -1;
	}
}

static const char *project_or_null(const struct job *j)
{
	return j->project[0] ? j->project : NULL;
}

/* The run is over: record it with its event, tell the owner, forget the job. */
static void job_end(struct runner *r, struct job *j, const struct shim_exit *x)
{
	struct job_end e = {.exit = *x};
	struct store_task_end end = {0};
	char type[32];
	struct store_event ev = {.type = type, .task_id = j->task_id};
	char *result = NULL;
	bool by_request = !j->timed_out && (x->stopped || j->stop_requested || j->kill_requested);
	struct shim_exit xt = *x;

	xt.timed_out = x->timed_out || j->timed_out;
	x = &xt;
	e.exit = xt;
	e.state = sv_end_state(x->has_code, x->exit_code, x->has_signal, x->signal, by_request,
	                       x->timed_out, e.reason, sizeof(e.reason));
	if (!x->has_code && !x->has_signal && x->reason[0] != '\0')
		snprintf(e.reason, sizeof(e.reason), "%.255s", x->reason); /* exec failed, shim lost */
	if (!by_request && x->oom)
		snprintf(e.reason + strlen(e.reason), sizeof(e.reason) - strlen(e.reason),
		         " (out of memory)");
	if (x->post_stop[0] != '\0')
		snprintf(e.reason + strlen(e.reason), sizeof(e.reason) - strlen(e.reason), " (%.160s)",
		         x->post_stop);
	if (j->timed_out && j->stop_cause[0] != '\0') {
		char how[sizeof(e.reason)];
		snprintf(how, sizeof(how), "%s", e.reason);
		snprintf(e.reason, sizeof(e.reason), "%.200s (%.90s)", j->stop_cause, how);
	}
	if (j->stop_cause[0] != '\0' && strcmp(e.state, "cancelled") == 0) {
		/* stopped by the agent for a reason of its own (failing health checks): a failure */
		char how[sizeof(e.reason)];
		sv_end_state(x->has_code, x->exit_code, x->has_signal, x->signal, false, false, how,
		             sizeof(how));
		e.state = "failed";
		snprintf(e.reason, sizeof(e.reason), "%.200s (%.90s)", j->stop_cause, how);
	}
	e.run_ms = j->started && x->ended_at > j->started_at ? x->ended_at - j->started_at : 0;
	end.state = e.state;
	end.reason = e.reason;
	end.has_code = x->has_code;
	end.exit_code = x->exit_code;
	end.has_signal = x->has_signal;
	end.signal = x->signal;
	end.killed = x->killed;
	end.timed_out = x->timed_out;
	end.oom = x->oom;
	end.started_at = x->started_at;
	end.ended_at = x->ended_at;
	snprintf(type, sizeof(type), "task.%s", e.state);
	ev.project = project_or_null(j);
	ev.level = strcmp(e.state, "failed") == 0 ? "warn" : "info";
	ev.message = e.reason;
	if (j->ops != NULL && j->ops->ending != NULL)
		j->ops->ending(j->owner, j, &e, &result);
	end.result = result;
	if (store_task_ended(r->store, j->task_id, &end, &ev) < 0)
		log_error("task %s: cannot record its end", j->task_id);
	free(result);
	log_info("task %s %s: %s", j->task_id, e.state, e.reason);
	job_unlink(r, j);
	if (j->ops != NULL && j->ops->exited != NULL)
		j->ops->exited(j->owner, j, &e);
	free(j);
}

static void on_started(struct runner *r, struct job *j, const struct shim_msg *m)
{
	struct store_event ev = {
	    .type = "task.started", .task_id = j->task_id, .message = "started"};

	j->pid = m->pid;
	j->start_time = m->start_time;
	j->started_at = m->started_at > 0 ? m->started_at : util_now_ms();
	j->started = true;
	ev.project = project_or_null(j);
	if (store_task_started(r->store, j->task_id, j->pid, j->shim_pid, j->started_at, &ev) < 0)
		log_error("task %s: cannot record its start", j->task_id);
	log_info("task %s started: pid %d (%lld ms after spawn)", j->task_id, (int)j->pid,
	         (long long)(util_mono_ms() - j->spawned_mono));
	if (j->ops != NULL && j->ops->started != NULL)
		j->ops->started(j->owner, j);
}

/* 1 when the packet ended the job (j is freed), else 0. */
static int on_packet(struct runner *r, struct job *j, const char *buf)
{
	struct shim_msg m;

	if (shim_msg_decode(buf, &m) < 0) {
		log_warn("task %s: bad packet from the shim", j->task_id);
		return 0;
	}
	switch (m.type) {
	case SHIM_EV_STARTED:
		on_started(r, j, &m);
		return 0;
	case SHIM_EV_EXITED:
	case SHIM_EV_EXEC_FAILED:
		if (m.type == SHIM_EV_EXEC_FAILED && m.exit.ended_at == 0)
			m.exit.ended_at = util_now_ms();
		job_end(r, j, &m.exit);
		return 1;
	case SHIM_EV_HEALTH:
		if (j->ops != NULL && j->ops->health != NULL)
			j->ops->health(j->owner, j, &m.health);
		return 0;
	case SHIM_EV_STATUS:
		j->paused = m.paused;
		if (m.pid > 0 && !j->started)
			on_started(r, j, &m); /* spawned before "started" was recorded */
		else if (m.pid > 0)
			j->pid = m.pid,
			j->start_time = m.start_time; /* now the pid can be trusted */
		log_debug("task %s: %s, shim rss %lld", j->task_id, m.state, (long long)m.shim_rss);
		return 0;
	default:
		log_warn("task %s: unexpected %s from the shim", j->task_id, shim_msg_name(m.type));
		return 0;
	}
}

/* No connection can be had and the lock is free: exit.json, else the shim died without one. */
static void job_gone(struct runner *r, struct job *j)
{
	char dir[PATH_MAX];
	struct shim_exit x;

	if (jobdir_path(r, j->task_id, dir, sizeof(dir)) == 0 && shim_exit_read(dir, &x) == 1) {
		job_end(r, j, &x);
		return;
	}
	/* no exit status can be had: a cgroup still lets us leave nothing running */
	cgroup_job_destroy(j->cgroup);
	memset(&x, 0, sizeof(x));
	snprintf(x.reason, sizeof(x.reason), "the shim died; the job's exit status is unknown");
	x.ended_at = util_now_ms();
	job_end(r, j, &x);
}

static void job_connect(struct runner *r, struct job *j);

static void on_retry(struct loop *l, void *arg)
{
	struct job *j = arg;

	j->retry_timer = 0;
	job_connect(j->r, j);
}

/* The connection closed without "exited": the shim is gone, or exiting. */
static void job_lost(struct runner *r, struct job *j)
{
	loop_del_fd(r->loop, j->conn_fd);
	close(j->conn_fd);
	j->conn_fd = -1;
	job_connect(r, j);
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

static struct job *job_new(struct runner *r, const char *task_id, const char *project)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->r = r;
	snprintf(j->task_id, sizeof(j->task_id), "%s", task_id);
	snprintf(j->project, sizeof(j->project), "%s", project ? project : "");
	j->conn_fd = -1;
	j->spawned_mono = util_mono_ms();
	j->next = r->jobs;
	r->jobs = j;
	return j;
}

static int job_attach(struct runner *r, struct job *j, int fd)
{
	if (loop_add_fd(r->loop, fd, EPOLLIN, on_conn, j) < 0)
		return -1;
	j->conn_fd = fd;
	return 0;
}

int job_spawn(struct runner *r, const char *task_id, const char *project, const char *cgroup,
              int lock_fd, const struct job_owner_ops *ops, void *owner, struct job **out,
              char *err, size_t errlen)
{
	char dir[PATH_MAX];
	const char *argv[] = {r->shim_path, dir, NULL};
	struct spawn sp = {.argv = argv, .fd4 = lock_fd};
	int sv[2];
	struct job *j;

	if (jobdir_path(r, task_id, dir, sizeof(dir)) < 0) {
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
	util_fault_point("after-spawn"); /* tests: a runner killed before it records the shim */
	util_set_nonblock(sv[0]);
	j = job_new(r, task_id, project);
	if (j == NULL) {
		/* the shim runs on with its lock; the next runner adopts it */
		close(sv[0]);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	j->shim_pid = sp.pid;
	j->ops = ops;
	j->owner = owner;
	snprintf(j->cgroup, sizeof(j->cgroup), "%s", cgroup ? cgroup : "");
	store_task_spawned(r->store, task_id, sp.pid, cgroup && cgroup[0] ? cgroup : NULL);
	if (job_attach(r, j, sv[0]) < 0) {
		close(sv[0]); /* the shim keeps listening on shim.sock: reach it there */
		job_connect(r, j);
	}
	*out = j;
	return 0;
}

/* Connects to <jobdir>/shim.sock: the fd, or -1 with errno. */
static int shim_connect(const char *jobdir)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, dfd = -1, rc, e;

	if (util_fmt(sa.sun_path, sizeof(sa.sun_path), "%s/shim.sock", jobdir) < 0) {
		/* too long for sun_path: go through the directory's fd instead */
		dfd = open(jobdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return -1;
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/shim.sock", dfd);
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	rc = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	if (dfd >= 0)
		close(dfd);
	if (rc < 0 && fd >= 0)
		close(fd);
	errno = e;
	return rc < 0 ? -1 : fd;
}

static void retry_later(struct runner *r, struct job *j, const char *why)
{
	int64_t delay = RETRY_FIRST_MS << (j->retries < 7 ? j->retries : 7);

	if (delay > RETRY_MAX_MS)
		delay = RETRY_MAX_MS;
	if (j->retries++ == 0)
		log_info("task %s: the shim is alive but cannot be reached yet (%s); retrying",
		         j->task_id, why);
	j->retry_timer = loop_timer_add(r->loop, delay, on_retry, j);
}

/*
 * (Re)connects to a job's shim. The lock on its directory, not the
 * connect's errno, tells whether the shim lives: a shim that holds it is
 * only busy (a full backlog, no socket bound yet, EMFILE here), and is
 * tried again later; once the lock is free, its exit.json tells the end.
 */
static void job_connect(struct runner *r, struct job *j)
{
	struct shim_msg status = {.type = SHIM_OP_STATUS};
	char dir[PATH_MAX];
	int fd, locked;

	if (jobdir_path(r, j->task_id, dir, sizeof(dir)) < 0) {
		job_gone(r, j);
		return;
	}
	locked = jobdir_locked(dir);
	if (locked == 0) {
		job_gone(r, j);
		return;
	}
	fd = shim_connect(dir);
	if (fd < 0 || job_attach(r, j, fd) < 0) {
		char why[128];
		snprintf(why, sizeof(why), "%s", strerror(fd < 0 ? errno : ENOMEM));
		if (fd >= 0)
			close(fd);
		retry_later(r, j, locked < 0 ? "lock unreadable" : why);
		return;
	}
	j->retries = 0;
	if (shim_msg_send(fd, &status) < 0)
		log_warn("task %s: status to shim: %s", j->task_id, strerror(errno));
	if (j->kill_requested)
		job_op_kill(j); /* asked for while the shim could not be reached */
	else if (j->stop_requested)
		job_op_stop(j, 0, -1); /* a stop under way: the shim keeps its first deadline */
}

/*
 * A send that fails on a live connection (a full buffer, a peer going
 * away) drops it and reconnects from the loop: a stop or kill asked for is
 * sent again once connected, so it is never lost.
 */
static int job_send(struct job *j, const struct shim_msg *m)
{
	if (j->conn_fd < 0)
		return -1;
	if (shim_msg_send(j->conn_fd, m) < 0) {
		log_warn("task %s: %s to shim: %s; reconnecting", j->task_id,
		         shim_msg_name(m->type), strerror(errno));
		loop_del_fd(j->r->loop, j->conn_fd);
		close(j->conn_fd);
		j->conn_fd = -1;
		if (j->retry_timer == 0)
			j->retry_timer = loop_timer_add(j->r->loop, 0, on_retry, j);
		return -1;
	}
	return 0;
}

int job_op_stop(struct job *j, int sig, int64_t timeout_ms)
{
	struct shim_msg m = {
	    .type = SHIM_OP_STOP, .signal = sig > 0 ? sig : 0, .timeout_ms = timeout_ms};

	j->stop_requested = true;
	return job_send(j, &m);
}

int job_op_kill(struct job *j)
{
	struct shim_msg m = {.type = SHIM_OP_KILL};

	j->kill_requested = true;
	return job_send(j, &m);
}

int job_op_signal(struct job *j, int sig)
{
	struct shim_msg m = {.type = SHIM_OP_SIGNAL, .signal = sig};

	return job_send(j, &m);
}

int job_op_pause(struct job *j, bool pause)
{
	struct shim_msg m = {.type = pause ? SHIM_OP_PAUSE : SHIM_OP_RESUME};

	if (job_send(j, &m) < 0)
		return -1;
	j->paused = pause;
	store_task_paused(j->r->store, j->task_id, pause);
	return 0;
}

/* A job for a task row; its pid is not trusted until the shim names it again. */
static struct job *job_from_row(struct runner *r, const struct store_task *t)
{
	struct job *j = job_new(r, t->id, t->project);

	if (j == NULL)
		return NULL;
	j->shim_pid = t->shim_pid;
	j->started = strcmp(t->state, "pending") != 0;
	j->paused = strcmp(t->state, "paused") == 0;
	j->started_at = t->started_at;
	snprintf(j->cgroup, sizeof(j->cgroup), "%s", t->cgroup);
	/* a spawn that was never recorded: the cgroup is where the runner makes them */
	if (j->cgroup[0] == '\0' && r->cgroup_root[0] != '\0') {
		char path[PATH_MAX];
		if (util_fmt(path, sizeof(path), "%s/job-%s", r->cgroup_root, t->id) >= 0 &&
		    access(path, F_OK) == 0)
			snprintf(j->cgroup, sizeof(j->cgroup), "%s", path);
	}
	return j;
}

int job_adopt(struct runner *r, const struct store_task *t, const struct job_owner_ops *ops,
              void *owner, struct job **out)
{
	struct job *j = job_find(r, t->id);

	if (j == NULL && (j = job_from_row(r, t)) == NULL)
		return -1;
	j->ops = ops;
	j->owner = owner;
	/* reached from the loop, not here: an end found now would free j under the caller */
	if (j->conn_fd < 0 && j->retry_timer == 0)
		j->retry_timer = loop_timer_add(r->loop, 0, on_retry, j);
	*out = j;
	return 0;
}

/*
 * A pending run with no recorded shim was spawned only if its directory's
 * lock is held (the previous runner died between the spawn and its record);
 * otherwise it never started and is not a job yet.
 */
static bool maybe_alive(struct runner *r, const struct store_task *t)
{
	char dir[PATH_MAX];

	/* a queued task is 'running' from its claim on: a spawn is known by its shim too */
	bool claimed = strcmp(t->kind, "task") == 0 && strcmp(t->state, "running") == 0;

	if ((strcmp(t->state, "pending") != 0 && !claimed) || t->shim_pid != 0)
		return true;
	/* a lock that cannot be probed (EMFILE) may be held: connecting will tell */
	return jobdir_path(r, t->id, dir, sizeof(dir)) == 0 && jobdir_locked(dir) != 0;
}

void jobs_recover(struct runner *r, job_adopt_fn *adopt, void *arg)
{
	struct store_task *t;
	struct job **jobs;
	size_t n;

	if (store_tasks_live(r->store, &t, &n) < 0) {
		log_error("recovery: cannot list live tasks");
		return;
	}
	jobs = calloc(n ? n : 1, sizeof(*jobs));
	/* every owner knows its job before any end is reported */
	for (size_t i = 0; jobs != NULL && i < n; i++) {
		if (job_find(r, t[i].id) != NULL || !maybe_alive(r, &t[i]) ||
		    (jobs[i] = job_from_row(r, &t[i])) == NULL)
			continue;
		adopt(arg, jobs[i], &t[i]);
	}
	for (size_t i = 0; jobs != NULL && i < n; i++)
		if (jobs[i] != NULL)
			job_connect(r, jobs[i]); /* may end (and free) the job */
	if (n > 0)
		log_info("recovery: %zu run(s) found in the database", n);
	free(jobs);
	store_tasks_free(t, n);
}
