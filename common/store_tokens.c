/* SPDX-License-Identifier: MIT */
/*
 * API tokens: inserted, found by the SHA-256 of the presented token,
 * listed and revoked. The plain token never reaches the database.
 */
#include "store_tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sql.h"
#include "util.h"

static const char sql_insert[] =
    "INSERT INTO tokens (id, name, hash, scopes, created_at) VALUES (?, ?, ?, ?, ?)";
static const char sql_find[] =
    "SELECT id, name, scopes, created_at, coalesce(last_used_at, 0) FROM tokens"
    " WHERE hash = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)";
static const char sql_touch[] = "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1"
                                " AND (last_used_at IS NULL OR last_used_at < ?2 - 60000)";
/* the total rides along (count over the whole filtered set, before LIMIT) */
static const char sql_list[] =
    "SELECT id, name, scopes, created_at, last_used_at, count(*) OVER () FROM tokens"
    " WHERE revoked_at IS NULL ORDER BY created_at DESC, id LIMIT ? OFFSET ?";
static const char sql_count[] = "SELECT count(*) FROM tokens WHERE revoked_at IS NULL";
static const char sql_get[] = "SELECT id, name, scopes, created_at, last_used_at FROM tokens"
                              " WHERE id = ? AND revoked_at IS NULL";
static const char sql_revoke[] =
    "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL";

int store_token_insert(struct store *s, const char *id, const char *name, const char *hash,
                       const char *scopes)
{
	sqlite3_stmt *st = store_prep(s, sql_insert);
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, id);
	store_bind_text(st, 2, name);
	store_bind_text(st, 3, hash);
	store_bind_text(st, 4, scopes);
	sqlite3_bind_int64(st, 5, util_now_ms());
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_token_find(struct store *s, const char *hash, struct store_token *out)
{
	sqlite3_stmt *st = store_prep(s, sql_find);
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, hash);
	sqlite3_bind_int64(st, 2, util_now_ms());
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(out->id, sizeof(out->id), "%s", store_col_text(st, 0));
		snprintf(out->name, sizeof(out->name), "%s", store_col_text(st, 1));
		snprintf(out->scopes, sizeof(out->scopes), "%s", store_col_text(st, 2));
		out->created_at = sqlite3_column_int64(st, 3);
		out->last_used_at = sqlite3_column_int64(st, 4);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

bool store_token_touch_due(const struct store_token *t)
{
	return t->last_used_at == 0 || util_now_ms() - t->last_used_at >= 60000;
}

int store_token_touch(struct store *s, const struct store_token *t)
{
	int64_t now = util_now_ms();
	sqlite3_stmt *st;
	int rc;

	if (!store_token_touch_due(t))
		return 0;
	st = store_prep(s, sql_touch);
	if (st == NULL)
		return -1;
	store_bind_text(st, 1, t->id);
	sqlite3_bind_int64(st, 2, now);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void read_token(sqlite3_stmt *st, struct store_token *out)
{
	memset(out, 0, sizeof(*out));
	store_col_copy(st, 0, out->id, sizeof(out->id));
	store_col_copy(st, 1, out->name, sizeof(out->name));
	store_col_copy(st, 2, out->scopes, sizeof(out->scopes));
	out->created_at = sqlite3_column_int64(st, 3);
	out->last_used_at = sqlite3_column_int64(st, 4); /* NULL reads as 0: never */
}

static void token_of(sqlite3_stmt *st, void *row, void *arg)
{
	read_token(st, row);
}

int store_token_get(struct store *s, const char *id, struct store_token *out)
{
	sqlite3_stmt *st = store_prep(s, sql_get);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, id);
	return store_one(st, token_of, out);
}

/* A row of the list also carries the total (a window function), read on the way. */
static void listed_token(sqlite3_stmt *st, void *row, void *arg)
{
	*(int64_t *)arg = sqlite3_column_int64(st, 5);
	read_token(st, row);
}

int store_token_list(struct store *s, int limit, int offset, struct store_token **arr, size_t *n,
                     int64_t *total)
{
	sqlite3_stmt *st = store_prep(s, sql_list);

	*arr = NULL;
	*n = 0;
	*total = -1;
	if (st == NULL || limit < 1)
		return -1;
	sqlite3_bind_int(st, 1, limit);
	sqlite3_bind_int(st, 2, offset);
	if (store_rows(st, sizeof(**arr), (size_t)limit, listed_token, total, NULL, (void **)arr,
	               n) < 0)
		return -1;
	/* no row on this page: the total needs its own count */
	if (*total < 0 && store_count(s, sql_count, NULL, total) < 0) {
		free(*arr);
		*arr = NULL;
		*n = 0;
		return -1;
	}
	return 0;
}

int store_token_revoke(struct store *s, const char *id)
{
	sqlite3_stmt *st = store_prep(s, sql_revoke);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, util_now_ms());
	store_bind_text(st, 2, id);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return -1;
	return sqlite3_changes(store_db(s)) > 0 ? 1 : 0;
}
