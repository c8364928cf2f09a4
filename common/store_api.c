/* SPDX-License-Identifier: MIT */
/*
 * Queries of the HTTP handlers: artifacts, projects, releases, ports,
 * service tasks, Idempotency-Key rows. Statements are prepared once per
 * connection through store_prep (static strings are the cache keys) and
 * always reset before returning, so that no read transaction outlives a call.
 */
#include "store_api.h"
#include "store_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "util.h"

static struct json_object *col_time(sqlite3_stmt *st, int col)
{
	char ts[UTIL_TIME_LEN];

	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return NULL;
	return json_object_new_string(util_time_fmt(sqlite3_column_int64(st, col), ts));
}

static struct json_object *col_str(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return NULL;
	return json_object_new_string(store_col_text(st, col));
}

static struct json_object *col_int(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return NULL;
	return json_object_new_int64(sqlite3_column_int64(st, col));
}

/* Runs a one-column count(*) query with one text parameter. */
static int count_by_text(struct store *s, const char *sql, const char *arg, int64_t *out)
{
	sqlite3_stmt *st = store_prep(s, sql);
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, arg);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* ---- health ---- */

static const char sql_ping[] = "SELECT count(*) FROM runner";

int store_api_ping(struct store *s)
{
	int64_t n;

	return count_by_text(s, sql_ping, NULL, &n);
}

/* ---- tokens ---- */

static const char sql_token_get[] = "SELECT id, name, scopes, created_at, last_used_at FROM tokens"
                                    " WHERE id = ? AND revoked_at IS NULL";

int store_api_token_get(struct store *s, const char *id, struct json_object **out)
{
	sqlite3_stmt *st = store_prep(s, sql_token_get);
	struct json_object *o, *scopes;
	char buf[64], *save = NULL;
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		o = json_object_new_object();
		scopes = json_object_new_array();
		json_object_object_add(o, "id", col_str(st, 0));
		json_object_object_add(o, "name", col_str(st, 1));
		store_col_copy(st, 2, buf, sizeof(buf));
		for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
			json_object_array_add(scopes, json_object_new_string(t));
		json_object_object_add(o, "scopes", scopes);
		json_object_object_add(o, "created_at", col_time(st, 3));
		json_object_object_add(o, "last_used_at", col_time(st, 4));
		*out = o;
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* ---- Idempotency-Key ---- */

static const char sql_idem_get[] =
    "SELECT method, path, body_sha256, status, response FROM idempotency_keys"
    " WHERE token_id = ? AND key = ?";
static const char sql_idem_put[] =
    "INSERT INTO idempotency_keys (token_id, key, method, path, body_sha256, status, response,"
    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";

int store_idem_get(struct store *s, const char *token_id, const char *key, struct store_idem *out)
{
	sqlite3_stmt *st = store_prep(s, sql_idem_get);
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, token_id);
	store_bind_text(st, 2, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		store_col_copy(st, 0, out->method, sizeof(out->method));
		store_col_copy(st, 1, out->path, sizeof(out->path));
		store_col_copy(st, 2, out->body_sha256, sizeof(out->body_sha256));
		out->status = sqlite3_column_int(st, 3);
		out->response = strdup(store_col_text(st, 4));
		if (out->response == NULL)
			rc = SQLITE_NOMEM;
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_idem_put(struct store *s, const char *token_id, const char *key, const char *method,
                   const char *path, const char *body_sha256, int status, const char *response)
{
	sqlite3_stmt *st = store_prep(s, sql_idem_put);
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, token_id);
	store_bind_text(st, 2, key);
	store_bind_text(st, 3, method);
	store_bind_text(st, 4, path);
	store_bind_text(st, 5, body_sha256);
	sqlite3_bind_int(st, 6, status);
	store_bind_text(st, 7, response);
	sqlite3_bind_int64(st, 8, util_now_ms());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	return rc == SQLITE_CONSTRAINT_PRIMARYKEY ? 1 : -1;
}

/* ---- artifacts ---- */

static const char sql_art_insert[] =
    "INSERT OR IGNORE INTO artifacts (sha256, size, format, entries, unpacked, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?)";
static const char sql_art_exists[] = "SELECT count(*) FROM artifacts WHERE sha256 = ?";
static const char sql_art_get[] =
    "SELECT sha256, size, format, entries, unpacked, created_at FROM artifacts"
    " WHERE sha256 = ?";
static const char sql_art_list[] =
    "SELECT sha256, size, format, entries, unpacked, created_at FROM artifacts"
    " ORDER BY created_at DESC, sha256 LIMIT ? OFFSET ?";
static const char sql_art_count[] = "SELECT count(*) FROM artifacts";
static const char sql_art_projects[] =
    "SELECT p.name FROM projects p JOIN releases r ON r.id = p.release_id"
    " WHERE p.deleted_at IS NULL AND r.artifact = ? ORDER BY p.name";
static const char sql_art_tasks[] =
    "SELECT id FROM tasks WHERE artifact = ? AND state IN ('pending', 'running', 'paused')"
    " ORDER BY created_at";
static const char sql_art_releases[] = "SELECT count(*) FROM releases WHERE artifact = ?";
static const char sql_art_delete[] = "DELETE FROM artifacts WHERE sha256 = ?";

int store_artifact_insert(struct store *s, const struct store_artifact *a)
{
	sqlite3_stmt *st = store_prep(s, sql_art_insert);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, a->sha256);
	sqlite3_bind_int64(st, 2, a->size);
	store_bind_text(st, 3, a->format);
	sqlite3_bind_int64(st, 4, a->entries);
	sqlite3_bind_int64(st, 5, a->unpacked);
	sqlite3_bind_int64(st, 6, util_now_ms());
	if (store_step_done(st) < 0)
		return -1;
	return sqlite3_changes(store_db(s)) > 0 ? 1 : 0;
}

