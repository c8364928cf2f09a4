/* SPDX-License-Identifier: MIT */
/*
 * The master: one signalfd loop that forks workers, reaps them (waitpid
 * until nothing is left: SIGCHLDs merge), respawns a crashed one with a
 * backoff (a worker dying within 1 s of its start doubles a delay from
 * 100 ms to 5 s; 10 s of life resets it), reloads on SIGHUP without
 * dropping a request (new generation first, then SIGTERM to the old one)
 * and stops on SIGTERM/SIGINT after the workers have answered what they
 * had in hand. Retiring workers are tracked in a growable set (pidset.c),
 * however many reloads pile up. It never touches the database.
 */
#include "pool.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "inspector.h"
#include "log.h"
#include "pidset.h"
#include "util.h"

#define POOL_MAX       256 /* the config's upper bound for fcgi_workers */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define FAST_DEATH_MS  1000
#define HEALTHY_MS     10000
#define STOP_GRACE_MS  30000

struct slot {
	pid_t pid;       /* 0: waiting for respawn_at */
	int64_t started; /* monotonic ms */
	int64_t respawn_at;
	int delay_ms;
};

struct pool {
	struct config cfg;
	const char *config_path;
	int listen_fd, sfd;
	struct slot slots[POOL_MAX + 1]; /* the workers, then the upload inspector if on */
	int nslots;                      /* workers */
	int nall;                        /* slots in use: nslots, + 1 with the inspector */
	struct pidset retired;           /* older generations finishing their requests */
	bool stopping;
	int64_t kill_at;
};

static void pool_size(struct pool *p)
{
	p->nslots = p->cfg.fcgi_workers > POOL_MAX ? POOL_MAX : p->cfg.fcgi_workers;
	p->nall = p->nslots + (p->cfg.upload_follow ? 1 : 0);
}

static void spawn(struct pool *p, struct slot *s)
{
	pid_t master = getpid(), pid = fork();
	sigset_t none;

	if (pid == 0) {
		close(p->sfd);
		sigemptyset(&none);
		signal(SIGCHLD, SIG_DFL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (s == &p->slots[p->nslots]) {
			close(p->listen_fd);
			inspector_run(&p->cfg, master);
		}
		worker_run(&p->cfg, p->listen_fd, master);
	}
	s->started = util_mono_ms();
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		s->pid = 0;
		s->delay_ms = BACKOFF_MAX_MS;
		s->respawn_at = s->started + s->delay_ms;
		return;
	}
	s->pid = pid;
}

static void log_exit(const char *what, pid_t pid, int status, bool expected)
{
	if (WIFSIGNALED(status) && (!expected || WTERMSIG(status) != SIGTERM))
		log_error("%s %d killed by signal %d", what, (int)pid, WTERMSIG(status));
	else if (WIFEXITED(status) && (WEXITSTATUS(status) != 0 || !expected))
		log_warn("%s %d exited with status %d", what, (int)pid, WEXITSTATUS(status));
}

static const char *slot_name(const struct pool *p, const struct slot *s)
{
	return s == &p->slots[p->nslots] ? "upload inspector" : "worker";
}

/* A worker (or the inspector) of the current generation died: schedule its replacement. */
static void slot_died(struct pool *p, struct slot *s, int status)
{
	int64_t now = util_mono_ms(), lived = now - s->started;

	log_exit(slot_name(p, s), s->pid, status, p->stopping);
	s->pid = 0;
	if (lived < FAST_DEATH_MS)
		s->delay_ms = s->delay_ms ? s->delay_ms * 2 : BACKOFF_MIN_MS;
	else if (lived >= HEALTHY_MS)
		s->delay_ms = 0;
	if (s->delay_ms > BACKOFF_MAX_MS)
		s->delay_ms = BACKOFF_MAX_MS;
	s->respawn_at = now + s->delay_ms;
	if (s->delay_ms > 0 && !p->stopping)
		log_warn("respawning the %s in %d ms", slot_name(p, s), s->delay_ms);
}

static void reap(struct pool *p)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		bool found = false;
		for (int i = 0; i < p->nall && !found; i++) {
			if (p->slots[i].pid == pid) {
				slot_died(p, &p->slots[i], status);
				found = true;
			}
		}
		if (!found && pidset_remove(&p->retired, pid))
			log_exit("process", pid, status, true);
	}
}

static void signal_all(struct pool *p, int sig)
{
	for (int i = 0; i < p->nall; i++)
		if (p->slots[i].pid > 0)
			kill(p->slots[i].pid, sig);
	for (size_t i = 0; i < p->retired.n; i++)
		kill(p->retired.pid[i], sig);
}

