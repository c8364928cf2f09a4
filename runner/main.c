/* SPDX-License-Identifier: MIT */
/*
 * hostagent-runner [-c CONFIG]: start-up, signals (read through a
 * signalfd), the periodic timers (fallback poll, heartbeat, sampling,
 * bundle expiry) and the wake-up socket. Stopping the runner never stops a
 * job: the shims keep them, and the next runner finds them again.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bundle_logs.h"
#include "cgroup.h"
#include "commands.h"
#include "jobs.h"
#include "job_limits.h"
#include "log.h"
#include "loop.h"
#include "project.h"
#include "queue.h"
#include "store_tasks.h"
#include "runner.h"
#include "sample.h"
#include "spawn.h"
#include "store.h"
#include "util.h"
#include "wake.h"

#ifndef HOSTAGENT_VERSION
#define HOSTAGENT_VERSION "unknown"
#endif
#ifndef LIBEXECDIR
#define LIBEXECDIR "/usr/local/libexec"
#endif

#define SAMPLE_MS  1000
#define CLEANUP_MS 60000

/*
 * Where a build tree has it (../shim/) first, then next to our own
 * executable (a relocated install), then LIBEXECDIR.
 */
static int find_shim(char *out, size_t len)
{
	static const char *const rel[] = {"../shim/hostagent-shim", "hostagent-shim"};
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n > 0) {
		exe[n] = '\0';
		const char *dir = dirname(exe); /* once: dirname edits its argument */
		for (size_t i = 0; i < ARRAY_SIZE(rel); i++) {
			snprintf(out, len, "%s/%s", dir, rel[i]);
			if (access(out, X_OK) == 0)
				return 0;
		}
	}
	snprintf(out, len, "%s/hostagent-shim", LIBEXECDIR);
	return access(out, X_OK);
}

static void reap_children(void)
{
	int status;

	/* signals merge: one SIGCHLD may stand for many exits */
	while (waitpid(-1, &status, WNOHANG) > 0)
		;
}

static void reload(struct runner *r)
{
	struct config c;
	char err[512];

	if (config_load(&c, r->cfg_path, err, sizeof(err)) < 0) {
		log_error("reload: %s (keeping the old configuration)", err);
		return;
	}
	if (strcmp(c.data_dir, r->cfg.data_dir) || strcmp(c.database, r->cfg.database) ||
	    strcmp(c.runner_socket, r->cfg.runner_socket))
		log_warn("reload: data_dir, database and runner_socket change only at a restart");
	snprintf(c.data_dir, sizeof(c.data_dir), "%s", r->cfg.data_dir);
	snprintf(c.database, sizeof(c.database), "%s", r->cfg.database);
	snprintf(c.runner_socket, sizeof(c.runner_socket), "%s", r->cfg.runner_socket);
	r->cfg = c;
	log_init("runner", (enum log_level)log_level_parse(c.log_level), NULL);
	{
		char path[PATH_MAX];
		if (config_path(&r->cfg, "log/runner.log", path, sizeof(path)) == 0)
			log_init("runner", (enum log_level)log_level_parse(c.log_level), path);
	}
	log_info("configuration reloaded");
}

static void on_signal(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct runner *r = arg;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap_children();
			break;
		case SIGHUP:
			reload(r);
			break;
		case SIGTERM:
		case SIGINT:
			log_info("signal %d: stopping (jobs keep running)", (int)si.ssi_signo);
			loop_stop(l);
			break;
		}
	}
}

static void on_wake(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct runner *r = arg;

	wake_drain(fd);
	r->commands_due = r->queue_due = true;
}

static void before_sleep(struct loop *l, void *arg)
{
	struct runner *r = arg;

	if (r->commands_due)
		commands_apply(r);
	if (r->queue_due)
		queue_fill(r); /* after the commands: a cancel is applied before a claim */
}

/* A recovered run goes back to its owner: a project's, or a slot's. */
static void adopt_run(void *arg, struct job *j, const struct store_task *t)
{
	if (strcmp(t->kind, "task") == 0)
		queue_adopt(arg, j, t);
	else
		project_adopt(arg, j, t);
}

static void on_poll(struct loop *l, void *arg)
{
	struct runner *r = arg;

	r->commands_due = r->queue_due = true;
	loop_timer_add(l, r->cfg.runner_poll_ms, on_poll, r);
}

static void on_heartbeat(struct loop *l, void *arg)
{
	struct runner *r = arg;

	store_runner_beat(r->store, loop_take_lag(l));
	loop_timer_add(l, r->cfg.heartbeat_ms, on_heartbeat, r);
}

static void on_sample(struct loop *l, void *arg)
{
	struct runner *r = arg;

	sample_tick(r);
	loop_timer_add(l, SAMPLE_MS, on_sample, r);
}

static void on_cleanup(struct loop *l, void *arg)
{
	struct runner *r = arg;

	bundle_cleanup(r);
	loop_timer_add(l, CLEANUP_MS, on_cleanup, r);
}

static int block_signals(void)
{
	/* sends use MSG_NOSIGNAL; a dead peer is an EPIPE, never a signal */
	static const int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPIPE, 0};
	static const int quiet[] = {SIGPIPE, 0};

	return util_signalfd(sigs, quiet);
}

/*
 * Jobs run as another user and must reach releases/ and jobs/: the
 * directories the agent owns get the search bit for others (a data
 * directory made by mkdtemp is 0700); an ancestor it does not own is only
 * reported.
 */
