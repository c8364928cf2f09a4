/* SPDX-License-Identifier: MIT */
/*
 * The projects and releases tables: the rows the API shows (plain structs
 * with named fields; fcgi/ builds the JSON), the handlers' writes of a
 * deploy or rollback (their columns only, inside the caller's
 * store_begin/store_commit), and what the runner observes and writes
 * (docs/architecture.md, "Column ownership").
 */
#ifndef HOSTAGENT_STORE_PROJECTS_H
#define HOSTAGENT_STORE_PROJECTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "store_ports.h"

/* A project's row: what a handler checks before a command, and what the runner supervises. */
struct store_project {
	char name[128];
	int64_t release_id, release_seq;
	char state[16], desired[16];
	char task_id[40];
	char task_state[16];
	bool deleted;        /* deleted and not deployed again since (as the API sees it) */
	bool marked_deleted; /* deleted_at is set (the runner clears it when a deploy applies) */
	int restarts, fast_failures;
	int64_t backoff_until; /* 0 when none */
};
/* The row, deleted or not: 1 found, 0 never existed, -1 error. */
int store_project_row(struct store *s, const char *name, struct store_project *out);
/* Every project whose row is not marked deleted, by name. *out is malloc'd (free). 0 or -1. */
int store_projects_supervised(struct store *s, struct store_project **out, size_t *n);

/* A release as a project shows it; present false: none (JSON null). */
struct store_release_ref {
	bool present;
	bool found; /* the release row exists (a purge may have removed it) */
	int64_t id, seq;
	char artifact[65];
	char state[16];
	char *reason; /* malloc'd or NULL (latest release only) */
};

/* A live project with its current run, as GET /api/v1/projects shows it. */
struct store_project_info {
	char name[128];
	char *spec; /* malloc'd JSON text, or NULL */
	char state[16], desired[16];
	char *state_reason;               /* malloc'd or NULL */
	struct store_release_ref release; /* the release that runs (the runner's) */
	struct store_release_ref latest;  /* the newest deploy */
	char task_id[40];                 /* "" when none */
	char task_state[16];              /* the current task's state, "" when none */
	bool has_pid, has_started, has_cpu, has_rss;
	int64_t pid, task_started_at; /* ms */
	double cpu_pct;               /* the runner's last sample */
	int64_t rss_bytes;
	int64_t restarts;
	int64_t backoff_until; /* ms, 0 when none */
	int64_t created_at, updated_at;
	char *health;             /* malloc'd JSON text (the runner's), or NULL */
	struct store_port *ports; /* malloc'd array of nports, by name */
	size_t nports;
};
/* Frees what info owns and zeroes it. */
void store_project_info_clear(struct store_project_info *info);
/* Clears each of n entries and frees the array itself. */
void store_project_info_free(struct store_project_info *arr, size_t n);
/* A live project: 1 found (out owned by the caller, _clear), 0 not, -1 error. */
int store_project_get(struct store *s, const char *name, struct store_project_info *out);
/* A page by name: *arr (n entries, store_project_info_free) and the total. 0 or -1. */
int store_project_list(struct store *s, int limit, int offset, struct store_project_info **arr,
                       size_t *n, int64_t *total);

/* Adds a release with seq = max + 1. */
int store_release_add(struct store *s, const char *project, const char *artifact, const char *spec,
                      int64_t *id, int64_t *seq);
/*
 * The deploy's write to projects, handler columns only: creates the row
 * (spec as given, state 'stopped', no release: the runner makes a release
 * current when it switches to it) or, for an existing row (deleted or not),
 * sets desired 'running' when start; start=false leaves desired as it was
 * ('stopped' for a new row). Never touches state, release_id, spec,
 * task_id, restarts, backoff or deleted_at of an existing row.
 */
int store_project_upsert(struct store *s, const char *name, const char *spec, bool start);
/* desired = 'running' or 'stopped', written with the command that asks for it. 0 or -1. */
int store_project_set_desired(struct store *s, const char *name, const char *desired);
/*
 * The newest 'ready' release older than the current one: 1 found (spec is
 * malloc'd, caller frees), 0 none, -1 error.
 */
int store_release_previous(struct store *s, const char *project, int64_t *id, int64_t *seq,
                           char artifact[65], char **spec);

/* ---- the runner's writes: what it observed ---- */
/*
 * The supervision fields the runner owns (not desired: the handlers'
 * column) and, when ev is not NULL, its event, in one transaction;
 * backoff_until 0 writes NULL, task_id "" too. Reads name, state, task_id,
 * restarts, fast_failures and backoff_until of p.
 */
int store_project_save_state(struct store *s, const struct store_project *p, const char *reason,
                             const struct store_event *ev);
/* The health check's status as the runner saw it last (JSON text; NULL: no check). */
int store_project_set_health(struct store *s, const char *name, const char *health);
/* Makes a release current: release_id and the spec that came with it. */
int store_project_set_release(struct store *s, const char *name, int64_t release_id);
/* deleted_at = now, state stopped, ports freed, and its event: one transaction. */
int store_project_mark_deleted(struct store *s, const char *name, const struct store_event *ev);
/* A deleted project is back (a deploy after the delete): a new project's counters. */
int store_project_undelete(struct store *s, const char *name);
/* Removes the project's tasks (and their usage) and releases rows. */
int store_project_purge(struct store *s, const char *name);

/* A release as the runner extracts and runs it. */
struct store_release {
	int64_t id;
	char project[64];
	int seq;
	char artifact[72];
	char state[16];
	char *spec; /* malloc'd JSON text */
};
void store_release_clear(struct store_release *r);
/* 1 found, 0 not, -1 error. */
int store_release_get(struct store *s, int64_t id, struct store_release *out);
/* The release's state and reason, and ev (may be NULL) in the same transaction. */
int store_release_set_state(struct store *s, int64_t id, const char *state, const char *reason,
                            const struct store_event *ev);
/*
 * Ready releases of a project beyond the newest `keep`, never `spare` nor
 * `spare2` (the new current one and the one still running): their seqs
 * into *seqs (malloc'd), and their rows are marked 'removed'. The caller
 * deletes the directories.
 */
int store_releases_prune(struct store *s, const char *project, int keep, int64_t spare,
                         int64_t spare2, int **seqs, size_t *n);

#endif
