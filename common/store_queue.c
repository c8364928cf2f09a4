/* SPDX-License-Identifier: MIT */
/* The task queue's rows: adding queued tasks and the claim (see store_queue.h). */
#include "store_queue.h"

#include "store_sql.h"

#include <stdio.h>
#include <stdlib.h>
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
static const char sql_claim_id[] =
    "UPDATE tasks SET state = 'running', worker_id = ?1, attempts = attempts + 1,"
    " lease_until = CASE WHEN ?3 > 0 THEN ?2 + ?3 END, updated_at = ?2"
    " WHERE id = ?4 AND state = 'pending' AND kind = 'task'"
    " RETURNING id, attempts, coalesce(project, ''), coalesce(lease_until, 0)";
static const char sql_attempt[] =
    "INSERT INTO task_attempts (task_id, attempt, worker_id, claimed_at) VALUES (?, ?, ?, ?)";

static int claim_row(struct store *s, const struct store_claim *c, const char *id, int64_t now,
                     struct store_claimed *out, char project[64])
{
	sqlite3_stmt *st = store_prep(s, id ? sql_claim_id : sql_claim);
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, c->worker_id);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, c->lease_ms);
	if (id != NULL) {
		store_bind_text(st, 4, id);
	} else {
		store_bind_text(st, 4, c->external ? "external" : "internal");
		store_bind_text(st, 5, c->problems);
	}
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

static int claim(struct store *s, const char *id, const struct store_claim *c,
                 struct store_claimed *out)
{
	int64_t now = c->now_ms > 0 ? c->now_ms : util_now_ms();
	char project[64] = "";
	int rc;

	memset(out, 0, sizeof(*out));
	if (store_begin(s) < 0)
		return -1;
	rc = claim_row(s, c, id, now, out, project);
	if (rc == 1 && claim_record(s, c, now, out, project) < 0)
		rc = -1;
	if (rc <= 0) {
		store_rollback(s);
		return rc;
	}
	return store_commit(s) < 0 ? -1 : 1;
}

int store_task_claim(struct store *s, const struct store_claim *c, struct store_claimed *out)
{
	return claim(s, NULL, c, out);
}

int store_task_claim_id(struct store *s, const char *id, const struct store_claim *c,
                        struct store_claimed *out)
{
	return claim(s, id, c, out);
}

/* ---- reading queued tasks for the API ---- */

#define INFO_COLS                                                                                  \
	"id, kind, state, runs_on, project, problem_id, reason, worker_id, spec, parameters,"      \
	" labels, result, status, priority, retries, attempts, coalesce(max_steps, 0),"            \
	" steps_taken, coalesce(timeout_s, 0), exit_code, signal, killed, timed_out, oom,"         \
	" created_at, updated_at, coalesce(started_at, 0), coalesce(completed_at, 0)"
#define INFO_WHERE_REST                                                                            \
	" AND (?4 IS NULL OR project = ?4)"                                                         \
	" AND (?5 IS NULL OR problem_id = ?5) AND (?6 IS NULL OR worker_id = ?6)"                  \
	" AND (?7 IS NULL OR EXISTS (SELECT 1 FROM json_each(labels) l WHERE l.key = ?7"            \
	" AND l.value = ?8))"
/* any states (?3: a JSON array or NULL), or one state (?3: its name), which walks tasks_state_kind_created */
#define INFO_WHERE                                                                                 \
	" WHERE kind = 'task' AND (?3 IS NULL OR state IN (SELECT value FROM json_each(?3)))"       \
	INFO_WHERE_REST
#define INFO_WHERE_ONE " WHERE state = ?3 AND kind = 'task'" INFO_WHERE_REST
/* rowid breaks ties: it is in every index, so the order needs no sort */
#define INFO_ORDER     " ORDER BY created_at DESC, rowid DESC LIMIT ?1 OFFSET ?2"
static const char sql_info_get[] = "SELECT " INFO_COLS " FROM tasks WHERE id = ?1 AND kind = 'task'";
static const char sql_info_list[] = "SELECT " INFO_COLS " FROM tasks" INFO_WHERE INFO_ORDER;
static const char sql_info_list_one[] = "SELECT " INFO_COLS " FROM tasks" INFO_WHERE_ONE INFO_ORDER;
static const char sql_info_count[] = "SELECT count(*), ?1, ?2 FROM tasks" INFO_WHERE;
static const char sql_info_count_one[] = "SELECT count(*), ?1, ?2 FROM tasks" INFO_WHERE_ONE;
static const char sql_info_after[] = "SELECT after_id FROM task_deps WHERE task_id = ? ORDER BY 1";
static const char sql_info_tries[] =
    "SELECT attempt, worker_id, state, reason, exit_code, signal, claimed_at,"
    " coalesce(started_at, 0), coalesce(ended_at, 0) FROM task_attempts WHERE task_id = ?"
    " ORDER BY attempt";
