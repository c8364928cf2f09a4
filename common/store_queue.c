/* SPDX-License-Identifier: MIT */
/* The task queue's rows: adding queued tasks and the claim (see store_queue.h). */
#include "store_queue.h"

#include "store_sql.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "util.h"

static const char sql_add[] =
    "INSERT INTO tasks (id, kind, project, release_id, artifact, spec, parameters, labels,"
    " priority, timeout_s, max_steps, problem_id, retries, runs_on, state, created_at,"
    " updated_at) VALUES (?1, 'task', ?2, nullif(?3, 0), ?4, ?5, ?6, ?7, ?8, nullif(?9, 0),"
    " nullif(?10, 0), ?11, ?12, ?13, 'pending', ?14, ?14)";
static const char sql_dep[] = "INSERT OR IGNORE INTO task_deps (task_id, after_id) VALUES (?, ?)";

static int add_row(struct store *s, const struct store_new_task *t, int64_t now)
{
	sqlite3_stmt *st = store_prep(s, sql_add);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, t->id);
	store_bind_text(st, 2, t->project);
	sqlite3_bind_int64(st, 3, t->release_id);
	store_bind_text(st, 4, t->artifact);
	store_bind_text(st, 5, t->spec ? t->spec : "{}");
	store_bind_text(st, 6, t->parameters);
	store_bind_text(st, 7, t->labels);
	sqlite3_bind_int(st, 8, t->priority);
	sqlite3_bind_int64(st, 9, t->timeout_s);
	sqlite3_bind_int(st, 10, t->max_steps);
	store_bind_text(st, 11, t->problem_id);
	sqlite3_bind_int(st, 12, t->retries);
	store_bind_text(st, 13, t->external ? "external" : "internal");
	sqlite3_bind_int64(st, 14, now);
	return store_step_done(st);
}

int store_task_add(struct store *s, const struct store_new_task *t)
{
	struct json_object *d;
	sqlite3_stmt *st;
	int rc;

	if (add_row(s, t, util_now_ms()) < 0)
		return -1;
	for (size_t i = 0; i < t->nafter; i++) {
		if ((st = store_prep(s, sql_dep)) == NULL)
			return -1;
		store_bind_text(st, 1, t->id);
		store_bind_text(st, 2, t->after[i]);
		if (store_step_done(st) < 0)
			return -1;
	}
	d = json_object_new_object();
	json_object_object_add(d, "kind", json_object_new_string("task"));
	json_object_object_add(d, "priority", json_object_new_int(t->priority));
	json_object_object_add(d, "problem_id",
	                       t->problem_id ? json_object_new_string(t->problem_id) : NULL);
	rc = store_event_add(s, "task.created", t->id, t->project, "info", "task queued",
	                     json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN |
	                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(d);
	return rc;
}

/*
 * The best runnable task, taken in one statement: the subquery walks
 * tasks_claim (runs_on, priority DESC, created_at; pending rows only) and
 * stops at the first that is due, whose dependencies have all completed,
 * and that matches the claimer's globs.
 */
static const char sql_claim[] =
    "UPDATE tasks SET state = 'running', worker_id = ?1, attempts = attempts + 1,"
    " lease_until = CASE WHEN ?3 > 0 THEN ?2 + ?3 END, updated_at = ?2"
    " WHERE id = (SELECT t.id FROM tasks t WHERE t.state = 'pending' AND t.kind = 'task'"
    " AND t.runs_on = ?4 AND (t.not_before IS NULL OR t.not_before <= ?2)"
    " AND (?5 IS NULL OR json_array_length(?5) = 0 OR EXISTS (SELECT 1 FROM json_each(?5) g"
    " WHERE coalesce(t.problem_id, t.project, '') GLOB g.value))"
    " AND NOT EXISTS (SELECT 1 FROM task_deps d LEFT JOIN tasks a ON a.id = d.after_id"
    " WHERE d.task_id = t.id AND coalesce(a.state, '') <> 'completed')"
    " ORDER BY t.priority DESC, t.created_at LIMIT 1)"
    " RETURNING id, attempts, coalesce(project, ''), coalesce(lease_until, 0)";
static const char sql_attempt[] =
    "INSERT INTO task_attempts (task_id, attempt, worker_id, claimed_at) VALUES (?, ?, ?, ?)";

static int claim_row(struct store *s, const struct store_claim *c, int64_t now,
                     struct store_claimed *out, char project[64])
{
	sqlite3_stmt *st = store_prep(s, sql_claim);
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, c->worker_id);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, c->lease_ms);
	store_bind_text(st, 4, c->external ? "external" : "internal");
	store_bind_text(st, 5, c->problems);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		store_col_copy(st, 0, out->id, sizeof(out->id));
		out->attempt = sqlite3_column_int(st, 1);
		store_col_copy(st, 2, project, 64);
		out->lease_until = sqlite3_column_int64(st, 3);
		rc = sqlite3_step(st); /* to DONE: the statement is over before the next one */
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return -1;
	return out->id[0] != '\0';
}

/* The claim's attempt row and event, in its transaction. */
static int claim_record(struct store *s, const struct store_claim *c, int64_t now,
                        const struct store_claimed *out, const char *project)
{
	sqlite3_stmt *st = store_prep(s, sql_attempt);
	char msg[160], data[96];

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, out->id);
	sqlite3_bind_int(st, 2, out->attempt);
	store_bind_text(st, 3, c->worker_id);
	sqlite3_bind_int64(st, 4, now);
	if (store_step_done(st) < 0)
		return -1;
	snprintf(msg, sizeof(msg), "claimed by %.100s (attempt %d)", c->worker_id, out->attempt);
	snprintf(data, sizeof(data), "{\"attempt\":%d}", out->attempt);
	return store_event_add(s, "task.claimed", out->id, project[0] ? project : NULL, "info", msg,
	                       data);
}

int store_task_claim(struct store *s, const struct store_claim *c, struct store_claimed *out)
{
	int64_t now = c->now_ms > 0 ? c->now_ms : util_now_ms();
	char project[64] = "";
	int rc;

	memset(out, 0, sizeof(*out));
	if (store_begin(s) < 0)
		return -1;
	rc = claim_row(s, c, now, out, project);
	if (rc == 1 && claim_record(s, c, now, out, project) < 0)
		rc = -1;
	if (rc <= 0) {
		store_rollback(s);
		return rc;
	}
	return store_commit(s) < 0 ? -1 : 1;
}
