/* SPDX-License-Identifier: MIT */
/*
 * The shim's state and the ops the runner sends it (shim_ops.c). One shim
 * supervises one run; everything here is about that single job.
 */
#ifndef HOSTAGENT_SHIM_H
#define HOSTAGENT_SHIM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "shim_exec.h"
#include "shim_health.h"
#include "shim_log.h"

struct loop;

/* What the shim runs now: a run is pre_start (if any), the job, post_stop (if any). */
enum shim_phase { SHIM_PRE_START, SHIM_MAIN, SHIM_POST_STOP };

struct shim {
	struct loop *loop;
	struct shim_spec spec;
	int listen_fd;       /* shim.sock (owned) */
	int conn_fd;         /* the current runner connection (owned), -1 when none */
	int lock_fd;         /* the job directory, flock'ed for the shim's life (owned) */
	pid_t pid;           /* the job; its pgid and sid too */
	uint64_t start_time; /* from /proc/<pid>/stat, to tell a reused PID apart */
	int64_t started_at, ended_at;
	bool reaped; /* from then on nothing is ever signalled by pid */
	int wait_status;
	bool paused, stop_requested, killed, timed_out, oom;
	uint64_t kill_timer; /* stop escalation, 0 when not armed */
	char reason[256];
	struct shim_stream out, err;
	enum shim_phase phase;
	pid_t hook_pid;      /* the hook running, 0 when none; its pgid too */
	uint64_t hook_timer; /* its timeout, 0 when not armed */
	int hook_status;
	bool hook_timed_out, start_failed, post_stop_failed;
	int64_t oom_before; /* memory.events oom_kill when the job started (pre_start's are not its) */
	char fail_why[256]; /* why the job could not start, when not the hook's outcome */
	char post_stop_note[160]; /* how a failing post_stop ended, for exit.json */
	int out_w, err_w; /* the output pipes' write ends, kept while a hook may still run; -1 */
	struct shim_prober health;
};

/* Parses and carries out one op packet from the runner (text is NUL-terminated). */
void shim_handle_op(struct shim *s, const char *text);
/* Replaces the runner connection (fd owned from now on; -1 to drop it). */
void shim_set_conn(struct shim *s, int fd);
/* The stop sequence: sig to the tree, SIGKILL after timeout_ms unless it ended. */
void shim_op_stop(struct shim *s, int sig, int64_t timeout_ms);
/* SIGKILL to the whole tree; only while the main pid is unreaped, or by cgroup. */
void shim_tree_kill_all(struct shim *s);
/* Kills what is left in the job's cgroup and removes the directory (bounded wait). */
void shim_cgroup_remove(struct shim *s);
/* The cgroup's memory.events oom_kill count (0 without a memory controller). */
int64_t shim_cgroup_oom_count(const struct shim *s);

#endif