static void make_reachable(const struct config *c)
{
	const char *subs[] = {"", "releases", "jobs"};
	char path[PATH_MAX], *slash;
	struct stat st;

	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (config_path(c, subs[i], path, sizeof(path)) < 0 || stat(path, &st) < 0)
			continue;
		if ((st.st_mode & 0011) != 0011 && st.st_uid == geteuid()) {
			log_warn("%s: mode %o lets jobs of other users not in; adding o+x", path,
			         (unsigned)(st.st_mode & 07777));
			chmod(path, (st.st_mode & 07777) | 0011);
		}
	}
	snprintf(path, sizeof(path), "%s", c->data_dir);
	while ((slash = strrchr(path, '/')) != NULL && slash != path) {
		*slash = '\0';
		if (stat(path, &st) == 0 && (st.st_mode & 0001) == 0)
			log_warn(
			    "%s is not searchable by others: jobs running as another user cannot "
			    "reach their release",
			    path);
	}
}

/*
 * One fd per supervised run (its shim connection), plus the database,
 * helpers and sockets: the soft limit of 1024 would make a restart with a
 * thousand jobs fail to reach the rest. The hard limit is ours to take.
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		spawn_set_child_nofile((unsigned long)rl.rlim_cur);
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("RLIMIT_NOFILE: %s", strerror(errno));
	}
}

/* A job cgroup is <root>/job-<task id>: in use while that task is supervised. */
static bool cgroup_in_use(void *arg, const char *path)
{
	struct runner *r = arg;
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	for (struct job *j = r->jobs; j != NULL; j = j->next)
		if (strcmp(j->cgroup, path) == 0 ||
		    (strncmp(base, "job-", 4) == 0 && strcmp(base + 4, j->task_id) == 0))
			return true;
	return false;
}

/* Start-up: the only place that may exit. */
static void die(const char *what, const char *why)
{
	log_error("%s: %s", what, why);
	exit(1);
}

static void start(struct runner *r)
{
	char err[512], path[PATH_MAX];
	struct json_object *limits;
	int n;

	if (config_load(&r->cfg, r->cfg_path, err, sizeof(err)) < 0)
		die("configuration", err);
	if (config_make_dirs(&r->cfg) < 0)
		die(r->cfg.data_dir, strerror(errno));
	if (config_path(&r->cfg, "log/runner.log", path, sizeof(path)) < 0)
		die("log path", "too long");
	log_init("runner", (enum log_level)log_level_parse(r->cfg.log_level), path);
	make_reachable(&r->cfg);
	raise_nofile();
	if (find_shim(r->shim_path, sizeof(r->shim_path)) < 0)
		die(r->shim_path, "hostagent-shim not found");
	if ((r->sig_fd = block_signals()) < 0)
		die("signalfd", strerror(errno));
	if (store_open(r->cfg.database, &r->store, err, sizeof(err)) < 0)
		die("database", err);
	if ((r->wake_fd = wake_listen(r->cfg.runner_socket)) < 0)
		die(r->cfg.runner_socket, strerror(errno));
	cgroup_detect(r);
	limits = job_limits_enforcement(r->cg_ctrl, r->cg_swap);
	if (store_runner_start(r->store, (int)getpid(), HOSTAGENT_VERSION, r->kill_mode,
	                       json_object_to_json_string_ext(limits, JSON_C_TO_STRING_PLAIN)) < 0)
		die("database", "cannot write the runner row");
	json_object_put(limits);
	n = store_command_requeue(r->store);
	if (n > 0)
		log_info("%d command(s) left running by the previous runner are taken up again", n);
	if (loop_init(&r->loop) < 0)
		die("epoll", strerror(errno));
}

int main(int argc, char **argv)
{
	static struct runner r;
	int opt;

	while ((opt = getopt(argc, argv, "c:V")) != -1) {
		if (opt == 'c') {
			r.cfg_path = optarg;
		} else if (opt == 'V') {
			printf("hostagent-runner %s\n", HOSTAGENT_VERSION);
			return 0;
		} else {
			fprintf(stderr, "usage: hostagent-runner [-c CONFIG]\n");
			return 2;
		}
	}
	start(&r);
	if (loop_add_fd(r.loop, r.sig_fd, EPOLLIN, on_signal, &r) < 0 ||
	    loop_add_fd(r.loop, r.wake_fd, EPOLLIN, on_wake, &r) < 0)
		die("epoll", strerror(errno));
	project_load_all(&r);
	jobs_recover(&r, adopt_run, &r);
	queue_recover(&r);
	project_settle_all(&r);
	r.recovered = true;
	cgroup_sweep(&r, cgroup_in_use, &r);
	r.commands_due = r.queue_due = true;
	loop_set_before_sleep(r.loop, before_sleep, &r);
	loop_timer_add(r.loop, r.cfg.runner_poll_ms, on_poll, &r);
	loop_timer_add(r.loop, r.cfg.heartbeat_ms, on_heartbeat, &r);
	loop_timer_add(r.loop, SAMPLE_MS, on_sample, &r);
	loop_timer_add(r.loop, 0, on_cleanup, &r);
	log_info("hostagent-runner %s: pid %d, kill mode %s, shim %s", HOSTAGENT_VERSION,
	         (int)getpid(), r.kill_mode, r.shim_path);
	if (loop_run(r.loop) < 0)
		log_error("event loop: %s", strerror(errno));
	store_runner_stopped(r.store);
	store_close(r.store);
	close(r.wake_fd);
	unlink(r.cfg.runner_socket);
	loop_release(r.loop);
	log_info("stopped");
	return 0;
}
