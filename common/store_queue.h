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

#endif
