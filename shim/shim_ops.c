/* SPDX-License-Identifier: MIT */
/*
 * The shim's ops (docs/architecture.md, "Shim protocol") and its ways of
 * reaching the whole tree: the cgroup (cgroup.kill, cgroup.freeze, a pidfd
 * for every pid of cgroup.procs) when the job has one, else its process
 * group, which is signalled only while the leader is unreaped so the id
 * cannot be reused.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cgroup_fs.h"
#include "log.h"
#include "loop.h"
#include "procstat.h"
#include "packet.h"
#include "shim.h"
#include "shim_proto.h"
#include "util.h"

#define FREEZE_WAIT_MS 100

/* The process's cgroup (the "0::" line of /proc/<pid>/cgroup) is leaf or below it. */
static bool in_job_cgroup(pid_t pid, const char *leaf)
{
	char path[64], line[4096];
	bool in = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return false;
	while (!in && fgets(line, sizeof(line), f) != NULL) {
		const char *at;
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "0::", 3) == 0 && (at = strstr(line, leaf)) != NULL)
			in = at[strlen(leaf)] == '\0' || at[strlen(leaf)] == '/';
	}
	fclose(f);
	return in;
}

/*
 * sig to every process listed in dir's cgroup.procs and below. Each is
 * reached through a pidfd taken before its membership is checked: a pid
 * that was reaped and reused by an unrelated process after the list was
 * read is either not a member any more (skipped) or no longer the process
 * the pidfd holds (the signal goes nowhere). No freeze is needed, and a
 * stop costs no more than the signal.
 */
static void cg_signal_dir(const char *dir, const char *leaf, int sig, pid_t spare, int depth)
{
	char path[PATH_MAX];
	struct dirent *d;
	FILE *f;
	DIR *dp;
	int pid;

	if (depth > 32 || util_fmt(path, sizeof(path), "%s/cgroup.procs", dir) < 0)
		return;
	if ((f = fopen(path, "re")) != NULL) {
		while (fscanf(f, "%d", &pid) == 1) {
			int fd = pidfd_open(pid, 0);
			if (fd < 0)
				continue; /* gone already */
			/* the health check's group is the shim's, not the job's: it gets no signal */
			if (in_job_cgroup(pid, leaf) && (spare <= 0 || getpgid(pid) != spare) &&
			    pidfd_send_signal(fd, sig, NULL, 0) < 0 && errno != ESRCH)
				log_warn("pidfd_send_signal %d: %s", pid, strerror(errno));
			close(fd);
		}
		fclose(f);
	}
	if ((dp = opendir(dir)) == NULL)
		return;
	while ((d = readdir(dp)) != NULL)
		if (d->d_type == DT_DIR && d->d_name[0] != '.' &&
		    util_fmt(path, sizeof(path), "%s/%s", dir, d->d_name) >= 0)
			cg_signal_dir(path, leaf, sig, spare, depth + 1); /* groups the job made */
	closedir(dp);
}

/* Every member of the job's cgroup gets sig (only SIGKILL has a cgroup-wide file). 0 or -1. */
static int cg_signal(const struct shim *s, int sig)
{
	const char *leaf = strrchr(s->spec.cgroup, '/');

	if (leaf == NULL || access(s->spec.cgroup, F_OK) < 0)
		return -1;
	cg_signal_dir(s->spec.cgroup, leaf, sig, s->health.pid, 0);
	return 0;
}

static void tree_signal(struct shim *s, int sig)
{
	if (s->spec.cgroup != NULL) {
		s->spec.cgroup_killed |= sig == SIGKILL;
		if (sig == SIGKILL && cgfs_kill(s->spec.cgroup) == 0)
			return;
		if (sig != SIGKILL && cg_signal(s, sig) == 0)
			return;
	}
	/* the group of what runs now: the job until it is reaped, else a hook */
	pid_t lead = s->phase == SHIM_MAIN && !s->reaped ? s->pid : s->hook_pid;
	if (lead > 0 && killpg(lead, sig) < 0 && errno != ESRCH)
		log_warn("killpg %d: %s", (int)lead, strerror(errno));
}

