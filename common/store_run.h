/* SPDX-License-Identifier: MIT */
/*
 * The runner's SQL: tasks it runs and ends, projects it supervises,
 * releases it extracts and prunes, ports it hands out as PORT_<NAME>, and
 * the one-second usage samples. Every statement is a static string prepared
 * through store_prep. Rows come back as small structs; the few malloc'd
 * fields are freed by the matching *_clear.
 */
#ifndef HOSTAGENT_STORE_RUN_H
#define HOSTAGENT_STORE_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/*
 * The event that reports a change, committed in the same transaction as
 * the change (readers of the event log never see one without the other).
 * Every pointer is borrowed for the call; level NULL means "info".
 */
struct run_event {
	const char *type, *task_id, *project, *level, *message, *data;
};

/* ---- tasks ---- */
struct run_task {
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
};
void run_task_clear(struct run_task *t);
/* 1 found, 0 not, -1 error. */
int store_run_task_get(struct store *s, const char *id, struct run_task *out);
/* A new pending 'service' run of a project. */
/* The shim was spawned (the row stays pending until "started"). */
int store_run_task_spawned(struct store *s, const char *id, int shim_pid, const char *cgroup);
/* "started" arrived: running, with pid and start time, and its event. */
int store_run_task_started(struct store *s, const char *id, int pid, int shim_pid,
                           int64_t started_at, const struct run_event *ev);
/* running <-> paused (paused_at / paused_ms bookkeeping). */
int store_run_task_paused(struct store *s, const char *id, bool paused);

struct run_end {
	const char *state; /* completed, failed, timeout, cancelled */
	const char *reason;
	bool has_code, has_signal;
	int exit_code, signal;
	bool killed, timed_out, oom;
	int64_t started_at; /* 0: keep the row's */
	int64_t ended_at;   /* becomes completed_at */
};
/* Records the end of a run with its event, and drops its usage sample. */
int store_run_task_ended(struct store *s, const char *id, const struct run_end *e,
                         const struct run_event *ev);
/*
 * Tasks whose shim may be alive: running, paused, or pending with a
 * shim_pid, and pending service runs (a spawn the runner may not have
 * recorded: the job directory's lock tells).
 */
int store_run_tasks_live(struct store *s, struct run_task **out, size_t *n);
void run_tasks_free(struct run_task *t, size_t n);

/* ---- projects ---- */
struct run_project {
	char name[64];
	int64_t release_id; /* 0 when NULL */
	char desired[16];
	char state[16];
	char task_id[40];
	int restarts, fast_failures;
	int64_t backoff_until;
	bool deleted;
};
/* Every project not deleted. *out is malloc'd (free). */
int store_run_projects(struct store *s, struct run_project **out, size_t *n);
/* 1 found (deleted ones too), 0 not, -1 error. */
int store_run_project_get(struct store *s, const char *name, struct run_project *out);
/*
 * Writes the supervision fields the runner owns (not desired: the
 * handlers' column) and, when ev is not NULL, its event, in one
 * transaction; backoff_until 0 writes NULL, task_id "" too.
 */
int store_run_project_save(struct store *s, const struct run_project *p, const char *reason,
                           const struct run_event *ev);
/* Makes a release current: release_id and the spec that came with it. */
int store_run_project_release(struct store *s, const char *name, int64_t release_id);
/* deleted_at = now, state stopped, ports freed, and its event: one transaction. */
int store_run_project_deleted(struct store *s, const char *name, const struct run_event *ev);
/* A deleted project is back (a deploy after the delete): a new project's counters. */
int store_run_project_undeleted(struct store *s, const char *name);
/* Removes the project's tasks (and their deps and usage) and releases rows. */
int store_run_project_purge(struct store *s, const char *name);
/* Task ids of the project (for purge). *out malloc'd array of char[40]. */
int store_run_project_task_ids(struct store *s, const char *name, char (**out)[40], size_t *n);

/* ---- releases ---- */
struct run_release {
	int64_t id;
	char project[64];
	int seq;
	char artifact[72];
	char state[16];
	char *spec; /* malloc'd JSON text */
};
void run_release_clear(struct run_release *r);
int store_run_release_get(struct store *s, int64_t id, struct run_release *out);
/* The release's state and reason, and ev (may be NULL) in the same transaction. */
int store_run_release_set(struct store *s, int64_t id, const char *state, const char *reason,
                          const struct run_event *ev);
/*
 * Ready releases of a project beyond the newest `keep`, never `spare` nor
 * `spare2` (the new current one and the one still running): their seqs
 * into *seqs (malloc'd), and their rows are marked 'removed'. The caller
 * deletes the directories.
 */
int store_run_releases_prune(struct store *s, const char *project, int keep, int64_t spare,
                             int64_t spare2, int **seqs, size_t *n);

/* ---- ports ---- */
struct run_port {
	char name[40];
	int port;
};
int store_run_ports(struct store *s, const char *project, struct run_port **out, size_t *n);

/* ---- logs bundle: the runs of a project, oldest first ---- */
struct run_summary {
	char id[40];
	char state[16];
	char reason[256];
	int64_t release_id;
	int release_seq;
	char artifact[72];
	bool has_code, has_signal;
	int exit_code, signal;
	int64_t created_at, started_at, completed_at;
};
/* task NULL: every run; since 0: no lower bound on started_at/created_at. */
int store_run_summaries(struct store *s, const char *project, const char *task, int64_t since,
                        struct run_summary **out, size_t *n);

/* ---- usage samples ---- */
struct run_usage {
	const char *task_id;
	double cpu_pct;
	uint64_t rss_bytes;
	long threads;
	int fds, procs;
};
/* One transaction: every task sample and the host row. */
int store_run_usage_write(struct store *s, const struct run_usage *u, size_t n, double host_pct,
                          double avg1, double avg5, double avg15);

/*
 * 1 when a project.* command for this project is still pending or running
 * (it will settle the project itself), 0 when none, -1 on error.
 */
int store_run_project_has_open_command(struct store *s, const char *name);

#endif
