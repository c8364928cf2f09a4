/* SPDX-License-Identifier: MIT */
/*
 * The runs the runner supervises, one per shim: the connection to each
 * shim, the ops sent to it (never a kill(2) of a job PID), the events it
 * sends, the record of a run's end, and recovery after a runner restart.
 * A job reports to its owner (a project today, a queue slot next) through
 * struct job_owner_ops; this module knows nothing about owners.
 */
#ifndef HOSTAGENT_JOBS_H
#define HOSTAGENT_JOBS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "shim_proto.h"

struct runner;
struct store_task;
struct job;

/* How a run ended, as recorded in its task row. */
struct job_end {
	struct shim_exit exit;
	const char *state; /* completed, failed, timeout, cancelled (static) */
	char reason[300];
	int64_t run_ms; /* 0 when it never exec'd */
};

/* The owner's callbacks; each is optional. owner is the pointer given with them. */
struct job_owner_ops {
	/* The job exec'd (or, after a restart, was found running). */
	void (*started)(void *owner, struct job *j);
	/*
	 * The run is over and about to be recorded: *result may be set to JSON
	 * text (malloc'd; freed by jobs.c) that is written with the end, in its
	 * transaction, so that no reader sees the end without it.
	 */
	void (*ending)(void *owner, struct job *j, const struct job_end *e, char **result);
	/* The run is over and recorded; j is freed when this returns. */
	void (*exited)(void *owner, struct job *j, const struct job_end *e);
	/* One health check ran (the shim runs them). */
	void (*health)(void *owner, struct job *j, const struct shim_health *h);
};

/* One run. Owned by r->jobs; freed after its owner's exited(). */
struct job {
	struct runner *r; /* back pointer for loop callbacks (borrowed) */
	char task_id[40];
	char project[64];    /* "" for a queued task */
	int conn_fd;         /* SOCK_SEQPACKET to the shim (owned), -1 while disconnected */
	pid_t shim_pid, pid; /* pid is 0 until "started" or a status names it */
	uint64_t
	    start_time; /* of pid, as the shim saw it; 0 while unknown (never trust pid then) */
	int64_t started_at;
	char cgroup[PATH_MAX]; /* "" in process-group mode */
	bool started, stop_requested, kill_requested, paused;
	/* why the agent itself stopped the run ("unhealthy: ..."): its end is then a failure */
	char stop_cause[200];
	bool timed_out; /* its owner stopped it for running past its timeout: it ends 'timeout' */
	int64_t spawned_mono; /* when the shim was started (launch latency) */
	uint64_t retry_timer; /* reconnect after a restart, 0 when none */
	int retries;
	uint64_t prev_ticks; /* CPU sampling */
	int64_t prev_ms;
	const struct job_owner_ops *ops;
	void *owner;
	struct job *next;
};

/*
 * Starts the shim for a task whose job directory is ready and locked
 * (lock_fd, borrowed: the shim inherits the lock as fd 4). The job is in
 * r->jobs and reports to ops/owner. 0, or -1 with a reason in err.
 */
int job_spawn(struct runner *r, const char *task_id, const char *project, const char *cgroup,
              int lock_fd, const struct job_owner_ops *ops, void *owner, struct job **out,
              char *err, size_t errlen);
/*
 * A run whose shim is alive but unknown to this runner (a spawn the
 * previous runner did not record): supervise it again. The shim is reached
 * from the loop, so *out stays valid when this returns (its end, if it has
 * ended, comes later through ops->exited). 0 or -1.
 */
int job_adopt(struct runner *r, const struct store_task *t, const struct job_owner_ops *ops,
              void *owner, struct job **out);
struct job *job_find(struct runner *r, const char *task_id);

/* Ops through the shim; 0 sent, -1 not connected. sig <= 0 / timeout_ms < 0: the spec's. */
int job_op_stop(struct job *j, int sig, int64_t timeout_ms);
int job_op_kill(struct job *j);
int job_op_signal(struct job *j, int sig);
int job_op_pause(struct job *j, bool pause);

/*
 * Called for every recovered job before anything of it is reported: the
 * caller sets j->ops and j->owner from the task row.
 */
typedef void job_adopt_fn(void *arg, struct job *j, const struct store_task *t);
/*
 * At start-up: every run the database says may be live is supervised
 * again. A shim that holds its directory's lock is alive, however long it
 * takes to connect (a connect error is retried, never taken for a death);
 * a run whose shim is gone ends with what exit.json says.
 */
void jobs_recover(struct runner *r, job_adopt_fn *adopt, void *arg);

#endif
