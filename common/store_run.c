/* SPDX-License-Identifier: MIT */
/*
 * The runner's queries (see store_run.h). Writers are single statements or
 * short BEGIN IMMEDIATE transactions; readers reset their statement before
 * returning so that no read transaction outlives the call.
 */
#include "store_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sql.h"
#include "util.h"

/* Grows a row array by one; NULL on failure. */
static void *grow(void **arr, size_t *n, size_t *cap, size_t size)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 8;
		void *p = realloc(*arr, c * size);
		if (p == NULL)
			return NULL;
		*arr = p;
		*cap = c;
	}
	return (char *)*arr + (*n)++ * size;
}

/* The event of a change, inside the caller's transaction. */
static int event_add(struct store *s, const struct run_event *ev)
{
	if (ev == NULL)
		return 0;
	return store_event_add(s, ev->type, ev->task_id, ev->project, ev->level, ev->message,
	                       ev->data);
}

/* Commits what the caller wrote since store_begin, or rolls it back when rc < 0. */
static int finish(struct store *s, int rc)
{
	if (rc < 0) {
		store_rollback(s);
		return -1;
	}
	return store_commit(s);
}

/* ---- tasks ---- */

#define TASK_COLS                                                                                  \
	"id, kind, coalesce(project, ''), coalesce(release_id, 0), state, spec, parameters,"       \
	" coalesce(max_steps, 0), coalesce(shim_pid, 0), coalesce(pid, 0), coalesce(cgroup, ''),"  \
	" created_at, coalesce(started_at, 0)"
static const char sql_task_get[] = "SELECT " TASK_COLS " FROM tasks WHERE id = ?";
static const char sql_tasks_live[] =
    "SELECT " TASK_COLS " FROM tasks WHERE state IN ('running', 'paused')"
    " OR (state = 'pending' AND (shim_pid IS NOT NULL OR kind = 'service')) ORDER BY created_at";
static const char sql_project_open_cmd[] =
    "SELECT count(*) FROM commands WHERE target = ? AND kind LIKE 'project.%'"
    " AND state IN ('pending', 'running')";
static const char sql_task_spawned[] =
    "UPDATE tasks SET shim_pid = ?2, cgroup = ?3, attempts = attempts + 1, updated_at = ?4"
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
    " updated_at = ?11, paused_at = NULL WHERE id = ?1";
static const char sql_usage_del[] = "DELETE FROM task_usage WHERE task_id = ?";

void run_task_clear(struct run_task *t)
{
	free(t->spec);
	free(t->parameters);
	memset(t, 0, sizeof(*t));
}

static void read_task(sqlite3_stmt *st, struct run_task *t)
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
}

int store_run_task_get(struct store *s, const char *id, struct run_task *out)
{
	sqlite3_stmt *st = store_prep(s, sql_task_get);
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_task(st, out);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_run_task_spawned(struct store *s, const char *id, int shim_pid, const char *cgroup)
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

int store_run_task_started(struct store *s, const char *id, int pid, int shim_pid,
                           int64_t started_at, const struct run_event *ev)
{
	if (store_begin(s) < 0)
		return -1;
	return finish(
	    s, task_started_row(s, id, pid, shim_pid, started_at) < 0 || event_add(s, ev) < 0 ? -1
	                                                                                      : 0);
}

int store_run_task_paused(struct store *s, const char *id, bool paused)
{
	sqlite3_stmt *st = store_prep(s, paused ? sql_task_pause : sql_task_resume);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, id);
	sqlite3_bind_int64(st, 2, util_now_ms());
	return store_step_done(st);
}

static int task_ended_row(struct store *s, const char *id, const struct run_end *e)
{
	sqlite3_stmt *st = store_prep(s, sql_task_ended);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, id);
	store_bind_text(st, 2, e->state);
	store_bind_text(st, 3, e->reason);
	if (e->has_code)
		sqlite3_bind_int(st, 4, e->exit_code);
	if (e->has_signal)
		sqlite3_bind_int(st, 5, e->signal);
	sqlite3_bind_int(st, 6, e->killed);
	sqlite3_bind_int(st, 7, e->timed_out);
	sqlite3_bind_int(st, 8, e->oom);
	if (e->started_at > 0)
		sqlite3_bind_int64(st, 9, e->started_at);
	sqlite3_bind_int64(st, 10, e->ended_at > 0 ? e->ended_at : util_now_ms());
	sqlite3_bind_int64(st, 11, util_now_ms());
	return store_step_done(st);
}

