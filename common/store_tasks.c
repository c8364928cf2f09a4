/* SPDX-License-Identifier: MIT */
/*
 * Task rows that both daemons create: the handler on deploy and rollback,
 * the runner on each restart of a project. Handler-only and runner-only task
 * queries stay in store_api.c and store_run.c.
 */
#include "store_sql.h"

#include "util.h"

static const char sql_task_add[] =
    "INSERT INTO tasks (id, kind, project, release_id, artifact, spec, state, created_at,"
    " updated_at) VALUES (?1, 'service', ?2, ?3, ?4, ?5, 'pending', ?6, ?6)";

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
	return store_step_done(st);
}
