/* SPDX-License-Identifier: MIT */
/*
 * This host's task slots (docs/architecture.md, "Tasks: the queue"): while
 * a slot is free, the best runnable task is claimed (store_task_claim, the
 * same claim external workers will use) and run through the same shim and
 * spawn path as a project's run; the slot owns the job (job_owner_ops) and
 * ends the task: its state, its result, its timeout on running time, and
 * the tasks that waited for it when it did not complete.
 */
#ifndef HOSTAGENT_QUEUE_H
#define HOSTAGENT_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

struct runner;
struct job;
struct store_task;
struct store_command;
struct json_object;

/* One task a slot runs. Owned by r->slots. */
struct slot_run {
	struct runner *r;
	char task_id[40];
	struct job *job; /* NULL once ended */
	uint64_t timeout_timer;
	int64_t timeout_s;
	int attempt, retries;
	int slot; /* 1..slots: the worker "internal-<slot>"; 0 for an injected run */
	struct slot_run *next;
};

/*
 * Claims and starts tasks while slots are free: as many slots as
 * agent_state "internal.slots" says (else num_internal_workers), while
 * "internal.running" is not "false" (its default is auto_start_workers).
 */
void queue_fill(struct runner *r);
/*
 * task.cancel: a pending task is cancelled at once, a running one stopped.
 * task.inject: the task runs now, outside the order and the slot limit.
 */
void queue_command(struct runner *r, const struct store_command *c, struct json_object *payload);
/*
 * After jobs_recover: a task a slot claimed but the previous runner never
 * spawned (it died in between) goes back to pending, its attempt 'lost'.
 */
void queue_recover(struct runner *r);
/* For jobs_recover: a recovered run of a queued task belongs to a slot again. */
void queue_adopt(void *r, struct job *j, const struct store_task *t);

#endif