int store_run_task_ended(struct store *s, const char *id, const struct run_end *e,
                         const struct run_event *ev)
{
	sqlite3_stmt *st;
	int rc = -1;

	if (store_begin(s) < 0)
		return -1;
	if (task_ended_row(s, id, e) == 0 && (st = store_prep(s, sql_usage_del)) != NULL) {
		store_bind_text(st, 1, id);
		rc = store_step_done(st) == 0 && event_add(s, ev) == 0 ? 0 : -1;
	}
	return finish(s, rc);
}

int store_run_tasks_live(struct store *s, struct run_task **out, size_t *n)
{
	sqlite3_stmt *st = store_prep(s, sql_tasks_live);
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct run_task *t = grow((void **)out, n, &cap, sizeof(**out));
		if (t == NULL)
			break;
		read_task(st, t);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

void run_tasks_free(struct run_task *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		run_task_clear(&t[i]);
	free(t);
}

/* ---- projects ---- */

#define PROJECT_COLS                                                                               \
	"name, coalesce(release_id, 0), desired, state, coalesce(task_id, ''), restarts,"          \
	" fast_failures, coalesce(backoff_until, 0), deleted_at IS NOT NULL"
static const char sql_projects[] =
    "SELECT " PROJECT_COLS " FROM projects WHERE deleted_at IS NULL ORDER BY name";
static const char sql_project_get[] = "SELECT " PROJECT_COLS " FROM projects WHERE name = ?";
static const char sql_project_save[] =
    "UPDATE projects SET state = ?2, state_reason = ?3, task_id = ?4,"
    " restarts = ?5, fast_failures = ?6, backoff_until = ?7, updated_at = ?8 WHERE name = ?1";
static const char sql_project_release[] =
    "UPDATE projects SET release_id = ?2,"
    " spec = coalesce((SELECT spec FROM releases WHERE id = ?2), spec), updated_at = ?3"
    " WHERE name = ?1";
static const char sql_project_deleted[] =
    "UPDATE projects SET deleted_at = ?2, state = 'stopped', state_reason = 'deleted',"
    " updated_at = ?2 WHERE name = ?1";
static const char sql_project_undeleted[] =
    "UPDATE projects SET deleted_at = NULL, state_reason = NULL, task_id = NULL, restarts = 0,"
    " fast_failures = 0, backoff_until = NULL, updated_at = ?2 WHERE name = ?1";
static const char sql_ports_free[] = "DELETE FROM ports WHERE project = ?";
static const char sql_purge_usage[] =
    "DELETE FROM task_usage WHERE task_id IN (SELECT id FROM tasks WHERE project = ?)";
static const char sql_purge_tasks[] = "DELETE FROM tasks WHERE project = ?";
static const char sql_purge_releases[] = "DELETE FROM releases WHERE project = ?";
static const char sql_project_tasks[] = "SELECT id FROM tasks WHERE project = ?";

static void read_project(sqlite3_stmt *st, struct run_project *p)
{
	memset(p, 0, sizeof(*p));
	store_col_copy(st, 0, p->name, sizeof(p->name));
	p->release_id = sqlite3_column_int64(st, 1);
	store_col_copy(st, 2, p->desired, sizeof(p->desired));
	store_col_copy(st, 3, p->state, sizeof(p->state));
	store_col_copy(st, 4, p->task_id, sizeof(p->task_id));
	p->restarts = sqlite3_column_int(st, 5);
	p->fast_failures = sqlite3_column_int(st, 6);
	p->backoff_until = sqlite3_column_int64(st, 7);
	p->deleted = sqlite3_column_int(st, 8) != 0;
}

int store_run_projects(struct store *s, struct run_project **out, size_t *n)
{
	sqlite3_stmt *st = store_prep(s, sql_projects);
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct run_project *p = grow((void **)out, n, &cap, sizeof(**out));
		if (p == NULL)
			break;
		read_project(st, p);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_run_project_get(struct store *s, const char *name, struct run_project *out)
{
	sqlite3_stmt *st = store_prep(s, sql_project_get);
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_project(st, out);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int project_save_row(struct store *s, const struct run_project *p, const char *reason)
{
	sqlite3_stmt *st = store_prep(s, sql_project_save);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, p->name);
	store_bind_text(st, 2, p->state);
	store_bind_text(st, 3, reason);
	store_bind_text(st, 4, p->task_id[0] ? p->task_id : NULL);
	sqlite3_bind_int(st, 5, p->restarts);
	sqlite3_bind_int(st, 6, p->fast_failures);
	if (p->backoff_until > 0)
		sqlite3_bind_int64(st, 7, p->backoff_until);
	sqlite3_bind_int64(st, 8, util_now_ms());
	return store_step_done(st);
}

int store_run_project_save(struct store *s, const struct run_project *p, const char *reason,
                           const struct run_event *ev)
{
	if (ev == NULL)
		return project_save_row(s, p, reason);
	if (store_begin(s) < 0)
		return -1;
	return finish(s, project_save_row(s, p, reason) < 0 || event_add(s, ev) < 0 ? -1 : 0);
}

int store_run_project_release(struct store *s, const char *name, int64_t release_id)
{
	sqlite3_stmt *st = store_prep(s, sql_project_release);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, name);
	sqlite3_bind_int64(st, 2, release_id);
	sqlite3_bind_int64(st, 3, util_now_ms());
	return store_step_done(st);
}

/* Runs one single-parameter statement bound to name. */
static int exec_name(struct store *s, const char *sql, const char *name)
{
	sqlite3_stmt *st = store_prep(s, sql);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, name);
	return store_step_done(st);
}