int store_artifact_exists(struct store *s, const char *sha256)
{
	int64_t n;

	if (count_by_text(s, sql_art_exists, sha256, &n) < 0)
		return -1;
	return n > 0 ? 1 : 0;
}

/* One column of text values of a query with one text parameter, as an array. */
static struct json_object *text_list(struct store *s, const char *sql, const char *arg)
{
	sqlite3_stmt *st = store_prep(s, sql);
	struct json_object *arr;
	int rc;

	if (st == NULL)
		return NULL;
	arr = json_object_new_array();
	store_bind_text(st, 1, arg);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_object_array_add(arr, col_str(st, 0));
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		json_object_put(arr);
		return NULL;
	}
	return arr;
}

static struct json_object *artifact_row(struct store *s, sqlite3_stmt *st)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "sha256", col_str(st, 0));
	json_object_object_add(o, "size", col_int(st, 1));
	json_object_object_add(o, "format", col_str(st, 2));
	json_object_object_add(o, "entries", col_int(st, 3));
	json_object_object_add(o, "unpacked", col_int(st, 4));
	json_object_object_add(o, "created_at", col_time(st, 5));
	return o;
}

/* Adds used_by to an artifact object (separate statements: st must be reset first). */
static int artifact_used_by(struct store *s, struct json_object *o)
{
	struct json_object *x, *u = json_object_new_object(), *p, *t;
	const char *sha;
	int64_t n;

	json_object_object_get_ex(o, "sha256", &x);
	sha = json_object_get_string(x);
	p = text_list(s, sql_art_projects, sha);
	t = text_list(s, sql_art_tasks, sha);
	json_object_object_add(u, "projects", p);
	json_object_object_add(u, "tasks", t);
	json_object_object_add(o, "used_by", u);
	if (p == NULL || t == NULL || count_by_text(s, sql_art_releases, sha, &n) < 0)
		return -1;
	json_object_object_add(u, "releases", json_object_new_int64(n));
	return 0;
}

int store_artifact_get(struct store *s, const char *sha256, struct json_object **out)
{
	sqlite3_stmt *st = store_prep(s, sql_art_get);
	struct json_object *o = NULL;
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, sha256);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		o = artifact_row(s, st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (o == NULL || artifact_used_by(s, o) < 0) {
		json_object_put(o);
		return -1;
	}
	*out = o;
	return 1;
}

