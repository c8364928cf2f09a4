/* SPDX-License-Identifier: MIT */
/*
 * Every endpoint handler (one per route, see routes.c) and the helpers they
 * share (h_util.c). A handler fills the response (envelope.h) and returns
 * 0; it never writes to the FastCGI stream unless it streams (then it sets
 * resp->sent). Handlers that change state commit through h_commit, which
 * stores the Idempotency-Key row in the same transaction.
 */
#ifndef HOSTAGENT_HANDLERS_H
#define HOSTAGENT_HANDLERS_H

#include <stdbool.h>
#include <stdint.h>

#include "envelope.h"
#include "request.h"
#include "store_artifacts.h"
#include "store_idem.h"
#include "store_ports.h"
#include "store_projects.h"
#include "store_tasks.h"

struct json_object;

/* h_agent.c */
int h_root(struct request *req, struct response *resp);
int h_ping(struct request *req, struct response *resp);
int h_health(struct request *req, struct response *resp);
int h_ready(struct request *req, struct response *resp);
/* h_tokens.c */
int h_tokens_list(struct request *req, struct response *resp);
int h_tokens_create(struct request *req, struct response *resp);
int h_tokens_get(struct request *req, struct response *resp);
int h_tokens_revoke(struct request *req, struct response *resp);
/* h_artifacts.c */
int h_tasks_create(struct request *req, struct response *resp);
int h_tasks_list(struct request *req, struct response *resp);
int h_tasks_get(struct request *req, struct response *resp);
int h_tasks_cancel(struct request *req, struct response *resp);
int h_tasks_log_stream(struct request *req, struct response *resp);
int h_queue_inject(struct request *req, struct response *resp);
int h_queue_get(struct request *req, struct response *resp);
int h_queue_stop(struct request *req, struct response *resp);
int h_queue_start(struct request *req, struct response *resp);
int h_workers_internal_status(struct request *req, struct response *resp);
int h_workers_internal_scale(struct request *req, struct response *resp);
int h_workers_internal_stop(struct request *req, struct response *resp);
int h_workers_internal_start(struct request *req, struct response *resp);

int h_artifacts_list(struct request *req, struct response *resp);
int h_artifacts_upload(struct request *req, struct response *resp);
int h_artifacts_get(struct request *req, struct response *resp);
int h_artifacts_delete(struct request *req, struct response *resp);
int h_artifacts_download(struct request *req, struct response *resp);
/*
 * Inspects the archive open on fd (path names the same file) and places it
 * at <data>/artifacts/<sha256>: link(2), or a copy when path is on another
 * filesystem; the directory is fsync'd. No database access: the caller
 * inserts the row (h_artifact_row) in its own transaction. want_sha256 may
 * be NULL. 0, or -1 with resp filled (415/422/500). *created tells whether
 * this call made the file (to remove it if the row cannot be written).
 */
struct arc_info;
int h_artifact_store(struct request *req, struct response *resp, int fd, const char *path,
                     const char *want_sha256, struct arc_info *info, bool *created);
/* INSERT OR IGNORE of the row inside the open transaction: 1 new, 0 known, -1 (resp 500). */
int h_artifact_row(struct request *req, struct response *resp, const struct arc_info *info,
                   bool created);
/* h_deploy.c */
int h_deploy(struct request *req, struct response *resp);
/* h_projects.c */
int h_projects_list(struct request *req, struct response *resp);
int h_projects_get(struct request *req, struct response *resp);
int h_projects_delete(struct request *req, struct response *resp);
int h_projects_start(struct request *req, struct response *resp);
int h_projects_stop(struct request *req, struct response *resp);
int h_projects_restart(struct request *req, struct response *resp);
int h_projects_signal(struct request *req, struct response *resp);
int h_projects_rollback(struct request *req, struct response *resp);
/* h_logs.c */
int h_projects_logs(struct request *req, struct response *resp);
int h_projects_log_stream(struct request *req, struct response *resp);
int h_agent_logs(struct request *req, struct response *resp);
/* ?task= must name a run of project: 0 (out = the id, or "" without ?task=), -1 (422). */
int h_task_param(struct request *req, struct response *resp, const char *project, char out[37]);

/* ---- h_util.c ---- */

/* 503 unavailable when the worker has no database connection. 0 or -1. */
int h_need_store(struct request *req, struct response *resp);
/* 500 internal naming what failed (the database error is logged). Returns -1. */
int h_db_error(struct request *req, struct response *resp, const char *what);
/* ?limit= (default 100, 1..1000) and ?offset= (>= 0); 422 naming the bad one. */
int h_paging(struct request *req, struct response *resp, int *limit, int *offset);
/*
 * Rejects members of obj not in allowed[] (NULL-terminated): 422 naming
 * the first unknown one. 0 or -1.
 */
int h_no_unknown(struct response *resp, struct json_object *obj, const char *const *allowed);
/* The body must be a JSON object (or absent when optional). 0 or -1 (422/400). */
int h_body_object(struct request *req, struct response *resp, bool optional);
/*
 * Commits the open transaction after recording the response (already set
 * in resp) under the request's Idempotency-Key, if any. Rolls back and
 * fills resp with 500/409 on failure. 0 or -1.
 */
int h_commit(struct request *req, struct response *resp);
/*
 * h_commit, but the Idempotency-Key row keeps stored (borrowed) as the
 * result instead of resp's: a secret shown once is never written down.
 */
int h_commit_as(struct request *req, struct response *resp, struct json_object *stored);
/* Nudges the runner after a commit; a runner that is down is not an error here. */
void h_wake(struct request *req);
/* 1 when the runner's heartbeat is fresh and it has not stopped, 0 if not, -1 error. */
int h_runner_alive(struct request *req, struct store_runner *out);
/* The project path parameter: 404 for an invalid or unknown/deleted name. 0 or -1. */
int h_project_param(struct request *req, struct response *resp, struct store_project *row);
/*
 * Appends a command and answers 202 {command:{id, kind}, project, watch}.
 * In the same transaction it writes the project's desired state the command
 * asks for (start, restart, rollback: 'running'; stop, delete: 'stopped';
 * the handler's column, never the runner's). Opens, commits (with the
 * idempotency row) and wakes. payload may be NULL ("{}"). 0 or -1.
 */
int h_command_202(struct request *req, struct response *resp, const char *kind, const char *project,
                  const char *payload, struct json_object *extra);
/* The same inside a transaction the caller has already opened. */
int h_command_202_in(struct request *req, struct response *resp, const char *kind,
                     const char *project, const char *payload, struct json_object *extra);
/*
 * Inserts a command whose result a handler waits for (bundles), wakes the
 * runner and polls the row: 1 ms doubling to 20 ms, at most 120 s.
 * 0 with *out filled ('applied' or 'failed'), -1 with resp filled (503
 * when the runner is down or too slow, 500 on a database error).
 */
int h_command_wait(struct request *req, struct response *resp, const char *kind, const char *target,
                   const char *payload, struct store_command *out);
/* 1 when the master asked this worker to stop (SIGTERM pending), else 0. */
int h_stopping(void);

#endif