void shim_tree_kill_all(struct shim *s)
{
	tree_signal(s, SIGKILL);
}

static void set_paused(struct shim *s, bool on)
{
	/* no check runs in a frozen tree: it would freeze before its exec, and fail besides */
	shim_health_pause(&s->health, on);
	if (s->spec.cgroup == NULL || cgfs_freeze(s->spec.cgroup, on, FREEZE_WAIT_MS) < 0)
		tree_signal(s, on ? SIGSTOP : SIGCONT);
	s->paused = on;
}

static void on_kill_timer(struct loop *l, void *arg)
{
	struct shim *s = arg;

	s->kill_timer = 0;
	if (s->reaped)
		return;
	log_info("stop timed out: SIGKILL to the tree");
	s->killed = true;
	tree_signal(s, SIGKILL);
}

void shim_op_stop(struct shim *s, int sig, int64_t timeout_ms)
{
	if (s->reaped)
		return;
	s->stop_requested = true;
	if (sig <= 0 || sig >= NSIG)
		sig = SIGTERM;
	tree_signal(s, sig);
	if (s->paused)
		set_paused(s, false); /* a frozen tree cannot act on the signal */
	if (timeout_ms <= 0) {
		on_kill_timer(s->loop, s);
		return;
	}
	if (s->kill_timer == 0) /* a second stop never postpones the first deadline */
		s->kill_timer = loop_timer_add(s->loop, timeout_ms, on_kill_timer, s);
}

static void send_status(struct shim *s)
{
	struct shim_msg m = {.type = SHIM_EV_STATUS};

	m.pid = s->pid;
	m.shim_pid = getpid();
	m.start_time = s->start_time;
	m.started_at = s->started_at;
	snprintf(m.state, sizeof(m.state), "%s",
	         s->reaped           ? "exited"
	         : s->stop_requested ? "stopping"
	         : s->paused         ? "paused"
	                             : "running");
	m.paused = s->paused;
	m.shim_rss = (int64_t)procstat_self_rss();
	if (s->conn_fd >= 0 && shim_msg_send(s->conn_fd, &m) < 0)
		log_warn("send status to runner: %s", strerror(errno));
}

void shim_handle_op(struct shim *s, const char *text)
{
	struct shim_msg m;

	if (shim_msg_decode(text, &m) < 0) {
		log_warn("bad op packet: %.80s", text);
		return;
	}
	switch (m.type) {
	case SHIM_OP_STATUS:
		send_status(s);
		break;
	case SHIM_OP_SIGNAL:
		if (m.signal > 0 && m.signal < NSIG && !s->reaped)
			tree_signal(s, m.signal);
		break;
	case SHIM_OP_STOP:
		shim_op_stop(s, m.signal > 0 ? m.signal : s->spec.stop_signal,
		             m.timeout_ms >= 0 ? m.timeout_ms : s->spec.stop_timeout_ms);
		break;
	case SHIM_OP_KILL:
		if (!s->reaped) {
			s->killed = true;
			tree_signal(s, SIGKILL);
		} else if (s->hook_pid > 0) {
			tree_signal(s, SIGKILL); /* post_stop: a kill does not wait for it */
		}
		break;
	case SHIM_OP_PAUSE:
	case SHIM_OP_RESUME:
		if (!s->reaped)
			set_paused(s, m.type == SHIM_OP_PAUSE);
		break;
	default:
		log_warn("not an op for the shim: %s", shim_msg_name(m.type));
		break;
	}
}

void shim_cgroup_remove(struct shim *s)
{
	if (s->spec.cgroup == NULL)
		return;
	cgfs_kill(s->spec.cgroup);
	/* deepest first: a job may have made groups of its own below its cgroup */
	if (cgfs_remove_tree(s->spec.cgroup, 1000) < 0)
		log_warn("cgroup %s: cannot remove: %s", s->spec.cgroup, strerror(errno));
}

int64_t shim_cgroup_oom_count(const struct shim *s)
{
	return s->spec.cgroup != NULL ? cgfs_oom_kills(s->spec.cgroup) : 0;
}
