/* SPDX-License-Identifier: MIT */
/*
 * Task rows that both daemons create: the handler on deploy and rollback,
 * the runner on each restart of a project, each with its task.created
 * event, and the handlers' check that a task belongs to a project; what
 * the runner observes of a run (spawn, start, pause, end, recovery), and a
 * project's runs for its logs bundle (see store_tasks.h).
 */
#include "store_tasks.h"

#include "store_sql.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "util.h"

static const char sql_task_add[] =
    "INSERT INTO tasks (id, kind, project, release_id, artifact, spec, state, created_at,"
    " updated_at) VALUES (?1, 'service', ?2, ?3, ?4, ?5, 'pending', ?6, ?6)";

/* The created event rides in the caller's transaction, with the row. */
static int task_created_event(struct store *s, const char *id, const char *project,
                              int64_t release_id, const char *artifact)
{
	struct json_object *d = json_object_new_object();
	int rc;

	json_object_object_add(d, "kind", json_object_new_string("service"));
	json_object_object_add(d, "release_id", json_object_new_int64(release_id));
	json_object_object_add(d, "artifact", artifact ? json_object_new_string(artifact) : NULL);
	rc = store_event_add(s, "task.created", id, project, "info", "service task created",
	                     json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN));
	json_object_put(d);
	return rc;
}

int store_task_add_service(struct store *s, const char *id, const char *project, int64_t release_id,
                           const char *artifact, const char *spec)
{
	sqlite3_stmt *st = store_prep(s, sql_task_add);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, id);
	store_bind_text(st, 2, project);
	sqlite3_bind_int64(st, 3, release_id);
	store_bind_text(st, 4, artifact);
	store_bind_text(st, 5, spec);
	sqlite3_bind_int64(st, 6, util_now_ms());
	if (store_step_done(st) < 0)
		return -1;
	return task_created_event(s, id, project, release_id, artifact);
}

static const char sql_task_of[] = "SELECT count(*) FROM tasks WHERE id = ?1 AND project = ?2";

int store_task_of_project(struct store *s, const char *task_id, const char *project)
{
	sqlite3_stmt *st = store_prep(s, sql_task_of);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, task_id);
	store_bind_text(st, 2, project);
	return store_nonzero(st);
}

/* ---- what the runner observes ---- */

#define TASK_COLS                                                                                  \
	"id, kind, coalesce(project, ''), coalesce(release_id, 0), state, spec, parameters,"       \
	" coalesce(max_steps, 0), coalesce(shim_pid, 0), coalesce(pid, 0), coalesce(cgroup, ''),"  \
	" created_at, coalesce(started_at, 0), coalesce(timeout_s, 0), attempts, retries,"          \
	" coalesce(worker_id, ''), coalesce(artifact, '')"
static const char sql_task_get[] = "SELECT " TASK_COLS " FROM tasks WHERE id = ?";
static const char sql_tasks_live[] =
    "SELECT " TASK_COLS " FROM tasks WHERE state IN ('running', 'paused')"
    " OR (state = 'pending' AND (shim_pid IS NOT NULL OR kind = 'service')) ORDER BY created_at";
static const char sql_task_spawned[] =
    "UPDATE tasks SET shim_pid = ?2, cgroup = ?3, attempts = attempts + (kind = 'service'),"
    " updated_at = ?4"
    " WHERE id = ?1";
static const char sql_task_started[] =
    "UPDATE tasks SET state = 'running', pid = ?2, shim_pid = ?3, started_at = ?4,"
    " updated_at = ?5 WHERE id = ?1 AND state IN ('pending', 'running', 'paused')";
static const char sql_task_pause[] =
    "UPDATE tasks SET state = 'paused', paused_at = ?2, updated_at = ?2"
    " WHERE id = ?1 AND state = 'running'";
static const char sql_task_resume[] =
    "UPDATE tasks SET state = 'running', paused_ms = paused_ms + (?2 - coalesce(paused_at, ?2)),"
    " paused_at = NULL, updated_at = ?2 WHERE id = ?1 AND state = 'paused'";
static const char sql_task_ended[] =
    "UPDATE tasks SET state = ?2, reason = ?3, exit_code = ?4, signal = ?5, killed = ?6,"
    " timed_out = ?7, oom = ?8, started_at = coalesce(?9, started_at), completed_at = ?10,"
    " updated_at = ?11, paused_at = NULL, result = coalesce(?12, result) WHERE id = ?1"
    " AND state NOT IN ('completed', 'failed', 'timeout', 'cancelled')"; /* an end is final */
