/* SPDX-License-Identifier: MIT */
/*
 * Task rows that both daemons create: the handler on deploy and rollback,
 * the runner on each restart of a project, each with its task.created
 * event, and the handlers' check that a task belongs to a project. The
 * runner's own task queries stay in store_run.c.
 */
#include "store.h"
#include "store_sql.h"

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
