/* SPDX-License-Identifier: MIT */
/*
 * The runner daemon's shared state and the interfaces between its files:
 * main.c (start-up, signals, timers), commands.c (dispatch), project.c
 * (supervision glue), jobs.c (shim connections and recovery), spawn.c,
 * helper.c, cgroup.c, sample.c and bundle_logs.c. Single-threaded: every
 * function runs on the event loop.
 */
#ifndef HOSTAGENT_RUNNER_H
#define HOSTAGENT_RUNNER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/config.h" /* not autoconf's config.h, which -I. finds first */
#include "procstat.h"
#include "supervise.h"

struct loop;
struct store;
struct json_object;

/* One run the runner supervises through its shim. Owned by runner.jobs. */
struct job {
	struct runner *r; /* back pointer for loop callbacks (borrowed) */
	char task_id[40];
	char project[64];    /* "" for a queued task */
	int conn_fd;         /* SOCK_SEQPACKET to the shim (owned), -1 while disconnected */
	pid_t shim_pid, pid; /* pid is 0 until "started" */
	int64_t started_at;
	char cgroup[PATH_MAX]; /* "" in process-group mode */
	bool started, stop_requested, kill_requested, paused, ended;
	int64_t spawned_mono; /* when the shim was started (launch latency) */
	uint64_t prev_ticks;  /* CPU sampling */
	int64_t prev_ms;
	struct job *next;
};

/* What exit.json (or the "exited" event) says. */
struct job_exit {
	bool has_code, has_signal, core, killed, timed_out, oom, stopped;
	int exit_code, signal;
	int64_t started_at, ended_at;
	char reason[256];
};

/* A supervised project, mirrored in projects.* (the database is the truth at start-up). */
struct project {
	struct runner *r; /* back pointer for timer callbacks (borrowed) */
	char name[64];
	enum sv_state state;
	bool desired_running;
	int64_t release_id;
	char task_id[40]; /* the current (or last) run */
	struct job *job;  /* the current run, NULL when none */
	int restarts, fast_failures;
	int64_t backoff_until;
	uint64_t timer; /* backoff timer id */
	uint64_t gen;   /* bumped by every command: a late deploy result checks it */
	/* what to do once the current run has ended */
	char next_task[40]; /* launch this task (deploy, rollback, restart) */
	bool delete_after, purge_after;
	int64_t pending_cmd; /* command to mark applied then (0: none) */
	struct project *next;
};

struct runner {
	struct config cfg;
	const char *cfg_path; /* -c, or NULL */
	struct store *store;
	struct loop *loop;
	int wake_fd, sig_fd;
	char kill_mode[16]; /* "cgroup" or "process-group" */
	char cgroup_root[PATH_MAX];
	char shim_path[PATH_MAX];
	struct job *jobs;
	struct project *projects;
	bool commands_due;
	/* sampling (sample.c) */
	struct procstat_snap snap;
	struct procstat_cpu cpu_prev;
	struct procstat_avg cpu_avg;
};

/* ---- commands.c ---- */
/* Applies every pending command in id order. */
void commands_apply(struct runner *r);
/* Marks a command applied or failed (reason may be NULL) and logs it. */
void commands_done(struct runner *r, int64_t id, bool ok, const char *result, const char *reason);

/* ---- project.c ---- */
int project_load_all(struct runner *r);
/* The in-memory project, loading it from the database if needed; NULL if unknown/deleted. */
struct project *project_find(struct runner *r, const char *name, bool load);
/*
 * The project a command names (loaded from the database if need be), or
 * NULL after settling the command as failed with "no such project".
 */
struct project *project_for_cmd(struct runner *r, int64_t cmd_id, const char *name);
void project_deploy_cmd(struct runner *r, int64_t cmd_id, const char *name,
                        struct json_object *payload);
void project_start_cmd(struct runner *r, int64_t cmd_id, const char *name);
void project_stop_cmd(struct runner *r, int64_t cmd_id, const char *name);
void project_restart_cmd(struct runner *r, int64_t cmd_id, const char *name);
void project_signal_cmd(struct runner *r, int64_t cmd_id, const char *name, int sig);
void project_rollback_cmd(struct runner *r, int64_t cmd_id, const char *name,
                          struct json_object *payload);
void project_delete_cmd(struct runner *r, int64_t cmd_id, const char *name, bool purge);
/* Writes the supervision fields and, on a change of state, a project.<state> event. */
void project_set_state(struct runner *r, struct project *p, enum sv_state s, const char *reason);
/* Makes a ready release current and (re)starts the project on it (task_id may be NULL). */
void project_switch(struct runner *r, struct project *p, int64_t release_id, const char *task_id,
                    int64_t cmd_id);