static const char sql_exists[] = "SELECT count(*) FROM tasks WHERE id = ?";

static void read_info(sqlite3_stmt *st, void *row, void *arg)
{
	struct store_task_info *t = row;

	store_col_copy(st, 0, t->id, sizeof(t->id));
	store_col_copy(st, 1, t->kind, sizeof(t->kind));
	store_col_copy(st, 2, t->state, sizeof(t->state));
	store_col_copy(st, 3, t->runs_on, sizeof(t->runs_on));
	t->project = store_col_dup(st, 4);
	t->problem_id = store_col_dup(st, 5);
	t->reason = store_col_dup(st, 6);
	t->worker_id = store_col_dup(st, 7);
	t->spec = store_col_dup(st, 8);
	t->parameters = store_col_dup(st, 9);
	t->labels = store_col_dup(st, 10);
	t->result = store_col_dup(st, 11);
	t->status = store_col_dup(st, 12);
	t->priority = sqlite3_column_int(st, 13);
	t->retries = sqlite3_column_int(st, 14);
	t->attempts = sqlite3_column_int(st, 15);
	t->max_steps = sqlite3_column_int(st, 16);
	t->steps_taken = sqlite3_column_int(st, 17);
	t->timeout_s = sqlite3_column_int64(st, 18);
	t->has_code = sqlite3_column_type(st, 19) != SQLITE_NULL;
	t->exit_code = sqlite3_column_int(st, 19);
	t->has_signal = sqlite3_column_type(st, 20) != SQLITE_NULL;
	t->signal = sqlite3_column_int(st, 20);
	t->killed = sqlite3_column_int(st, 21) != 0;
	t->timed_out = sqlite3_column_int(st, 22) != 0;
	t->oom = sqlite3_column_int(st, 23) != 0;
	t->created_at = sqlite3_column_int64(st, 24);
	t->updated_at = sqlite3_column_int64(st, 25);
	t->started_at = sqlite3_column_int64(st, 26);
	t->completed_at = sqlite3_column_int64(st, 27);
}

static void read_after(sqlite3_stmt *st, void *row, void *arg)
{
	store_col_copy(st, 0, row, 40);
}

static void read_try(sqlite3_stmt *st, void *row, void *arg)
{
	struct store_attempt *a = row;

	a->attempt = sqlite3_column_int(st, 0);
	store_col_copy(st, 1, a->worker_id, sizeof(a->worker_id));
	store_col_copy(st, 2, a->state, sizeof(a->state));
	a->reason = store_col_dup(st, 3);
	a->has_code = sqlite3_column_type(st, 4) != SQLITE_NULL;
	a->exit_code = sqlite3_column_int(st, 4);
	a->has_signal = sqlite3_column_type(st, 5) != SQLITE_NULL;
	a->signal = sqlite3_column_int(st, 5);
	a->claimed_at = sqlite3_column_int64(st, 6);
	a->started_at = sqlite3_column_int64(st, 7);
	a->ended_at = sqlite3_column_int64(st, 8);
}

static void clear_try(void *row)
{
	free(((struct store_attempt *)row)->reason);
}

/* The task's dependencies and attempts (their own statements: the row's is reset first). */
static int info_more(struct store *s, void *row)
{
	struct store_task_info *t = row;
	sqlite3_stmt *st = store_prep(s, sql_info_after);
	void *arr = NULL;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, t->id);
	if (store_rows(st, 40, 0, read_after, NULL, NULL, &arr, &t->nafter) < 0)
		return -1;
	t->after = arr;
	if ((st = store_prep(s, sql_info_tries)) == NULL)
		return -1;
	store_bind_text(st, 1, t->id);
	if (store_rows(st, sizeof(struct store_attempt), 0, read_try, NULL, clear_try, &arr,
	               &t->ntries) < 0)
		return -1;
	t->tries = arr;
	return 0;
}

