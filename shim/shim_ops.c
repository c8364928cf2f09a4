/* SPDX-License-Identifier: MIT */
/*
 * The shim's ops (docs/architecture.md, "Shim protocol") and its ways of
 * reaching the whole tree: the cgroup (cgroup.kill, cgroup.freeze, every
 * pid of cgroup.procs) when the job has one, else its process group, which
 * is signalled only while the leader is unreaped so the id cannot be reused.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
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

/*
 * Every member of the cgroup gets sig (only SIGKILL has a cgroup-wide
 * file). The tree is frozen while cgroup.procs is read and signalled: a
 * frozen member cannot reap another, so no PID read here can be reused by
 * an unrelated process before the kill reaches it. 0, or -1 when the
 * cgroup could not be read (the caller falls back to the process group).
 */
static int cg_signal(const struct shim *s, int sig)
{
	char path[PATH_MAX];
	bool thaw = !s->paused;
	FILE *f;
	int pid;

	if (util_fmt(path, sizeof(path), "%s/cgroup.procs", s->spec.cgroup) < 0)
		return -1;
	if (thaw && cgfs_freeze(s->spec.cgroup, true, FREEZE_WAIT_MS) < 0)
		log_warn("cgroup %s: not frozen within %d ms; signalling anyway", s->spec.cgroup,
		         FREEZE_WAIT_MS);
	f = fopen(path, "re");
	if (f != NULL) {
		while (fscanf(f, "%d", &pid) == 1)
			kill(pid, sig);
		fclose(f);
	}
	if (thaw)
		cgfs_write(s->spec.cgroup, "cgroup.freeze", "0");
	return f != NULL ? 0 : -1;
}

static void tree_signal(struct shim *s, int sig)
{
	if (s->spec.cgroup != NULL) {
		if (sig == SIGKILL && cgfs_kill(s->spec.cgroup) == 0)
			return;
		if (sig != SIGKILL && cg_signal(s, sig) == 0)
			return;
	}
	if (!s->reaped && killpg(s->pid, sig) < 0 && errno != ESRCH)
		log_warn("killpg %d: %s", (int)s->pid, strerror(errno));
}

void shim_tree_kill_all(struct shim *s)
{
	tree_signal(s, SIGKILL);
}

static void set_paused(struct shim *s, bool on)
{
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

bool shim_cgroup_oom(const struct shim *s)
{
	return s->spec.cgroup != NULL && cgfs_oom_killed(s->spec.cgroup);
}