int store_artifact_list(struct store *s, int limit, int offset, struct json_object **arr,
                        int64_t *total)
{
	sqlite3_stmt *st = store_prep(s, sql_art_list);
	int rc;

	if (st == NULL)
		return -1;
	*arr = json_object_new_array();
	sqlite3_bind_int(st, 1, limit);
	sqlite3_bind_int(st, 2, offset);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_object_array_add(*arr, artifact_row(s, st));
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || count_by_text(s, sql_art_count, NULL, total) < 0)
		goto fail;
	for (size_t i = 0; i < json_object_array_length(*arr); i++)
		if (artifact_used_by(s, json_object_array_get_idx(*arr, i)) < 0)
			goto fail;
	return 0;
fail:
	json_object_put(*arr);
	*arr = NULL;
	return -1;
}

int store_artifact_usage(struct store *s, const char *sha256, struct store_artifact_use *u)
{
	struct json_object *p, *t;
	int rc = -1;

	memset(u, 0, sizeof(*u));
	p = text_list(s, sql_art_projects, sha256);
	t = text_list(s, sql_art_tasks, sha256);
	if (p == NULL || t == NULL)
		goto done;
	u->projects = (int64_t)json_object_array_length(p);
	u->tasks = (int64_t)json_object_array_length(t);
	if (u->projects > 0)
		snprintf(u->project, sizeof(u->project), "%s",
		         json_object_get_string(json_object_array_get_idx(p, 0)));
	if (u->tasks > 0)
		snprintf(u->task, sizeof(u->task), "%s",
		         json_object_get_string(json_object_array_get_idx(t, 0)));
	rc = count_by_text(s, sql_art_releases, sha256, &u->releases);
done:
	json_object_put(p);
	json_object_put(t);
	return rc;
}

int store_artifact_delete(struct store *s, const char *sha256)
{
	sqlite3_stmt *st = store_prep(s, sql_art_delete);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, sha256);
	if (store_step_done(st) < 0)
		return -1;
	return sqlite3_changes(store_db(s)) > 0 ? 1 : 0;
}

/* ---- projects and releases ---- */

/*
 * A deleted project is back once a release was deployed after its deletion:
 * the handler only sets desired, and the runner clears deleted_at when it
 * applies that deploy (docs/architecture.md, "Commands").
 */
#define PROJ_LIVE                                                                                  \
	"(p.deleted_at IS NULL OR EXISTS (SELECT 1 FROM releases x WHERE x.project = p.name"       \
	" AND x.created_at >= p.deleted_at))"
static const char sql_proj_row[] =
    "SELECT p.name, coalesce(p.release_id, 0), coalesce(r.seq, 0), p.state, p.desired,"
    " coalesce(p.task_id, ''), coalesce(t.state, ''), NOT " PROJ_LIVE
    " FROM projects p LEFT JOIN releases r ON r.id = p.release_id"
    " LEFT JOIN tasks t ON t.id = p.task_id WHERE p.name = ?";
#define PROJ_COLS                                                                                  \
	"SELECT p.name, p.spec, p.release_id, r.seq, r.artifact, r.state, p.state,"                \
	" p.state_reason, p.desired, p.task_id, t.pid, t.started_at, t.state, p.restarts,"         \
	" p.backoff_until, u.cpu_pct, u.rss_bytes, p.created_at, p.updated_at,"                    \
	" lr.id, lr.seq, lr.state, lr.reason"                                                      \
	" FROM projects p LEFT JOIN releases r ON r.id = p.release_id"                             \
	" LEFT JOIN releases lr ON lr.id ="                                                        \
	" (SELECT id FROM releases WHERE project = p.name ORDER BY seq DESC LIMIT 1)"              \
	" LEFT JOIN tasks t ON t.id = p.task_id LEFT JOIN task_usage u ON u.task_id = p.task_id"   \
	" WHERE " PROJ_LIVE
