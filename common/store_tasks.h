/* SPDX-License-Identifier: MIT */
/*
 * The tasks table: every run of a process (a project's service run, a
 * queued task). The handlers create service runs with a deploy or a
 * rollback; the runner creates restarts and writes everything it observes
 * of a run (spawn, start, pause, end). Rows come back as plain structs;
 * the malloc'd fields are freed by the matching _clear.
 */
#ifndef HOSTAGENT_STORE_TASKS_H
#define HOSTAGENT_STORE_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/*
 * A pending run of a project's release (kind 'service'): the handler makes
 * one per deploy or rollback, the runner one per restart. It also writes the
 * task's task.created event; the caller runs both inside one transaction
 * (store_begin … store_commit) so that they commit together. 0 or -1.
 */
int store_task_add_service(struct store *s, const char *id, const char *project, int64_t release_id,
                           const char *artifact, const char *spec);
/* 1 when task id is a run of project, 0 not, -1 error. */
int store_task_of_project(struct store *s, const char *task_id, const char *project);

/* A run as the runner needs it. */
struct store_task {
	char id[40];
	char kind[16];
	char project[64];
	int64_t release_id;
	char state[16];
	char *spec;       /* malloc'd JSON text or NULL */
	char *parameters; /* malloc'd JSON text or NULL */
	int max_steps;    /* 0 when NULL */
	int shim_pid, pid;
	char cgroup[512];
	int64_t created_at, started_at;
	int64_t timeout_s; /* 0: none */
	int attempts, retries; /* the current attempt's number; failed runs that may run again */
	char worker_id[64];    /* who claimed it ("internal-2"), "" when nobody */
	char artifact[72];     /* the artifact it runs (sha256), "" for a project's run */
};
void store_task_clear(struct store_task *t);
/* 1 found, 0 not, -1 error. */
int store_task_get(struct store *s, const char *id, struct store_task *out);
/* The shim was spawned (the row stays pending until "started"). */
int store_task_spawned(struct store *s, const char *id, int shim_pid, const char *cgroup);
/* "started" arrived: running, with pid and start time, and its event. */
int store_task_started(struct store *s, const char *id, int pid, int shim_pid, int64_t started_at,
                       const struct store_event *ev);
/* running <-> paused (paused_at / paused_ms bookkeeping). */
int store_task_paused(struct store *s, const char *id, bool paused);

struct store_task_end {
	const char *state; /* completed, failed, timeout, cancelled */
	const char *reason;
	bool has_code, has_signal;
	int exit_code, signal;
	bool killed, timed_out, oom;
	int64_t started_at; /* 0: keep the row's */
	int64_t ended_at;   /* becomes completed_at */
	const char *result; /* JSON text written with the end, or NULL to keep the row's */
};
/* Records the end of a run with its event, and drops its usage sample. */
int store_task_ended(struct store *s, const char *id, const struct store_task_end *e,
                     const struct store_event *ev);
/*
 * Tasks whose shim may be alive: running, paused, or pending with a
 * shim_pid, and pending service runs (a spawn the runner may not have
 * recorded: the job directory's lock tells). *out malloc'd (store_tasks_free).
 */
int store_tasks_live(struct store *s, struct store_task **out, size_t *n);
void store_tasks_free(struct store_task *t, size_t n);
/* Task ids of a project (for purge). *out malloc'd array of char[40]. */
int store_task_ids_of_project(struct store *s, const char *name, char (**out)[40], size_t *n);

/* A project's runs for its logs bundle, oldest first. */
struct store_task_summary {
	char id[40];
	char state[16];
	char reason[256];
	int64_t release_id;
	int release_seq;
	char artifact[72];
	bool has_code, has_signal;
	int exit_code, signal;
	bool killed, timed_out, oom; /* oom: the kernel's OOM killer ended it */
	int64_t created_at, started_at, completed_at;
};
/* task NULL: every run; since 0: no lower bound on started_at/created_at. *out malloc'd. */
int store_task_summaries(struct store *s, const char *project, const char *task, int64_t since,
                         struct store_task_summary **out, size_t *n);

#endif