static const char sql_usage_del[] = "DELETE FROM task_usage WHERE task_id = ?";
/* a queued task's current attempt ends with it (service runs have no attempt rows) */
static const char sql_attempt_ended[] =
    "UPDATE task_attempts SET state = ?2, reason = ?3, exit_code = ?4, signal = ?5,"
    " started_at = (SELECT started_at FROM tasks WHERE id = ?1), ended_at = ?6"
    " WHERE task_id = ?1 AND attempt = (SELECT attempts FROM tasks WHERE id = ?1)"
    " AND ended_at IS NULL";

void store_task_clear(struct store_task *t)
{
	free(t->spec);
	free(t->parameters);
	memset(t, 0, sizeof(*t));
}

static void read_task(sqlite3_stmt *st, struct store_task *t)
{
	memset(t, 0, sizeof(*t));
	store_col_copy(st, 0, t->id, sizeof(t->id));
	store_col_copy(st, 1, t->kind, sizeof(t->kind));
	store_col_copy(st, 2, t->project, sizeof(t->project));
	t->release_id = sqlite3_column_int64(st, 3);
	store_col_copy(st, 4, t->state, sizeof(t->state));
	t->spec = store_col_dup(st, 5);
	t->parameters = store_col_dup(st, 6);
	t->max_steps = sqlite3_column_int(st, 7);
	t->shim_pid = sqlite3_column_int(st, 8);
	t->pid = sqlite3_column_int(st, 9);
	store_col_copy(st, 10, t->cgroup, sizeof(t->cgroup));
	t->created_at = sqlite3_column_int64(st, 11);
	t->started_at = sqlite3_column_int64(st, 12);
	t->timeout_s = sqlite3_column_int64(st, 13);
	t->attempts = sqlite3_column_int(st, 14);
	t->retries = sqlite3_column_int(st, 15);
	store_col_copy(st, 16, t->worker_id, sizeof(t->worker_id));
	store_col_copy(st, 17, t->artifact, sizeof(t->artifact));
}

static void task_of(sqlite3_stmt *st, void *row, void *arg)
{
	read_task(st, row);
}

int store_task_get(struct store *s, const char *id, struct store_task *out)
{
	sqlite3_stmt *st = store_prep(s, sql_task_get);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, id);
	return store_one(st, task_of, out);
}

int store_task_spawned(struct store *s, const char *id, int shim_pid, const char *cgroup)
{
	sqlite3_stmt *st = store_prep(s, sql_task_spawned);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, id);
	sqlite3_bind_int(st, 2, shim_pid);
	store_bind_text(st, 3, cgroup);
	sqlite3_bind_int64(st, 4, util_now_ms());
	return store_step_done(st);
}

static int task_started_row(struct store *s, const char *id, int pid, int shim_pid,
                            int64_t started_at)
{
	sqlite3_stmt *st = store_prep(s, sql_task_started);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, id);
	sqlite3_bind_int(st, 2, pid);
	sqlite3_bind_int(st, 3, shim_pid);
	sqlite3_bind_int64(st, 4, started_at);
	sqlite3_bind_int64(st, 5, util_now_ms());
	return store_step_done(st);
}

int store_task_started(struct store *s, const char *id, int pid, int shim_pid, int64_t started_at,
                       const struct store_event *ev)
{
	if (store_begin(s) < 0)
		return -1;
	return store_finish(s, task_started_row(s, id, pid, shim_pid, started_at) < 0 ||
	                               store_event_write(s, ev) < 0
	                           ? -1
	                           : 0);
}

int store_task_paused(struct store *s, const char *id, bool paused)
{
	sqlite3_stmt *st = store_prep(s, paused ? sql_task_pause : sql_task_resume);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, id);
	sqlite3_bind_int64(st, 2, util_now_ms());
	return store_step_done(st);
}

/* ?1 id, ?2 state, ?3 reason, ?4 exit code, ?5 signal: the task row's and its attempt's alike. */
static void bind_end(sqlite3_stmt *st, const char *id, const struct store_task_end *e)
{
	store_bind_text(st, 1, id);
	store_bind_text(st, 2, e->state);
	store_bind_text(st, 3, e->reason);
	if (e->has_code)
		sqlite3_bind_int(st, 4, e->exit_code);
	if (e->has_signal)
		sqlite3_bind_int(st, 5, e->signal);
}

static int task_ended_row(struct store *s, const char *id, const struct store_task_end *e)
{
	sqlite3_stmt *st = store_prep(s, sql_task_ended);

	if (st == NULL)
		return -1;
	bind_end(st, id, e);
	sqlite3_bind_int(st, 6, e->killed);
	sqlite3_bind_int(st, 7, e->timed_out);
	sqlite3_bind_int(st, 8, e->oom);
	if (e->started_at > 0)
		sqlite3_bind_int64(st, 9, e->started_at);
	sqlite3_bind_int64(st, 10, e->ended_at > 0 ? e->ended_at : util_now_ms());
	sqlite3_bind_int64(st, 11, util_now_ms());
	store_bind_text(st, 12, e->result);
	return store_step_done(st);
}

