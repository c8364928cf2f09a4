/* SPDX-License-Identifier: MIT */
/*
 * The task queue in the database: queued tasks as the handlers add them,
 * and the claim, the one way a task leaves 'pending' for a run, used alike
 * by this host's slots and by external workers (docs/architecture.md,
 * "Tasks: the queue"). The claim is one UPDATE of the best runnable task,
 * chosen by a subquery over a partial index of the pending rows, so two
 * claimers never get the same task and its cost does not grow with the
 * finished ones.
 */
#ifndef HOSTAGENT_STORE_QUEUE_H
#define HOSTAGENT_STORE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* A queued task (kind 'task'), as POST /api/v1/tasks makes it. Strings may be NULL. */
struct store_new_task {
	const char *id;
	const char *project; /* a project's current release runs it */
	int64_t release_id;
	const char *artifact;   /* else an artifact with a command */
	const char *spec;       /* the run fields, normalized (JSON) */
	const char *parameters; /* JSON */
	const char *labels;     /* JSON object */
	const char *problem_id;
	int priority, retries, max_steps;
	int64_t timeout_s;
	bool external;             /* for external workers only */
	const char *const *after;  /* ids of tasks it waits for */
	size_t nafter;
};
/*
 * Adds the task, its dependencies and its task.created event, in the
 * caller's transaction. 0 or -1.
 */
int store_task_add(struct store *s, const struct store_new_task *t);

/* Who claims. */
struct store_claim {
	bool external;         /* external workers claim runs_on 'external', slots 'internal' */
	const char *worker_id; /* "internal-1", or an external worker's id */
	const char *problems;  /* JSON array of globs against problem_id (else the project); NULL or [] : any */
	int64_t lease_ms;      /* the lease an external worker must renew; 0: none (slots) */
	int64_t now_ms;        /* the clock of not_before and the lease; 0: now */
};

/* A claimed task: what the claimer needs to run it. */
struct store_claimed {
	char id[40];
	int attempt; /* the attempt number that fences its result */
	int64_t lease_until;
};

/*
 * Claims the best runnable task: pending, of the claimer's kind, past its
 * not_before, every task it waits for completed, matching problems; best
 * is the highest priority, then the oldest. It becomes running with the
 * claimer as worker, its attempt number one more, a task_attempts row and
 * the task.claimed event, in one transaction of its own. 1 claimed (*out
 * set), 0 nothing to claim, -1 error.
 */
int store_task_claim(struct store *s, const struct store_claim *c, struct store_claimed *out);
/*
 * The same for one given task (POST /api/v1/queue/inject: run it now,
 * outside the order): 1 claimed, 0 not pending any more, -1 error.
 */
int store_task_claim_id(struct store *s, const char *id, const struct store_claim *c,
                        struct store_claimed *out);


/* A queued task as the API shows it. Strings are malloc'd or NULL (store_task_info_clear). */
struct store_task_info {
	char id[40], kind[16], state[16], runs_on[16];
	char *project, *problem_id, *reason, *worker_id;
	char *spec, *parameters, *labels, *result, *status; /* JSON text */
	int priority, retries, attempts, max_steps, steps_taken;
	int64_t timeout_s; /* 0: none */
	bool has_code, has_signal, killed, timed_out, oom;
	int exit_code, signal;
	int64_t created_at, updated_at, started_at, completed_at; /* ms, 0: not yet */
	char (*after)[40]; /* the tasks it waits for, nafter of them */
	size_t nafter;
	struct store_attempt {
		int attempt;
		char worker_id[64], state[16];
		char *reason;
		bool has_code, has_signal;
		int exit_code, signal;
		int64_t claimed_at, started_at, ended_at;
	} *tries; /* every attempt, oldest first */
	size_t ntries;
};
void store_task_info_clear(struct store_task_info *t);
void store_task_infos_free(struct store_task_info *arr, size_t n);
/* 1 found (a queued task, kind 'task'), 0 not, -1 error. */
int store_task_info_get(struct store *s, const char *id, struct store_task_info *out);

/* GET /api/v1/tasks filters; NULL: any. states: a JSON array of states; state: just one. */
struct store_task_filter {
	const char *state, *states, *project, *problem_id, *worker_id;
	const char *label_key, *label_value;
	int limit, offset;
};
/* One page, newest first, with *total matching. 0 or -1. */
int store_task_list(struct store *s, const struct store_task_filter *f,
                    struct store_task_info **arr, size_t *n, int64_t *total);
/* The ids among ids that are not tasks: *missing the first unknown one. 1 all known, 0 not, -1. */
int store_tasks_exist(struct store *s, const char *const *ids, size_t n, const char **missing);

/*
 * id ended other than completed: every pending task that waits for it,
 * and in turn their waiting tasks, is cancelled with a reason naming the
 * task it waited for, each with its task.cancelled event, in one
 * transaction. Returns how many, or -1.
 */
int store_tasks_cancel_dependents(struct store *s, const char *id, const char *state);
/* Tasks claimed by workers whose id starts with prefix that have no recorded shim; *ids malloc'd. */
int store_tasks_claimed_unspawned(struct store *s, const char *prefix, char (**ids)[40],
                                  size_t *n);
/* A claimed task that never ran goes back to pending; its attempt ends 'lost' (why). 0 or -1. */
int store_task_unclaim(struct store *s, const char *id, const char *why);
/*
 * A failed run of a task with retries left: back to pending, claimable from
 * not_before on, with its task.retrying event (why). 0 or -1.
 */
int store_task_retry(struct store *s, const char *id, int64_t not_before, const char *why);
/*
 * A pending task cancelled at once (the handlers' one write of a task's
 * state: the claim's UPDATE and this one exclude each other), with its
 * event and its dependents', in the caller's transaction. 1 cancelled, 0
 * not pending any more (a claim came first), -1 error.
 */
int store_task_cancel_pending(struct store *s, const char *id, const char *why);

/* The internal slots' switches (agent_state, the handlers' rows), with the configuration's defaults. */
struct store_slots {
	bool running; /* internal.running: not "false" (unset: the default) */
	int count;    /* internal.slots (unset or out of range: the default) */
};
#define STORE_SLOTS_MAX 1024
/* Reads both switches; dflt holds the configuration's values. 0, or -1 (out is dflt then). */
int store_slots_get(struct store *s, const struct store_slots *dflt, struct store_slots *out);

/* The internal slots' runs: worker "internal-<n>" → task, for the status route. */
struct store_slot_task {
	char worker_id[32];
	char task_id[40];
};
/* Tasks running or paused on internal slots (injected ones aside). *out malloc'd. 0 or -1. */
int store_slot_tasks(struct store *s, struct store_slot_task **out, size_t *n);

#endif
