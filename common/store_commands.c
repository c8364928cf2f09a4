/* SPDX-License-Identifier: MIT */
/*
 * The command log: handlers append desired changes, the runner takes them
 * in id order and records how each ended. Events live in store_events.c.
 */
#include "store.h"
#include "store_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char sql_add[] = "INSERT INTO commands (kind, target, payload, request_id, created_at)"
                              " VALUES (?, ?, ?, ?, ?)";
static const char sql_next[] =
    "SELECT id, kind, target, payload, state, result, reason, created_at FROM commands"
    " WHERE state = 'pending' AND id > ? ORDER BY id LIMIT 1";
static const char sql_get[] =
    "SELECT id, kind, target, payload, state, result, reason, created_at FROM commands"
    " WHERE id = ?";
static const char sql_set[] =
    "UPDATE commands SET state = ?2, result = ?3, reason = ?4,"
    " applied_at = CASE WHEN ?2 IN ('applied', 'failed') THEN ?5 ELSE applied_at END"
    " WHERE id = ?1 AND state IN ('pending', 'running')"; /* settled is final */
static const char sql_requeue[] = "UPDATE commands SET state = 'pending' WHERE state = 'running'";

int store_command_add(struct store *s, const char *kind, const char *target, const char *payload,
                      const char *request_id, int64_t *id)
{
	sqlite3_stmt *st = store_prep(s, sql_add);
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, kind);
	store_bind_text(st, 2, target);
	store_bind_text(st, 3, payload);
	store_bind_text(st, 4, request_id);
	sqlite3_bind_int64(st, 5, util_now_ms());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return -1;
	if (id != NULL)
		*id = sqlite3_last_insert_rowid(store_db(s));
	return 0;
}

void store_command_clear(struct store_command *c)
{
	free(c->payload);
	free(c->result);
	memset(c, 0, sizeof(*c));
}

static int read_row(sqlite3_stmt *st, struct store_command *out)
{
	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(st, 0);
	snprintf(out->kind, sizeof(out->kind), "%s", store_col_text(st, 1));
	snprintf(out->target, sizeof(out->target), "%s", store_col_text(st, 2));
	out->payload = store_col_dup(st, 3);
	snprintf(out->state, sizeof(out->state), "%s", store_col_text(st, 4));
	out->result = store_col_dup(st, 5);
	snprintf(out->reason, sizeof(out->reason), "%s", store_col_text(st, 6));
	out->created_at = sqlite3_column_int64(st, 7);
	return 1;
}

static int fetch_one(struct store *s, const char *sql, int64_t arg, struct store_command *out)
{
	sqlite3_stmt *st = store_prep(s, sql);
	int rc, ret;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, arg);
	rc = sqlite3_step(st);
	ret = rc == SQLITE_ROW ? read_row(st, out) : rc == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	return ret;
}

int store_command_next(struct store *s, int64_t after, struct store_command *out)
{
	return fetch_one(s, sql_next, after, out);
}

int store_command_get(struct store *s, int64_t id, struct store_command *out)
{
	return fetch_one(s, sql_get, id, out);
}

int store_command_set(struct store *s, int64_t id, const char *state, const char *result,
                      const char *reason)
{
	sqlite3_stmt *st = store_prep(s, sql_set);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	store_bind_text(st, 2, state);
	store_bind_text(st, 3, result);
	store_bind_text(st, 4, reason);
	sqlite3_bind_int64(st, 5, util_now_ms());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_command_requeue(struct store *s)
{
	sqlite3_stmt *st = store_prep(s, sql_requeue);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? sqlite3_changes(store_db(s)) : -1;
}

static const char sql_later_launch[] =
    "SELECT count(*) FROM commands WHERE target = ?1 AND id > ?2 AND state IN ('pending', "
    "'running')"
    " AND kind IN ('project.start', 'project.restart', 'project.deploy', 'project.rollback')";

int store_command_later_launch(struct store *s, const char *project, int64_t after)
{
	sqlite3_stmt *st = store_prep(s, sql_later_launch);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, project);
	sqlite3_bind_int64(st, 2, after);
	return store_nonzero(st);
}

static const char sql_open_for[] =
    "SELECT count(*) FROM commands WHERE target = ?"
    " AND kind IN ('project.deploy', 'project.rollback') AND state IN ('pending', 'running')";

int store_command_open_for(struct store *s, const char *project)
{
	int64_t n;

	if (store_count(s, sql_open_for, project, &n) < 0)
		return -1;
	return n > 0;
}
