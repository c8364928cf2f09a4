/* SPDX-License-Identifier: MIT */
/*
 * The idempotency_keys table (see store_idem.h).
 */
#include "store_idem.h"

#include <stdlib.h>
#include <string.h>

#include "store_sql.h"
#include "util.h"

static const char sql_idem_get[] =
    "SELECT method, path, body_sha256, status, response FROM idempotency_keys"
    " WHERE token_id = ? AND key = ?";
static const char sql_idem_put[] =
    "INSERT INTO idempotency_keys (token_id, key, method, path, body_sha256, status, response,"
    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";

void store_idem_clear(struct store_idem *row)
{
	free(row->response);
	row->response = NULL;
}

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