static size_t children(const struct pool *p)
{
	size_t n = p->retired.n;

	for (int i = 0; i < p->nall; i++)
		n += p->slots[i].pid > 0;
	return n;
}

/*
 * SIGHUP: a bad file keeps the running configuration. The socket path is
 * not re-bound (the socket is the trust boundary and nginx points at it).
 */
static void reload(struct pool *p)
{
	struct config nc;
	char err[512];
	int lvl;

	if (config_load(&nc, p->config_path, err, sizeof(err)) < 0) {
		log_error("reload: %s; keeping the running configuration", err);
		return;
	}
	if (config_make_dirs(&nc) < 0)
		log_warn("reload: cannot create the data directories under %s", nc.data_dir);
	if (strcmp(nc.fcgi_socket, p->cfg.fcgi_socket) != 0) {
		log_warn("reload: fcgi_socket changed to %s; it takes effect at restart",
		         nc.fcgi_socket);
		memcpy(nc.fcgi_socket, p->cfg.fcgi_socket, sizeof(nc.fcgi_socket));
	}
	lvl = log_level_parse(nc.log_level);
	if (config_path(&nc, "log/fcgi.log", err, sizeof(err)) == 0)
		log_init("fcgi", lvl < 0 ? LOG_LVL_INFO : (enum log_level)lvl, err);
	for (int i = 0; i < p->nall; i++) {
		pid_t old = p->slots[i].pid;
		/* untracked, it would miss the stop and the final SIGKILL: stop it now */
		if (old > 0 && pidset_add(&p->retired, old) < 0) {
			log_error("reload: out of memory: stopping worker %d before its successor",
			          (int)old);
			kill(old, SIGTERM);
		}
	}
	p->cfg = nc;
	pool_size(p);
	memset(p->slots, 0, sizeof(p->slots));
	for (int i = 0; i < p->nall; i++)
		spawn(p, &p->slots[i]);
	/* the new generation is accepting: now the old one may finish and go */
	for (size_t i = 0; i < p->retired.n; i++)
		kill(p->retired.pid[i], SIGTERM);
	log_info("reloaded: %d workers%s, %zu retiring", p->nslots,
	         p->nall > p->nslots ? " and the upload inspector" : "", p->retired.n);
}

static void on_signal(struct pool *p, int sig)
{
	switch (sig) {
	case SIGCHLD:
		reap(p);
		break;
	case SIGHUP:
		if (!p->stopping)
			reload(p);
		break;
	case SIGTERM:
	case SIGINT:
		if (p->stopping)
			break;
		log_info("stopping: waiting for %zu processes to finish", children(p));
		p->stopping = true;
		p->kill_at = util_mono_ms() + STOP_GRACE_MS;
		signal_all(p, SIGTERM);
		break;
	}
}

static void read_signals(struct pool *p)
{
	struct signalfd_siginfo si;

	while (read(p->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		on_signal(p, (int)si.ssi_signo);
}

/* Respawns due slots; returns the poll timeout until the next deadline. */
static int tick(struct pool *p)
{
	int64_t now = util_mono_ms(), next = -1;

	if (p->stopping) {
		if (now >= p->kill_at) {
			log_warn("workers still busy after %d s: killing them",
			         STOP_GRACE_MS / 1000);
			signal_all(p, SIGKILL);
			p->kill_at = now + 1000;
		}
		return (int)(p->kill_at - now);
	}
	for (int i = 0; i < p->nall; i++) {
		struct slot *s = &p->slots[i];
		if (s->pid == 0 && s->respawn_at <= now)
			spawn(p, s);
		if (s->pid == 0 && (next < 0 || s->respawn_at < next))
			next = s->respawn_at;
	}
	return next < 0 ? -1 : (int)(next - now);
}

static int pool_signals(struct pool *p)
{
	static const int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, 0};

	p->sfd = util_signalfd(sigs, NULL);
	return p->sfd < 0 ? -1 : 0;
}

int pool_run(const struct config *cfg, const char *config_path, int listen_fd)
{
	static struct pool p;
	struct pollfd pfd;

	p.cfg = *cfg;
	p.config_path = config_path;
	p.listen_fd = listen_fd;
	pool_size(&p);
	if (pool_signals(&p) < 0) {
		log_error("signalfd: %s", strerror(errno));
		return 1;
	}
	for (int i = 0; i < p.nall; i++)
		spawn(&p, &p.slots[i]);
	while (!p.stopping || children(&p) > 0) {
		pfd.fd = p.sfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, tick(&p)) > 0)
			read_signals(&p);
	}
	close(p.sfd);
	pidset_release(&p.retired);
	log_info("stopped");
	return 0;
}
