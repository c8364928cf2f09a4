/* SPDX-License-Identifier: MIT */
/*
 * The event log every state change is written to (SSE and webhooks read it).
 */
#include "store.h"
#include "store_sql.h"

#include "util.h"

static const char sql_add[] =
    "INSERT INTO events (ts, type, task_id, project, level, message, data)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)";

int store_event_add(struct store *s, const char *type, const char *task_id, const char *project,
                    const char *level, const char *message, const char *data)
{
	sqlite3_stmt *st = store_prep(s, sql_add);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, util_now_ms());
	store_bind_text(st, 2, type);
	store_bind_text(st, 3, task_id);
	store_bind_text(st, 4, project);
	store_bind_text(st, 5, level ? level : "info");
	store_bind_text(st, 6, message);
	store_bind_text(st, 7, data);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_event_write(struct store *s, const struct store_event *ev)
{
	if (ev == NULL)
		return 0;
	return store_event_add(s, ev->type, ev->task_id, ev->project, ev->level, ev->message,
	                       ev->data);
}