void store_task_info_clear(struct store_task_info *t)
{
	char **strs[] = {&t->project, &t->problem_id, &t->reason, &t->worker_id, &t->spec,
	                 &t->parameters, &t->labels, &t->result, &t->status};

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		free(*strs[i]);
	for (size_t i = 0; i < t->ntries; i++)
		clear_try(&t->tries[i]);
	free(t->tries);
	free(t->after);
	memset(t, 0, sizeof(*t));
}

void store_task_infos_free(struct store_task_info *arr, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_task_info_clear(&arr[i]);
	free(arr);
}

static void info_clear(void *row)
{
	store_task_info_clear(row);
}

int store_task_info_get(struct store *s, const char *id, struct store_task_info *out)
{
	sqlite3_stmt *st = store_prep(s, sql_info_get);
	int rc;

	memset(out, 0, sizeof(*out));
	if (st == NULL)
		return -1;
	store_bind_text(st, 1, id);
	rc = store_one(st, read_info, out);
	if (rc == 1 && info_more(s, out) < 0) {
		store_task_info_clear(out);
		return -1;
	}
	return rc;
}

static void bind_filter(sqlite3_stmt *st, const struct store_task_filter *f)
{
	store_bind_text(st, 3, f->state ? f->state : f->states);
	store_bind_text(st, 4, f->project);
	store_bind_text(st, 5, f->problem_id);
	store_bind_text(st, 6, f->worker_id);
	store_bind_text(st, 7, f->label_key);
	store_bind_text(st, 8, f->label_value);
}

int store_task_list(struct store *s, const struct store_task_filter *f,
                    struct store_task_info **arr, size_t *n, int64_t *total)
{
	sqlite3_stmt *st = store_prep(s, f->state ? sql_info_list_one : sql_info_list);
	void *rows = NULL;

	*arr = NULL;
	*n = 0;
	if (st == NULL || f->limit < 1)
		return -1;
	sqlite3_bind_int(st, 1, f->limit);
	sqlite3_bind_int(st, 2, f->offset);
	bind_filter(st, f);
	if (store_rows(st, sizeof(**arr), (size_t)f->limit, read_info, NULL, info_clear, &rows, n) <
	    0)
		return -1;
	*arr = rows;
	for (size_t i = 0; i < *n; i++)
		if (info_more(s, &(*arr)[i]) < 0)
			goto fail;
	if ((st = store_prep(s, f->state ? sql_info_count_one : sql_info_count)) == NULL)
		goto fail;
	sqlite3_bind_null(st, 1);
	sqlite3_bind_null(st, 2);
	bind_filter(st, f);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		goto fail;
	}
	*total = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
fail:
	store_task_infos_free(*arr, *n);
	*arr = NULL;
	*n = 0;
	return -1;
}

int store_tasks_exist(struct store *s, const char *const *ids, size_t n, const char **missing)
{
	*missing = NULL;
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *st = store_prep(s, sql_exists);
		int rc;
		if (st == NULL)
			return -1;
		store_bind_text(st, 1, ids[i]);
		if ((rc = store_nonzero(st)) < 0)
			return -1;
		if (rc == 0) {
			*missing = ids[i];
			return 0;
		}
	}
	return 1;
}

/* ---- what a task's end means for others ---- */

static const char sql_cancel_waiting[] =
    "UPDATE tasks SET state = 'cancelled', reason = ?2, completed_at = ?3, updated_at = ?3"
    " WHERE state = 'pending' AND id IN (SELECT task_id FROM task_deps WHERE after_id = ?1)"
    " RETURNING id, coalesce(project, '')";

struct cancelled {
	char id[40], project[64];
};

static void read_cancelled(sqlite3_stmt *st, void *row, void *arg)
{
	struct cancelled *c = row;

	store_col_copy(st, 0, c->id, sizeof(c->id));
	store_col_copy(st, 1, c->project, sizeof(c->project));
}

/* The tasks that wait for one id: cancelled, each with its event; appended to *all. */
static int cancel_waiting(struct store *s, const char *id, const char *state,
                          struct cancelled **all, size_t *n)
{
	sqlite3_stmt *st = store_prep(s, sql_cancel_waiting);
	struct cancelled *got = NULL;
	char why[160];
	size_t k = 0;
	void *grown;