static const char sql_proj_get[] = PROJ_COLS " AND p.name = ?";
static const char sql_proj_list[] = PROJ_COLS " ORDER BY p.name LIMIT ? OFFSET ?";
static const char sql_proj_count[] = "SELECT count(*) FROM projects p WHERE " PROJ_LIVE;
static const char sql_proj_ports[] = "SELECT name, port, fixed FROM ports WHERE project = ?"
                                     " ORDER BY name";
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
static const char sql_task_of[] = "SELECT count(*) FROM tasks WHERE id = ?1 AND project = ?2";

int store_project_row(struct store *s, const char *name, struct store_project *out)
{
	sqlite3_stmt *st = store_prep(s, sql_proj_row);
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		store_col_copy(st, 0, out->name, sizeof(out->name));
		out->release_id = sqlite3_column_int64(st, 1);
		out->release_seq = sqlite3_column_int64(st, 2);
		store_col_copy(st, 3, out->state, sizeof(out->state));
		store_col_copy(st, 4, out->desired, sizeof(out->desired));
		store_col_copy(st, 5, out->task_id, sizeof(out->task_id));
		store_col_copy(st, 6, out->task_state, sizeof(out->task_state));
		out->deleted = sqlite3_column_int(st, 7) != 0;
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* The release and the current run's figures of one projects row. */
static void project_run(sqlite3_stmt *st, struct json_object *o)
{
	const char *tstate = store_col_text(st, 12);
	bool live = strcmp(tstate, "running") == 0 || strcmp(tstate, "paused") == 0;
	struct json_object *rel = NULL;

	if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
		rel = json_object_new_object();
		json_object_object_add(rel, "id", col_int(st, 2));
		json_object_object_add(rel, "seq", col_int(st, 3));
		json_object_object_add(rel, "artifact", col_str(st, 4));
		json_object_object_add(rel, "state", col_str(st, 5));
	}
	json_object_object_add(o, "release", rel);
	json_object_object_add(o, "task_id", col_str(st, 9));
	json_object_object_add(o, "pid", live ? col_int(st, 10) : NULL);
	json_object_object_add(
	    o, "uptime_s",
	    live && sqlite3_column_type(st, 11) != SQLITE_NULL
	        ? json_object_new_int64((util_now_ms() - sqlite3_column_int64(st, 11)) / 1000)
	        : NULL);
	json_object_object_add(o, "restarts", col_int(st, 13));
	json_object_object_add(o, "backoff_until", col_time(st, 14));
	json_object_object_add(o, "cpu_pct",
	                       live && sqlite3_column_type(st, 15) != SQLITE_NULL
	                           ? json_object_new_double(sqlite3_column_double(st, 15))
	                           : NULL);
	json_object_object_add(o, "rss_bytes", live ? col_int(st, 16) : NULL);
}

/*
 * The newest deploy, which may not be the release that runs: a deploy still
 * extracting, or one that failed (with its reason) while the previous
 * release goes on. The 202 of a deploy points here, so it must show.
 */
static void project_latest(sqlite3_stmt *st, struct json_object *o)
{
	struct json_object *rel = NULL;

	if (sqlite3_column_type(st, 19) != SQLITE_NULL) {
		rel = json_object_new_object();
		json_object_object_add(rel, "id", col_int(st, 19));
		json_object_object_add(rel, "seq", col_int(st, 20));
		json_object_object_add(rel, "state", col_str(st, 21));
		json_object_object_add(rel, "reason", col_str(st, 22));
	}
	json_object_object_add(o, "latest_release", rel);
}

static struct json_object *project_row(sqlite3_stmt *st)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", col_str(st, 0));
	json_object_object_add(o, "spec", store_col_json(st, 1));
	json_object_object_add(o, "state", col_str(st, 6));
	json_object_object_add(o, "state_reason", col_str(st, 7));
	json_object_object_add(o, "desired", col_str(st, 8));
	project_run(st, o);
	project_latest(st, o);
	json_object_object_add(o, "created_at", col_time(st, 17));
	json_object_object_add(o, "updated_at", col_time(st, 18));
	return o;
}

