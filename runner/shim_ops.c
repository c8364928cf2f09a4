/* SPDX-License-Identifier: MIT */
/*
 * The shim's ops (docs/architecture.md, "Shim protocol") and its ways of
 * reaching the whole tree: the cgroup (cgroup.kill, cgroup.freeze, every
 * pid of cgroup.procs) when the job has one, else its process group, which
 * is signalled only while the leader is unreaped so the id cannot be reused.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

#include "log.h"
#include "loop.h"
#include "procstat.h"
#include "packet.h"
#include "shim.h"
#include "util.h"

static int cg_write(const struct shim *s, const char *file, const char *val)
{
	char path[4200];
	int fd, rc;

	if (s->spec.cgroup == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", s->spec.cgroup, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = write(fd, val, strlen(val)) == (ssize_t)strlen(val) ? 0 : -1;
	close(fd);
	return rc;
}

/* Every member of the cgroup gets sig (a non-KILL signal has no cgroup-wide file). */
static void cg_signal(const struct shim *s, int sig)
{
	char path[4200];
	FILE *f;
	int pid;

	snprintf(path, sizeof(path), "%s/cgroup.procs", s->spec.cgroup);
	f = fopen(path, "re");
	if (f == NULL)
		return;
	while (fscanf(f, "%d", &pid) == 1)
		kill(pid, sig);
	fclose(f);
}

static void tree_signal(struct shim *s, int sig)
{
	if (s->spec.cgroup != NULL) {
		if (sig == SIGKILL && cg_write(s, "cgroup.kill", "1") == 0)
			return;
		cg_signal(s, sig);
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
	if (s->spec.cgroup == NULL || cg_write(s, "cgroup.freeze", on ? "1" : "0") < 0)
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
	struct json_object *o = json_object_new_object();
	const char *txt;

	json_object_object_add(o, "ev", json_object_new_string("status"));
	json_object_object_add(o, "pid", json_object_new_int(s->pid));
	json_object_object_add(o, "start_time", json_object_new_int64((int64_t)s->start_time));
	json_object_object_add(o, "started_at", json_object_new_int64(s->started_at));
	json_object_object_add(o, "state",
	                       json_object_new_string(s->reaped           ? "exited"
	                                              : s->stop_requested ? "stopping"
	                                              : s->paused         ? "paused"
	                                                                  : "running"));
	json_object_object_add(o, "paused", json_object_new_boolean(s->paused));
	json_object_object_add(o, "shim_rss", json_object_new_int64((int64_t)procstat_self_rss()));
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (s->conn_fd >= 0)
		packet_send(s->conn_fd, txt, strlen(txt));
	json_object_put(o);
}

static int64_t get_int(struct json_object *o, const char *key, int64_t def)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : def;
}

void shim_handle_op(struct shim *s, const char *text)
{
	struct json_object *o = json_tokener_parse(text), *v;
	const char *op;

	if (o == NULL || !json_object_object_get_ex(o, "op", &v)) {
		log_warn("bad op packet: %.80s", text);
		json_object_put(o);
		return;
	}
	op = json_object_get_string(v);
	if (strcmp(op, "status") == 0) {
		send_status(s);
	} else if (strcmp(op, "signal") == 0) {
		int sig = (int)get_int(o, "signal", 0);
		if (sig > 0 && sig < NSIG && !s->reaped)
			tree_signal(s, sig);
	} else if (strcmp(op, "stop") == 0) {
		shim_op_stop(s, (int)get_int(o, "signal", s->spec.stop_signal),
		             get_int(o, "timeout_ms", s->spec.stop_timeout_ms));
	} else if (strcmp(op, "kill") == 0) {
		if (!s->reaped) {
			s->killed = true;
			tree_signal(s, SIGKILL);
		}
	} else if (strcmp(op, "pause") == 0 || strcmp(op, "resume") == 0) {
		if (!s->reaped)
			set_paused(s, op[0] == 'p');
	} else {
		log_warn("unknown op '%.32s'", op);
	}
	json_object_put(o);
}

void shim_cgroup_remove(struct shim *s)
{
	if (s->spec.cgroup == NULL)
		return;
	cg_write(s, "cgroup.kill", "1");
	/* the members need a moment to die; rmdir is EBUSY until then */
	for (int i = 0; i < 200; i++) {
		if (rmdir(s->spec.cgroup) == 0 || errno == ENOENT)
			return;
		usleep(5000);
	}
	log_warn("cgroup %s: cannot remove: %s", s->spec.cgroup, strerror(errno));
}

bool shim_cgroup_oom(const struct shim *s)
{
	char path[4200], key[64];
	unsigned long long n;
	bool oom = false;
	FILE *f;

	if (s->spec.cgroup == NULL)
		return false;
	snprintf(path, sizeof(path), "%s/memory.events", s->spec.cgroup);
	f = fopen(path, "re");
	if (f == NULL)
		return false;
	while (fscanf(f, "%63s %llu", key, &n) == 2)
		if (strcmp(key, "oom_kill") == 0 && n > 0)
			oom = true;
	fclose(f);
	return oom;
}