int store_task_ended(struct store *s, const char *id, const struct store_task_end *e,
                     const struct store_event *ev)
{
	sqlite3_stmt *st;
	int rc = -1;

	if (store_begin(s) < 0)
		return -1;
	if (task_ended_row(s, id, e) == 0 && (st = store_prep(s, sql_usage_del)) != NULL) {
		store_bind_text(st, 1, id);
		rc = store_step_done(st) == 0 && store_event_write(s, ev) == 0 ? 0 : -1;
	}
	if (rc == 0 && (st = store_prep(s, sql_attempt_ended)) != NULL) {
		bind_end(st, id, e);
		sqlite3_bind_int64(st, 6, e->ended_at > 0 ? e->ended_at : util_now_ms());
		rc = store_step_done(st);
	}
	return store_finish(s, rc);
}

static void clear_task(void *row)
{
	store_task_clear(row);
}

int store_tasks_live(struct store *s, struct store_task **out, size_t *n)
{
	sqlite3_stmt *st = store_prep(s, sql_tasks_live);

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	return store_rows(st, sizeof(**out), 0, task_of, NULL, clear_task, (void **)out, n);
}

void store_tasks_free(struct store_task *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_task_clear(&t[i]);
	free(t);
}

static const char sql_project_tasks[] = "SELECT id FROM tasks WHERE project = ?";

static void id_of(sqlite3_stmt *st, void *row, void *arg)
{
	store_col_copy(st, 0, row, 40);
}

int store_task_ids_of_project(struct store *s, const char *name, char (**out)[40], size_t *n)
{
	sqlite3_stmt *st = store_prep(s, sql_project_tasks);

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	store_bind_text(st, 1, name);
	return store_rows(st, 40, 0, id_of, NULL, NULL, (void **)out, n);
}

/* ---- runs for a logs bundle ---- */

static const char sql_summaries[] =
    "SELECT t.id, t.state, coalesce(t.reason, ''), coalesce(t.release_id, 0),"
    " coalesce(r.seq, 0), coalesce(r.artifact, t.artifact, ''), t.exit_code, t.signal,"
    " t.created_at, coalesce(t.started_at, 0), coalesce(t.completed_at, 0),"
    " t.killed, t.timed_out, t.oom"
    " FROM tasks t LEFT JOIN releases r ON r.id = t.release_id"
    " WHERE t.project = ?1 AND (?2 IS NULL OR t.id = ?2)"
    " AND coalesce(t.started_at, t.created_at) >= ?3 ORDER BY t.created_at, t.id";

static void read_summary(sqlite3_stmt *st, struct store_task_summary *r)
{
	memset(r, 0, sizeof(*r));
	store_col_copy(st, 0, r->id, sizeof(r->id));
	store_col_copy(st, 1, r->state, sizeof(r->state));
	store_col_copy(st, 2, r->reason, sizeof(r->reason));
	r->release_id = sqlite3_column_int64(st, 3);
	r->release_seq = sqlite3_column_int(st, 4);
	store_col_copy(st, 5, r->artifact, sizeof(r->artifact));
	r->has_code = sqlite3_column_type(st, 6) != SQLITE_NULL;
	r->exit_code = sqlite3_column_int(st, 6);
	r->has_signal = sqlite3_column_type(st, 7) != SQLITE_NULL;
	r->signal = sqlite3_column_int(st, 7);
	r->created_at = sqlite3_column_int64(st, 8);
	r->started_at = sqlite3_column_int64(st, 9);
	r->completed_at = sqlite3_column_int64(st, 10);
	r->killed = sqlite3_column_int(st, 11) != 0;
	r->timed_out = sqlite3_column_int(st, 12) != 0;
	r->oom = sqlite3_column_int(st, 13) != 0;
}

static void summary_of(sqlite3_stmt *st, void *row, void *arg)
{
	read_summary(st, row);
}

int store_task_summaries(struct store *s, const char *project, const char *task, int64_t since,
                         struct store_task_summary **out, size_t *n)
{
	sqlite3_stmt *st = store_prep(s, sql_summaries);

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	store_bind_text(st, 1, project);
	store_bind_text(st, 2, task);
	sqlite3_bind_int64(st, 3, since);
	return store_rows(st, sizeof(**out), 0, summary_of, NULL, NULL, (void **)out, n);
}