	if (st == NULL)
		return -1;
	snprintf(why, sizeof(why), "task %.40s it waits for ended %.20s, not completed", id, state);
	store_bind_text(st, 1, id);
	store_bind_text(st, 2, why);
	sqlite3_bind_int64(st, 3, util_now_ms());
	if (store_rows(st, sizeof(*got), 0, read_cancelled, NULL, NULL, (void **)&got, &k) < 0)
		return -1;
	for (size_t i = 0; i < k; i++)
		if (store_event_add(s, "task.cancelled", got[i].id,
		                    got[i].project[0] ? got[i].project : NULL, "info", why, NULL) < 0)
			goto fail;
	if (k == 0)
		return 0;
	if ((grown = realloc(*all, (*n + k) * sizeof(**all))) == NULL)
		goto fail;
	*all = grown;
	memcpy(*all + *n, got, k * sizeof(*got));
	*n += k;
	free(got);
	return 0;
fail:
	free(got);
	return -1;
}

/* The dependents' cancel in the caller's transaction: how many, or -1. */
static int cancel_dependents_in(struct store *s, const char *id, const char *state)
{
	struct cancelled *all = NULL;
	size_t n = 0;
	int rc = cancel_waiting(s, id, state, &all, &n);

	/* breadth first: the list grows while it is walked */
	for (size_t i = 0; rc == 0 && i < n; i++) {
		char cur[40]; /* all may move while it grows */
		snprintf(cur, sizeof(cur), "%s", all[i].id);
		rc = cancel_waiting(s, cur, "cancelled", &all, &n);
	}
	free(all);
	return rc < 0 ? -1 : (int)n;
}

int store_tasks_cancel_dependents(struct store *s, const char *id, const char *state)
{
	int n;

	if (store_begin(s) < 0)
		return -1;
	n = cancel_dependents_in(s, id, state);
	if (store_finish(s, n < 0 ? -1 : 0) < 0)
		return -1;
	return n;
}

/*
 * Steps a bound UPDATE of one task ending in RETURNING coalesce(project, '')
 * and resets it: 1 it changed (its project, "" for none, into project), 0
 * no row matched, -1 error.
 */
static int step_task_update(sqlite3_stmt *st, char project[64])
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		store_col_copy(st, 0, project, 64);
		rc = sqlite3_step(st) == SQLITE_DONE ? 1 : -1;
	} else {
		rc = rc == SQLITE_DONE ? 0 : -1;
	}
	sqlite3_reset(st);
	return rc;
}

/* The event of a change of one task, in the change's transaction. */
static int task_event(struct store *s, const char *type, const char *id, const char *project,
                      const char *level, const char *why)
{
	return store_event_add(s, type, id, project[0] ? project : NULL, level, why, NULL);
}

static const char sql_cancel_pending[] =
    "UPDATE tasks SET state = 'cancelled', reason = ?2, completed_at = ?3, updated_at = ?3"
    " WHERE id = ?1 AND state = 'pending' AND kind = 'task' RETURNING coalesce(project, '')";

int store_task_cancel_pending(struct store *s, const char *id, const char *why)
{
	sqlite3_stmt *st = store_prep(s, sql_cancel_pending);
	char project[64] = "";
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, id);
	store_bind_text(st, 2, why);
	sqlite3_bind_int64(st, 3, util_now_ms());
	if ((rc = step_task_update(st, project)) <= 0)
		return rc; /* 0: claimed (or ended) meanwhile */
	if (task_event(s, "task.cancelled", id, project, "info", why) < 0 ||
	    cancel_dependents_in(s, id, "cancelled") < 0)
		return -1;
	return 1;
}



/* ---- claims that never became runs ---- */

static const char sql_unspawned[] =
    "SELECT id FROM tasks WHERE kind = 'task' AND state = 'running'"
    " AND substr(worker_id, 1, length(?1)) = ?1 AND shim_pid IS NULL ORDER BY id";
static const char sql_unclaim[] =
    "UPDATE tasks SET state = 'pending', worker_id = NULL, lease_until = NULL, updated_at = ?2"
    " WHERE id = ?1 AND state = 'running' AND shim_pid IS NULL RETURNING coalesce(project, '')";
static const char sql_attempt_lost[] =
    "UPDATE task_attempts SET state = 'lost', reason = ?2, ended_at = ?3 WHERE task_id = ?1"
    " AND attempt = (SELECT attempts FROM tasks WHERE id = ?1) AND ended_at IS NULL";

