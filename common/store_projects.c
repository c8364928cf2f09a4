/* SPDX-License-Identifier: MIT */
/*
 * The projects and releases tables, handler side (see store_projects.h).
 * Rows come back as named fields; the column indexes stay in this file.
 */
#include "store_projects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sql.h"
#include "util.h"

/*
 * A deleted project is back once a release was deployed after its deletion:
 * the handler only sets desired, and the runner clears deleted_at when it
 * applies that deploy (docs/architecture.md, "Commands").
 */
#define PROJ_LIVE                                                                                  \
	"(p.deleted_at IS NULL OR EXISTS (SELECT 1 FROM releases x WHERE x.project = p.name"       \
	" AND x.created_at >= p.deleted_at))"
/* One project row, as both daemons read it (handlers: before a command; the runner: to supervise).
 */
#define PROJ_ROW                                                                                   \
	"SELECT p.name, coalesce(p.release_id, 0), coalesce(r.seq, 0), p.state, p.desired,"        \
	" coalesce(p.task_id, ''), coalesce(t.state, ''), NOT " PROJ_LIVE ", p.restarts,"          \
	" p.fast_failures, coalesce(p.backoff_until, 0), p.deleted_at IS NOT NULL"                 \
	" FROM projects p LEFT JOIN releases r ON r.id = p.release_id"                             \
	" LEFT JOIN tasks t ON t.id = p.task_id"
static const char sql_proj_row[] = PROJ_ROW " WHERE p.name = ?";
static const char sql_proj_supervised[] = PROJ_ROW " WHERE p.deleted_at IS NULL ORDER BY p.name";
#define PROJ_COLS                                                                                  \
	"SELECT p.name, p.spec, p.release_id, r.seq, r.artifact, r.state, p.state,"                \
	" p.state_reason, p.desired, p.task_id, t.pid, t.started_at, t.state, p.restarts,"         \
	" p.backoff_until, u.cpu_pct, u.rss_bytes, p.created_at, p.updated_at,"                    \
	" lr.id, lr.seq, lr.state, lr.reason, p.health"                                            \
	" FROM projects p LEFT JOIN releases r ON r.id = p.release_id"                             \
	" LEFT JOIN releases lr ON lr.id ="                                                        \
	" (SELECT id FROM releases WHERE project = p.name ORDER BY seq DESC LIMIT 1)"              \
	" LEFT JOIN tasks t ON t.id = p.task_id LEFT JOIN task_usage u ON u.task_id = p.task_id"   \
	" WHERE " PROJ_LIVE
static const char sql_proj_get[] = PROJ_COLS " AND p.name = ?";
static const char sql_proj_list[] = PROJ_COLS " ORDER BY p.name LIMIT ? OFFSET ?";
static const char sql_proj_count[] = "SELECT count(*) FROM projects p WHERE " PROJ_LIVE;
static const char sql_rel_add[] =
    "INSERT INTO releases (project, seq, artifact, spec, created_at) VALUES (?1,"
    " (SELECT coalesce(max(seq), 0) + 1 FROM releases WHERE project = ?1), ?2, ?3, ?4)"
    " RETURNING id, seq";
/*
 * The handler writes only what the user wants: a new row with the observed
 * columns at their defaults (no release until the runner switches to one),
 * or desired on an existing row. start:false changes what would run, not
 * what is wanted (a deleted row's desired is already 'stopped').
 */
static const char sql_proj_upsert[] =
    "INSERT INTO projects (name, spec, desired, created_at, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (name) DO UPDATE SET"
    " desired = CASE WHEN ?3 = 'running' THEN ?3 ELSE desired END, updated_at = ?4";
static const char sql_proj_desired[] =
    "UPDATE projects SET desired = ?2, updated_at = ?3 WHERE name = ?1";
static const char sql_rel_prev[] =
    "SELECT r.id, r.seq, r.artifact, r.spec FROM releases r"
    " WHERE r.project = ?1 AND r.state = 'ready' AND r.seq < (SELECT r2.seq FROM projects p"
    " JOIN releases r2 ON r2.id = p.release_id WHERE p.name = ?1)"
    " ORDER BY r.seq DESC LIMIT 1";

static void read_row(sqlite3_stmt *st, struct store_project *out)
{
	memset(out, 0, sizeof(*out));
	store_col_copy(st, 0, out->name, sizeof(out->name));
	out->release_id = sqlite3_column_int64(st, 1);
	out->release_seq = sqlite3_column_int64(st, 2);
	store_col_copy(st, 3, out->state, sizeof(out->state));
	store_col_copy(st, 4, out->desired, sizeof(out->desired));
	store_col_copy(st, 5, out->task_id, sizeof(out->task_id));
	store_col_copy(st, 6, out->task_state, sizeof(out->task_state));
	out->deleted = sqlite3_column_int(st, 7) != 0;
	out->restarts = sqlite3_column_int(st, 8);
	out->fast_failures = sqlite3_column_int(st, 9);
	out->backoff_until = sqlite3_column_int64(st, 10);
	out->marked_deleted = sqlite3_column_int(st, 11) != 0;
}