int store_run_project_deleted(struct store *s, const char *name, const struct run_event *ev)
{
	sqlite3_stmt *st;
	int rc = -1;

	if (store_begin(s) < 0)
		return -1;
	st = store_prep(s, sql_project_deleted);
	if (st != NULL) {
		store_bind_text(st, 1, name);
		sqlite3_bind_int64(st, 2, util_now_ms());
		rc = store_step_done(st) < 0 || exec_name(s, sql_ports_free, name) < 0 ||
		             event_add(s, ev) < 0
		         ? -1
		         : 0;
	}
	return finish(s, rc);
}

int store_run_project_undeleted(struct store *s, const char *name)
{
	sqlite3_stmt *st = store_prep(s, sql_project_undeleted);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, name);
	sqlite3_bind_int64(st, 2, util_now_ms());
	return store_step_done(st);
}

int store_run_project_purge(struct store *s, const char *name)
{
	if (store_begin(s) < 0)
		return -1;
	if (exec_name(s, sql_purge_usage, name) < 0 || exec_name(s, sql_purge_tasks, name) < 0 ||
	    exec_name(s, sql_purge_releases, name) < 0) {
		store_rollback(s);
		return -1;
	}
	return store_commit(s);
}

int store_run_project_task_ids(struct store *s, const char *name, char (**out)[40], size_t *n)
{
	sqlite3_stmt *st = store_prep(s, sql_project_tasks);
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	store_bind_text(st, 1, name);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char *id = grow((void **)out, n, &cap, 40);
		if (id == NULL)
			break;
		store_col_copy(st, 0, id, 40);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- releases ---- */

static const char sql_release_get[] =
    "SELECT id, project, seq, artifact, state, spec FROM releases WHERE id = ?";
static const char sql_release_set[] = "UPDATE releases SET state = ?2, reason = ?3 WHERE id = ?1";
static const char sql_releases_old[] =
    "SELECT id, seq FROM releases WHERE project = ?1 AND state = 'ready' AND id NOT IN (?3, ?4)"
    " ORDER BY seq DESC LIMIT -1 OFFSET ?2";

void run_release_clear(struct run_release *r)
{
	free(r->spec);
	memset(r, 0, sizeof(*r));
}

int store_run_release_get(struct store *s, int64_t id, struct run_release *out)
{
	sqlite3_stmt *st = store_prep(s, sql_release_get);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		out->id = sqlite3_column_int64(st, 0);
		store_col_copy(st, 1, out->project, sizeof(out->project));
		out->seq = sqlite3_column_int(st, 2);
		store_col_copy(st, 3, out->artifact, sizeof(out->artifact));
		store_col_copy(st, 4, out->state, sizeof(out->state));
		out->spec = store_col_dup(st, 5);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int release_set_row(struct store *s, int64_t id, const char *state, const char *reason)
{
	sqlite3_stmt *st = store_prep(s, sql_release_set);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	store_bind_text(st, 2, state);
	store_bind_text(st, 3, reason);
	return store_step_done(st);
}

int store_run_release_set(struct store *s, int64_t id, const char *state, const char *reason,
                          const struct run_event *ev)
{
	if (ev == NULL)
		return release_set_row(s, id, state, reason);
	if (store_begin(s) < 0)
		return -1;
	return finish(s,
	              release_set_row(s, id, state, reason) < 0 || event_add(s, ev) < 0 ? -1 : 0);
}

int store_run_releases_prune(struct store *s, const char *project, int keep, int64_t spare,
                             int64_t spare2, int **seqs, size_t *n)
{
	sqlite3_stmt *st = store_prep(s, sql_releases_old);
	int64_t ids[64];
	size_t nids = 0, cap = 0;
	int rc;

	*seqs = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	store_bind_text(st, 1, project);
	sqlite3_bind_int(st, 2, keep > 1 ? keep - 1 : 0); /* the current one counts as kept */
	sqlite3_bind_int64(st, 3, spare);
	sqlite3_bind_int64(st, 4, spare2);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && nids < ARRAY_SIZE(ids)) {
		int *q = grow((void **)seqs, n, &cap, sizeof(int));
		if (q == NULL)
			break;
		ids[nids++] = sqlite3_column_int64(st, 0);
		*q = sqlite3_column_int(st, 1);
	}
	sqlite3_reset(st);
	for (size_t i = 0; i < nids; i++)
		release_set_row(s, ids[i], "removed", "pruned: keep_releases");
	return 0;
}

/* ---- ports ---- */

static const char sql_ports[] = "SELECT name, port FROM ports WHERE project = ? ORDER BY name";

int store_run_ports(struct store *s, const char *project, struct run_port **out, size_t *n)
{
	sqlite3_stmt *st = store_prep(s, sql_ports);
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	store_bind_text(st, 1, project);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct run_port *p = grow((void **)out, n, &cap, sizeof(**out));
		if (p == NULL)
			break;
		store_col_copy(st, 0, p->name, sizeof(p->name));
		p->port = sqlite3_column_int(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- runs for a logs bundle ---- */

static const char sql_summaries[] =
    "SELECT t.id, t.state, coalesce(t.reason, ''), coalesce(t.release_id, 0),"
    " coalesce(r.seq, 0), coalesce(r.artifact, t.artifact, ''), t.exit_code, t.signal,"
    " t.created_at, coalesce(t.started_at, 0), coalesce(t.completed_at, 0)"
    " FROM tasks t LEFT JOIN releases r ON r.id = t.release_id"
    " WHERE t.project = ?1 AND (?2 IS NULL OR t.id = ?2)"
    " AND coalesce(t.started_at, t.created_at) >= ?3 ORDER BY t.created_at, t.id";

static void read_summary(sqlite3_stmt *st, struct run_summary *r)
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
}

int store_run_summaries(struct store *s, const char *project, const char *task, int64_t since,
                        struct run_summary **out, size_t *n)
{
	sqlite3_stmt *st = store_prep(s, sql_summaries);
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	store_bind_text(st, 1, project);
	store_bind_text(st, 2, task);
	sqlite3_bind_int64(st, 3, since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct run_summary *r = grow((void **)out, n, &cap, sizeof(**out));
		if (r == NULL)
			break;
		read_summary(st, r);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- usage samples ---- */

static const char sql_task_usage[] =
    "INSERT INTO task_usage (task_id, sampled_at, cpu_pct, rss_bytes, threads, fds, procs)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (task_id) DO UPDATE SET"
    " sampled_at = ?2, cpu_pct = ?3, rss_bytes = ?4, threads = ?5, fds = ?6, procs = ?7";
static const char sql_host_usage[] =
    "INSERT INTO host_usage (id, sampled_at, cpu_pct, avg1, avg5, avg15)"
    " VALUES (1, ?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO UPDATE SET"
    " sampled_at = ?1, cpu_pct = ?2, avg1 = ?3, avg5 = ?4, avg15 = ?5";

static int usage_row(struct store *s, const struct run_usage *u, int64_t now)
{
	sqlite3_stmt *st = store_prep(s, sql_task_usage);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, u->task_id);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_double(st, 3, u->cpu_pct);
	sqlite3_bind_int64(st, 4, (int64_t)u->rss_bytes);
	sqlite3_bind_int64(st, 5, u->threads);
	if (u->fds >= 0)
		sqlite3_bind_int(st, 6, u->fds);
	sqlite3_bind_int(st, 7, u->procs);
	return store_step_done(st);
}

int store_run_usage_write(struct store *s, const struct run_usage *u, size_t n, double host_pct,
                          double avg1, double avg5, double avg15)
{
	int64_t now = util_now_ms();
	sqlite3_stmt *st;

	if (store_begin(s) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (usage_row(s, &u[i], now) < 0)
			goto fail;
	st = store_prep(s, sql_host_usage);
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_double(st, 2, host_pct);
	sqlite3_bind_double(st, 3, avg1);
	sqlite3_bind_double(st, 4, avg5);
	sqlite3_bind_double(st, 5, avg15);
	if (store_step_done(st) < 0)
		goto fail;
	return store_commit(s);
fail:
	store_rollback(s);
	return -1;
}

int store_run_project_has_open_command(struct store *s, const char *name)
{
	sqlite3_stmt *st = store_prep(s, sql_project_open_cmd);
	int rc, n = 0;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? n > 0 : -1;
}