static void read_id(sqlite3_stmt *st, void *row, void *arg)
{
	store_col_copy(st, 0, row, 40);
}

int store_tasks_claimed_unspawned(struct store *s, const char *prefix, char (**ids)[40],
                                  size_t *n)
{
	sqlite3_stmt *st = store_prep(s, sql_unspawned);
	void *arr = NULL;

	*ids = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	store_bind_text(st, 1, prefix);
	if (store_rows(st, 40, 0, read_id, NULL, NULL, &arr, n) < 0)
		return -1;
	*ids = arr;
	return 0;
}

int store_task_unclaim(struct store *s, const char *id, const char *why)
{
	sqlite3_stmt *st;
	char project[64] = "";
	int64_t now = util_now_ms();
	int rc = -1;

	if (store_begin(s) < 0 || (st = store_prep(s, sql_unclaim)) == NULL)
		return store_finish(s, -1);
	store_bind_text(st, 1, id);
	sqlite3_bind_int64(st, 2, now);
	/* 0: not claimed-and-unspawned any more, nothing to do */
	if ((rc = step_task_update(st, project)) <= 0)
		return store_finish(s, rc);
	rc = -1;
	if ((st = store_prep(s, sql_attempt_lost)) != NULL) {
		store_bind_text(st, 1, id);
		store_bind_text(st, 2, why);
		sqlite3_bind_int64(st, 3, now);
		rc = store_step_done(st);
	}
	if (rc == 0)
		rc = task_event(s, "task.requeued", id, project, "warn", why);
	return store_finish(s, rc);
}

static const char sql_retry[] =
    "UPDATE tasks SET state = 'pending', not_before = ?2, worker_id = NULL, lease_until = NULL,"
    " pid = NULL, shim_pid = NULL, cgroup = NULL, completed_at = NULL, updated_at = ?3"
    " WHERE id = ?1 AND state = 'failed' RETURNING coalesce(project, '')";

int store_task_retry(struct store *s, const char *id, int64_t not_before, const char *why)
{
	sqlite3_stmt *st;
	char project[64] = "";
	int rc = -1;

	if (store_begin(s) < 0)
		return -1;
	if ((st = store_prep(s, sql_retry)) == NULL)
		return store_finish(s, -1);
	store_bind_text(st, 1, id);
	sqlite3_bind_int64(st, 2, not_before);
	sqlite3_bind_int64(st, 3, util_now_ms());
	/* 0: not failed any more (a cancel came first): nothing to retry */
	if ((rc = step_task_update(st, project)) == 1)
		rc = task_event(s, "task.retrying", id, project, "warn", why);
	return store_finish(s, rc);
}

static const char sql_slot_tasks[] =
    "SELECT worker_id, id FROM tasks WHERE state IN ('running', 'paused') AND kind = 'task'"
    " AND worker_id LIKE 'internal-%' AND worker_id <> 'internal-inject' ORDER BY worker_id";

static void read_slot_task(sqlite3_stmt *st, void *row, void *arg)
{
	struct store_slot_task *t = row;

	store_col_copy(st, 0, t->worker_id, sizeof(t->worker_id));
	store_col_copy(st, 1, t->task_id, sizeof(t->task_id));
}

int store_slot_tasks(struct store *s, struct store_slot_task **out, size_t *n)
{
	sqlite3_stmt *st = store_prep(s, sql_slot_tasks);
	void *arr = NULL;

	*out = NULL;
	*n = 0;
	if (st == NULL || store_rows(st, sizeof(**out), 0, read_slot_task, NULL, NULL, &arr, n) < 0)
		return -1;
	*out = arr;
	return 0;
}

int store_slots_get(struct store *s, const struct store_slots *dflt, struct store_slots *out)
{
	char v[16];
	long n;
	int a, b;

	*out = *dflt;
	if ((a = store_agent_get(s, "internal.running", v, sizeof(v))) == 1)
		out->running = strcmp(v, "false") != 0;
	if ((b = store_agent_get(s, "internal.slots", v, sizeof(v))) == 1 &&
	    (n = strtol(v, NULL, 10)) >= 0 && n <= STORE_SLOTS_MAX)
		out->count = (int)n;
	return a < 0 || b < 0 ? -1 : 0;
}