/* After recovery: projects whose run vanished are restarted or marked stopped. */
void project_settle_all(struct runner *r);
/* Hooks from jobs.c. */
void project_job_started(struct runner *r, struct job *j);
void project_job_ended(struct runner *r, struct job *j, const struct job_exit *e);
/* A recovered job (after a runner restart) belongs to its project again. */
void project_job_adopted(struct runner *r, struct job *j);

/* ---- jobs.c ---- */
/*
 * Starts the shim for a task whose job directory (spec.json) is ready.
 * The job is added to r->jobs. 0, or -1 with a reason in err.
 */
int job_spawn(struct runner *r, const char *task_id, const char *project, const char *cgroup,
              struct job **out, char *err, size_t errlen);
/* At start-up: reconnects to every live shim or records the ends that happened meanwhile. */
void jobs_recover(struct runner *r);
/* Ops through the shim; 0 sent, -1 not connected. sig <= 0 for stop: the spec's stop_signal and
 * stop_timeout. */
int job_op_stop(struct runner *r, struct job *j, int sig, int64_t timeout_ms);
int job_op_kill(struct runner *r, struct job *j);
int job_op_signal(struct runner *r, struct job *j, int sig);
int job_op_pause(struct runner *r, struct job *j, bool pause);
struct job *job_find(struct runner *r, const char *task_id);
/* <data>/jobs/<task_id>. -1 if it does not fit. */
int job_dir(const struct runner *r, const char *task_id, char *buf, size_t len);
/* Reads <jobdir>/exit.json: 1 found, 0 absent, -1 unreadable. */
int job_read_exit(const char *jobdir, struct job_exit *e);

/* ---- jobdir.c ---- */
struct run_task;
struct run_release;
/*
 * Writes <data>/jobs/<task>/ (spec.json, parameters.json, output/). 0, -1
 * (I/O: worth a retry) or -2 (the spec cannot be run), with a reason in err.
 */
int jobdir_prepare(struct runner *r, const struct run_task *t, const struct run_release *rel,
                   const char *cgroup, char *err, size_t errlen);

/* ---- spawn.c ---- */
/*
 * One way to start a program (git's run-command shape). The caller fills
 * argv (borrowed) and fd3 (borrowed: dup'ed onto fd 3 in the child, -1 for
 * none); stdin, stdout and stderr are /dev/null. After fork the child
 * resets every signal disposition and the mask and makes only
 * async-signal-safe calls; an exec failure comes back through a CLOEXEC
 * pipe. The child is reaped by the runner's SIGCHLD loop.
 */
struct spawn {
	const char *const *argv;
	int fd3;
	pid_t pid; /* set by spawn_start */
};
int spawn_start(struct spawn *sp, char *err, size_t errlen);

/* ---- helper.c ---- */
/*
 * Runs work(arg) in a forked child so that slow work (extraction,
 * bundling) never blocks the loop: the child writes
 * {"ok":bool,"result":...,"error":"..."} to a pipe and exits; done() runs
 * on the loop when the pipe reaches EOF (ok false with a reason if the
 * child died). The child must not use r->store. arg is owned by the
 * caller and must stay valid until done() is called.
 */
typedef int helper_work_fn(void *arg, struct json_object **result, char *err, size_t errlen);
typedef void helper_done_fn(struct runner *r, void *arg, bool ok, struct json_object *result,
                            const char *err);
int helper_start(struct runner *r, helper_work_fn *work, helper_done_fn *done, void *arg);
/* Removes a directory tree in a helper child: a large release never stalls the loop. */
void helper_remove_tree(struct runner *r, const char *path);

/* ---- cgroup.c ---- */
/* Decides the kill mode once; fills r->kill_mode and r->cgroup_root. */
void cgroup_detect(struct runner *r);
/* Creates <root>/job-<task_id> into out. 0, or -1 (the job then runs without). */
int cgroup_job_create(const struct runner *r, const char *task_id, char *out, size_t len);
/* Kills whatever is left in a job cgroup and removes it (a shim that vanished). */
void cgroup_job_destroy(const char *path);

/* ---- sample.c ---- */
/* One sample of every running job's tree and of the host, in one transaction. */
void sample_tick(struct runner *r);

/* ---- bundle_logs.c ---- */
void bundle_logs_cmd(struct runner *r, int64_t cmd_id, const char *project,
                     struct json_object *payload);
void bundle_agent_logs_cmd(struct runner *r, int64_t cmd_id, struct json_object *payload);
/* Deletes bundles older than ten minutes. */
void bundle_cleanup(struct runner *r);

/* ---- main.c ---- */
/* A JSON helper: string member or NULL. */
const char *json_str(struct json_object *o, const char *key);
int64_t json_int(struct json_object *o, const char *key, int64_t def);

#endif
