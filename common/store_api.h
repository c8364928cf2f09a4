/* SPDX-License-Identifier: MIT */
/*
 * The handler-side queries: artifacts, projects, releases, ports, service
 * tasks and Idempotency-Key rows, plus the round trip /health times. Part
 * of the store module (all SQL stays in store files); the runner never
 * calls these. Writers run inside the caller's store_begin/store_commit so
 * that a change and its idempotency row commit together.
 */
#ifndef HOSTAGENT_STORE_API_H
#define HOSTAGENT_STORE_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct json_object;

/* A real read of the database file (not just "SELECT 1" in memory). 0 or -1. */
int store_api_ping(struct store *s);

/* One active token as JSON (caller puts): 1 found, 0 not, -1 error. */
int store_api_token_get(struct store *s, const char *id, struct json_object **out);

/* ---- Idempotency-Key ---- */
struct store_idem {
	char method[16];
	char path[512];
	char body_sha256[65];
	int status;
	char *response; /* malloc'd; the caller frees */
};
/* 1 found (out filled), 0 none, -1 error. */
int store_idem_get(struct store *s, const char *token_id, const char *key, struct store_idem *out);
/* Records the first response. 0, 1 when the key was taken meanwhile, -1 error. */
int store_idem_put(struct store *s, const char *token_id, const char *key, const char *method,
                   const char *path, const char *body_sha256, int status, const char *response);

/* ---- artifacts ---- */
struct store_artifact {
	char sha256[65];
	char format[16];
	int64_t size, entries, unpacked;
};
/* 1 inserted, 0 it existed already, -1 error. */
int store_artifact_insert(struct store *s, const struct store_artifact *a);
/* 1 when the artifact row exists, 0 not, -1 error. */
int store_artifact_exists(struct store *s, const char *sha256);
/* Metadata with used_by {projects, tasks, releases}; *out owned by the caller. 1/0/-1. */
int store_artifact_get(struct store *s, const char *sha256, struct json_object **out);
int store_artifact_list(struct store *s, int limit, int offset, struct json_object **arr,
                        int64_t *total);
struct store_artifact_use {
	int64_t projects, tasks, releases;
	char project[128]; /* one project using it, for the message */
	char task[40];     /* one live task using it */
};
int store_artifact_usage(struct store *s, const char *sha256, struct store_artifact_use *u);
/* 1 deleted, 0 no such row, -1 error. */
int store_artifact_delete(struct store *s, const char *sha256);

/* ---- projects and releases ---- */
struct store_project {
	char name[128];
	int64_t release_id, release_seq;
	char state[16], desired[16];
	char task_id[40];
	char task_state[16];
	bool deleted;
};
/* The row, deleted or not: 1 found, 0 never existed, -1 error. */
int store_project_row(struct store *s, const char *name, struct store_project *out);
/* A live (not deleted) project as API JSON: 1/0/-1. */
int store_project_get(struct store *s, const char *name, struct json_object **out);
int store_project_list(struct store *s, int limit, int offset, struct json_object **arr,
                       int64_t *total);
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
/* 1 when task id is a run of project, 0 not, -1 error. */
int store_task_of_project(struct store *s, const char *task_id, const char *project);

/* ---- ports ---- */
#define STORE_PORTS_MAX 64
struct store_port {
	char name[40];
	int port;
	bool fixed;
};
int store_ports_of(struct store *s, const char *project, struct store_port *out, size_t max,
                   size_t *n);
/* The project holding port: 1 (name in project), 0 free, -1 error. */
int store_port_holder(struct store *s, int port, char *project, size_t len);
/* Ports held in [lo, hi], ascending, at most max. */
int store_ports_in_range(struct store *s, int lo, int hi, int *out, size_t max, size_t *n);
/* Replaces every port row of project by ports[0..n). */
int store_ports_replace(struct store *s, const char *project, const struct store_port *ports,
                        size_t n);

#endif