static void row_of(sqlite3_stmt *st, void *row, void *arg)
{
	read_row(st, row);
}

int store_project_row(struct store *s, const char *name, struct store_project *out)
{
	sqlite3_stmt *st = store_prep(s, sql_proj_row);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, name);
	return store_one(st, row_of, out);
}

int store_projects_supervised(struct store *s, struct store_project **out, size_t *n)
{
	sqlite3_stmt *st = store_prep(s, sql_proj_supervised);

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	return store_rows(st, sizeof(**out), 0, row_of, NULL, NULL, (void **)out, n);
}

void store_project_info_clear(struct store_project_info *info)
{
	free(info->spec);
	free(info->state_reason);
	free(info->health);
	free(info->release.reason);
	free(info->latest.reason);
	free(info->ports);
	memset(info, 0, sizeof(*info));
}

void store_project_info_free(struct store_project_info *arr, size_t n)
{
	for (size_t i = 0; i < n && arr != NULL; i++)
		store_project_info_clear(&arr[i]);
	free(arr);
}

/* An int64 column and whether it was NULL. */
static bool col_int(sqlite3_stmt *st, int col, int64_t *out)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return false;
	*out = sqlite3_column_int64(st, col);
	return true;
}

/* The current release (columns 2-5) and the newest deploy (19-22). */
static void read_releases(sqlite3_stmt *st, struct store_project_info *p)
{
	struct store_release_ref *r = &p->release, *l = &p->latest;

	r->present = col_int(st, 2, &r->id);
	r->found = col_int(st, 3, &r->seq);
	store_col_copy(st, 4, r->artifact, sizeof(r->artifact));
	store_col_copy(st, 5, r->state, sizeof(r->state));
	l->present = col_int(st, 19, &l->id);
	l->found = l->present;
	col_int(st, 20, &l->seq);
	store_col_copy(st, 21, l->state, sizeof(l->state));
	l->reason = store_col_dup(st, 22);
}

static void read_info(sqlite3_stmt *st, struct store_project_info *p)
{
	memset(p, 0, sizeof(*p));
	store_col_copy(st, 0, p->name, sizeof(p->name));
	p->spec = store_col_dup(st, 1);
	read_releases(st, p);
	store_col_copy(st, 6, p->state, sizeof(p->state));
	p->state_reason = store_col_dup(st, 7);
	store_col_copy(st, 8, p->desired, sizeof(p->desired));
	store_col_copy(st, 9, p->task_id, sizeof(p->task_id));
	p->has_pid = col_int(st, 10, &p->pid);
	p->has_started = col_int(st, 11, &p->task_started_at);
	store_col_copy(st, 12, p->task_state, sizeof(p->task_state));
	p->restarts = sqlite3_column_int64(st, 13);
	col_int(st, 14, &p->backoff_until);
	p->has_cpu = sqlite3_column_type(st, 15) != SQLITE_NULL;
	p->cpu_pct = sqlite3_column_double(st, 15);
	p->has_rss = col_int(st, 16, &p->rss_bytes);
	p->created_at = sqlite3_column_int64(st, 17);
	p->updated_at = sqlite3_column_int64(st, 18);
	p->health = store_col_dup(st, 23);
}

/* The project's ports (a separate statement: the row's must be reset first). */
static int read_ports(struct store *s, struct store_project_info *p)
{
	struct store_port buf[STORE_PORTS_MAX];
	size_t n = 0;

	if (store_ports_of(s, p->name, buf, STORE_PORTS_MAX, &n) < 0)
		return -1;
	if (n == 0)
		return 0;
	p->ports = malloc(n * sizeof(*p->ports));
	if (p->ports == NULL)
		return -1;
	memcpy(p->ports, buf, n * sizeof(*p->ports));
	p->nports = n;
	return 0;
}

int store_project_get(struct store *s, const char *name, struct store_project_info *out)
{
	sqlite3_stmt *st = store_prep(s, sql_proj_get);
	int rc;

	if (st == NULL)
		return -1;
	memset(out, 0, sizeof(*out));
	store_bind_text(st, 1, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_info(st, out);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW || read_ports(s, out) < 0) {
		store_project_info_clear(out);
		return -1;
	}
	return 1;
}

static void info_of(sqlite3_stmt *st, void *row, void *arg)
{
	read_info(st, row);
}

static int more_of(struct store *s, void *row)
{
	return read_ports(s, row);
}

static void clear_info(void *row)
{
	store_project_info_clear(row);
}

int store_project_list(struct store *s, int limit, int offset, struct store_project_info **arr,
                       size_t *n, int64_t *total)
{
	return store_page(s, sql_proj_list, sql_proj_count, limit, offset, sizeof(**arr), info_of,
	                  clear_info, more_of, (void **)arr, n, total);
}

