/* SPDX-License-Identifier: MIT */
/*
 * The runner's liveness row, the agent's switches (draining, ...) and the
 * counts /health and /ready report.
 */
#include "store.h"
#include "store_sql.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

static const char sql_start[] =
    "INSERT INTO runner (id, pid, version, started_at, heartbeat_at, loop_lag_ms, kill_mode,"
    " limits, stopped_at) VALUES (1, ?1, ?2, ?3, ?3, 0, ?4, ?5, NULL)"
    " ON CONFLICT (id) DO UPDATE SET pid = ?1, version = ?2, started_at = ?3,"
    " heartbeat_at = ?3, loop_lag_ms = 0, kill_mode = ?4, limits = ?5, stopped_at = NULL";
static const char sql_beat[] = "UPDATE runner SET heartbeat_at = ?, loop_lag_ms = ? WHERE id = 1";
static const char sql_stopped[] = "UPDATE runner SET stopped_at = ? WHERE id = 1";
static const char sql_get[] =
    "SELECT pid, version, kill_mode, started_at, heartbeat_at, coalesce(stopped_at, 0),"
    " loop_lag_ms, limits FROM runner WHERE id = 1";
static const char sql_agent_get[] = "SELECT value FROM agent_state WHERE key = ?";
static const char sql_agent_set[] = "INSERT INTO agent_state (key, value) VALUES (?1, ?2)"
                                    " ON CONFLICT (key) DO UPDATE SET value = ?2";
static const char sql_counts[] =
    "SELECT"
    " (SELECT count(*) FROM tasks WHERE kind = 'task' AND state = 'pending'),"
    " (SELECT count(*) FROM tasks WHERE state = 'running'),"
    " (SELECT count(*) FROM tasks WHERE state = 'paused'),"
    " (SELECT count(*) FROM tasks WHERE kind = 'task' AND state = 'completed'),"
    " (SELECT count(*) FROM tasks WHERE kind = 'task' AND state IN ('failed', 'timeout')),"
    " (SELECT count(*) FROM workers),"
    " (SELECT count(*) FROM workers WHERE status = 'idle'),"
    " (SELECT count(*) FROM workers WHERE status = 'busy'),"
    " (SELECT count(*) FROM workers WHERE status = 'offline'),"
    " (SELECT count(*) FROM projects WHERE deleted_at IS NULL AND state = 'running')";

int store_runner_start(struct store *s, int pid, const char *version, const char *kill_mode,
                       const char *limits)
{
	sqlite3_stmt *st = store_prep(s, sql_start);

	if (st == NULL)
		return -1;
	sqlite3_bind_int(st, 1, pid);
	store_bind_text(st, 2, version);
	sqlite3_bind_int64(st, 3, util_now_ms());
	store_bind_text(st, 4, kill_mode);
	store_bind_text(st, 5, limits);
	return store_step_done(st);
}

int store_runner_beat(struct store *s, double loop_lag_ms)
{
	sqlite3_stmt *st = store_prep(s, sql_beat);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, util_now_ms());
	sqlite3_bind_double(st, 2, loop_lag_ms);
	return store_step_done(st);
}

int store_runner_stopped(struct store *s)
{
	sqlite3_stmt *st = store_prep(s, sql_stopped);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, util_now_ms());
	return store_step_done(st);
}

int store_runner_get(struct store *s, struct store_runner *out)
{
	sqlite3_stmt *st = store_prep(s, sql_get);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		out->pid = sqlite3_column_int(st, 0);
		snprintf(out->version, sizeof(out->version), "%s", store_col_text(st, 1));
		snprintf(out->kill_mode, sizeof(out->kill_mode), "%s", store_col_text(st, 2));
		out->started_at = sqlite3_column_int64(st, 3);
		out->heartbeat_at = sqlite3_column_int64(st, 4);
		out->stopped_at = sqlite3_column_int64(st, 5);
		out->loop_lag_ms = sqlite3_column_double(st, 6);
		snprintf(out->limits, sizeof(out->limits), "%s", store_col_text(st, 7));
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_agent_get(struct store *s, const char *key, char *buf, size_t len)
{
	sqlite3_stmt *st = store_prep(s, sql_agent_get);
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(buf, len, "%s", store_col_text(st, 0));
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_agent_set(struct store *s, const char *key, const char *value)
{
	return store_exec_text2(s, sql_agent_set, key, value);
}

int store_counts(struct store *s, struct store_counts *out)
{
	sqlite3_stmt *st = store_prep(s, sql_counts);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int64_t *f[] = {&out->pending,         &out->running,      &out->paused,
		                &out->completed,       &out->failed,       &out->workers_total,
		                &out->workers_idle,    &out->workers_busy, &out->workers_offline,
		                &out->projects_running};
		for (int i = 0; i < (int)ARRAY_SIZE(f); i++)
			*f[i] = sqlite3_column_int64(st, i);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : -1;
}
