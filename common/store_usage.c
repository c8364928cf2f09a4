/* SPDX-License-Identifier: MIT */
/*
 * The runner's one-second samples of each running job's tree and of the
 * host (task_usage, host_usage), written in one transaction, so that reads
 * never wait for a second sample to compute a CPU percentage.
 */
#include "store_usage.h"

#include "store_sql.h"
#include "util.h"

static const char sql_task_usage[] =
    "INSERT INTO task_usage (task_id, sampled_at, cpu_pct, rss_bytes, threads, fds, procs)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (task_id) DO UPDATE SET"
    " sampled_at = ?2, cpu_pct = ?3, rss_bytes = ?4, threads = ?5, fds = ?6, procs = ?7";
static const char sql_host_usage[] =
    "INSERT INTO host_usage (id, sampled_at, cpu_pct, avg1, avg5, avg15)"
    " VALUES (1, ?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO UPDATE SET"
    " sampled_at = ?1, cpu_pct = ?2, avg1 = ?3, avg5 = ?4, avg15 = ?5";

static int usage_row(struct store *s, const struct store_usage *u, int64_t now)
{
	sqlite3_stmt *st = store_prep(s, sql_task_usage);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, u->task_id);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_double(st, 3, u->cpu_pct);
	sqlite3_bind_int64(st, 4, (int64_t)u->rss_bytes);
	sqlite3_bind_int64(st, 5, u->threads);
	if (u->fds >= 0)
		sqlite3_bind_int(st, 6, u->fds);
	sqlite3_bind_int(st, 7, u->procs);
	return store_step_done(st);
}

int store_usage_write(struct store *s, const struct store_usage *u, size_t n, double host_pct,
                      double avg1, double avg5, double avg15)
{
	int64_t now = util_now_ms();
	sqlite3_stmt *st;

	if (store_begin(s) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (usage_row(s, &u[i], now) < 0)
			goto fail;
	st = store_prep(s, sql_host_usage);
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_double(st, 2, host_pct);
	sqlite3_bind_double(st, 3, avg1);
	sqlite3_bind_double(st, 4, avg5);
	sqlite3_bind_double(st, 5, avg15);
	if (store_step_done(st) < 0)
		goto fail;
	return store_commit(s);
fail:
	store_rollback(s);
	return -1;
}