/* ports as {"name": port}; a separate statement, so st of the caller is reset first. */
static int project_ports(struct store *s, struct json_object *o)
{
	sqlite3_stmt *st = store_prep(s, sql_proj_ports);
	struct json_object *ports = json_object_new_object(), *x;
	int rc;

	json_object_object_add(o, "ports", ports);
	if (st == NULL)
		return -1;
	json_object_object_get_ex(o, "name", &x);
	store_bind_text(st, 1, json_object_get_string(x));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_object_object_add(ports, store_col_text(st, 0), col_int(st, 1));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_project_get(struct store *s, const char *name, struct json_object **out)
{
	sqlite3_stmt *st = store_prep(s, sql_proj_get);
	struct json_object *o = NULL;
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		o = project_row(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (o == NULL || project_ports(s, o) < 0) {
		json_object_put(o);
		return -1;
	}
	*out = o;
	return 1;
}

int store_project_list(struct store *s, int limit, int offset, struct json_object **arr,
                       int64_t *total)
{
	sqlite3_stmt *st = store_prep(s, sql_proj_list);
	int rc;

	if (st == NULL)
		return -1;
	*arr = json_object_new_array();
	sqlite3_bind_int(st, 1, limit);
	sqlite3_bind_int(st, 2, offset);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_object_array_add(*arr, project_row(st));
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || count_by_text(s, sql_proj_count, NULL, total) < 0)
		goto fail;
	for (size_t i = 0; i < json_object_array_length(*arr); i++)
		if (project_ports(s, json_object_array_get_idx(*arr, i)) < 0)
			goto fail;
	return 0;
fail:
	json_object_put(*arr);
	*arr = NULL;
	return -1;
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

int store_task_of_project(struct store *s, const char *task_id, const char *project)
{
	sqlite3_stmt *st = store_prep(s, sql_task_of);
	int rc, n = 0;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, task_id);
	store_bind_text(st, 2, project);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? (n > 0) : -1;
}

/* ---- ports ---- */

static const char sql_port_holder[] = "SELECT project FROM ports WHERE port = ?";
static const char sql_ports_range[] =
    "SELECT port FROM ports WHERE port BETWEEN ? AND ? ORDER BY port";
static const char sql_ports_clear[] = "DELETE FROM ports WHERE project = ?";
static const char sql_port_add[] =
    "INSERT INTO ports (port, project, name, fixed) VALUES (?, ?, ?, ?)";

int store_ports_of(struct store *s, const char *project, struct store_port *out, size_t max,
                   size_t *n)
{
	sqlite3_stmt *st = store_prep(s, sql_proj_ports);
	int rc;

	if (st == NULL)
		return -1;
	*n = 0;
	store_bind_text(st, 1, project);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
		store_col_copy(st, 0, out[*n].name, sizeof(out[*n].name));
		out[*n].port = sqlite3_column_int(st, 1);
		out[(*n)++].fixed = sqlite3_column_int(st, 2) != 0;
	}
	sqlite3_reset(st);
	return (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : -1;
}

int store_port_holder(struct store *s, int port, char *project, size_t len)
{
	sqlite3_stmt *st = store_prep(s, sql_port_holder);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int(st, 1, port);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		store_col_copy(st, 0, project, len);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_ports_in_range(struct store *s, int lo, int hi, int *out, size_t max, size_t *n)
{
	sqlite3_stmt *st = store_prep(s, sql_ports_range);
	int rc;

	if (st == NULL)
		return -1;
	*n = 0;
	sqlite3_bind_int(st, 1, lo);
	sqlite3_bind_int(st, 2, hi);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max)
		out[(*n)++] = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : -1;
}

int store_ports_replace(struct store *s, const char *project, const struct store_port *ports,
                        size_t n)
{
	sqlite3_stmt *st = store_prep(s, sql_ports_clear);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, project);
	if (store_step_done(st) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		st = store_prep(s, sql_port_add);
		if (st == NULL)
			return -1;
		sqlite3_bind_int(st, 1, ports[i].port);
		store_bind_text(st, 2, project);
		store_bind_text(st, 3, ports[i].name);
		sqlite3_bind_int(st, 4, ports[i].fixed);
		if (store_step_done(st) < 0)
			return -1;
	}
	return 0;
}