int store_release_add(struct store *s, const char *project, const char *artifact, const char *spec,
                      int64_t *id, int64_t *seq)
{
	sqlite3_stmt *st = store_prep(s, sql_rel_add);
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, project);
	store_bind_text(st, 2, artifact);
	store_bind_text(st, 3, spec);
	sqlite3_bind_int64(st, 4, util_now_ms());
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		*seq = sqlite3_column_int64(st, 1);
		/* RETURNING commits its effect only at SQLITE_DONE */
		rc = sqlite3_step(st);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_project_upsert(struct store *s, const char *name, const char *spec, bool start)
{
	sqlite3_stmt *st = store_prep(s, sql_proj_upsert);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, name);
	store_bind_text(st, 2, spec);
	store_bind_text(st, 3, start ? "running" : "stopped");
	sqlite3_bind_int64(st, 4, util_now_ms());
	return store_step_done(st);
}

int store_project_set_desired(struct store *s, const char *name, const char *desired)
{
	sqlite3_stmt *st = store_prep(s, sql_proj_desired);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, name);
	store_bind_text(st, 2, desired);
	sqlite3_bind_int64(st, 3, util_now_ms());
	return store_step_done(st);
}

int store_release_previous(struct store *s, const char *project, int64_t *id, int64_t *seq,
                           char artifact[65], char **spec)
{
	sqlite3_stmt *st = store_prep(s, sql_rel_prev);
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, project);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		*seq = sqlite3_column_int64(st, 1);
		store_col_copy(st, 2, artifact, 65);
		*spec = strdup(store_col_text(st, 3));
		if (*spec == NULL)
			rc = SQLITE_NOMEM;
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* ---- the runner: what it observes of a project ---- */

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
static const char sql_project_health[] = "UPDATE projects SET health = ?2 WHERE name = ?1";
static const char sql_ports_free[] = "DELETE FROM ports WHERE project = ?";
static const char sql_purge_usage[] =
    "DELETE FROM task_usage WHERE task_id IN (SELECT id FROM tasks WHERE project = ?)";
static const char sql_purge_tasks[] = "DELETE FROM tasks WHERE project = ?";
static const char sql_purge_releases[] = "DELETE FROM releases WHERE project = ?";

static int project_save_row(struct store *s, const struct store_project *p, const char *reason)
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

int store_project_save_state(struct store *s, const struct store_project *p, const char *reason,
                             const struct store_event *ev)
{
	if (ev == NULL)
		return project_save_row(s, p, reason);
	if (store_begin(s) < 0)
		return -1;
	return store_finish(
	    s, project_save_row(s, p, reason) < 0 || store_event_write(s, ev) < 0 ? -1 : 0);
}

int store_project_set_health(struct store *s, const char *name, const char *health)
{
	return store_exec_text2(s, sql_project_health, name, health);
}

int store_project_set_release(struct store *s, const char *name, int64_t release_id)
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

int store_project_mark_deleted(struct store *s, const char *name, const struct store_event *ev)
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
		             store_event_write(s, ev) < 0
		         ? -1
		         : 0;
	}
	return store_finish(s, rc);
}

int store_project_undelete(struct store *s, const char *name)
{
	sqlite3_stmt *st = store_prep(s, sql_project_undeleted);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, name);
	sqlite3_bind_int64(st, 2, util_now_ms());
	return store_step_done(st);
}

int store_project_purge(struct store *s, const char *name)
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

/* ---- releases: the runner's side ---- */

static const char sql_release_get[] =
    "SELECT id, project, seq, artifact, state, spec FROM releases WHERE id = ?";
static const char sql_release_set[] = "UPDATE releases SET state = ?2, reason = ?3 WHERE id = ?1";
static const char sql_releases_old[] =
    "SELECT id, seq FROM releases WHERE project = ?1 AND state = 'ready' AND id NOT IN (?3, ?4)"
    " ORDER BY seq DESC LIMIT -1 OFFSET ?2";

void store_release_clear(struct store_release *r)
{
	free(r->spec);
	memset(r, 0, sizeof(*r));
}

static void release_of(sqlite3_stmt *st, void *row, void *arg)
{
	struct store_release *out = row;

	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(st, 0);
	store_col_copy(st, 1, out->project, sizeof(out->project));
	out->seq = sqlite3_column_int(st, 2);
	store_col_copy(st, 3, out->artifact, sizeof(out->artifact));
	store_col_copy(st, 4, out->state, sizeof(out->state));
	out->spec = store_col_dup(st, 5);
}

int store_release_get(struct store *s, int64_t id, struct store_release *out)
{
	sqlite3_stmt *st = store_prep(s, sql_release_get);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return store_one(st, release_of, out);
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

int store_release_set_state(struct store *s, int64_t id, const char *state, const char *reason,
                            const struct store_event *ev)
{
	if (ev == NULL)
		return release_set_row(s, id, state, reason);
	if (store_begin(s) < 0)
		return -1;
	return store_finish(
	    s, release_set_row(s, id, state, reason) < 0 || store_event_write(s, ev) < 0 ? -1 : 0);
}

int store_releases_prune(struct store *s, const char *project, int keep, int64_t spare,
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
		int *q = store_grow((void **)seqs, n, &cap, sizeof(int));
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
