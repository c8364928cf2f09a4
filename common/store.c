/* SPDX-License-Identifier: MIT */
/*
 * Opening the database, migrations and the prepared-statement cache. Domain
 * queries live beside this file in store_<domain>.c; nothing outside the
 * store module builds SQL.
 */
#include "store.h"
#include "store_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "log.h"
#include "schema.h" /* store_migrations[], from common/migrations/NNNN_*.sql */
#include "util.h"

#define STMT_CACHE 256

struct stmt_slot {
	const char *sql;
	sqlite3_stmt *st;
};

struct store {
	sqlite3 *db;
	struct stmt_slot cache[STMT_CACHE];
};

sqlite3 *store_db(struct store *s)
{
	return s->db;
}

static int exec_sql(struct store *s, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(s->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int user_version(struct store *s)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/*
 * WAL lets handlers read while the runner writes. Switching a new file to
 * WAL takes an exclusive lock, and when two processes create the file at
 * once SQLite refuses one of them at once (SQLITE_BUSY without calling the
 * busy handler: waiting could deadlock). By then the other one is making the
 * file WAL, after which the switch is a no-op: so try again for a while.
 */
static int wal_mode(struct store *s, char *err, size_t errlen)
{
	int rc = SQLITE_BUSY;

	for (int i = 0; i < 500 && (rc & 0xff) == SQLITE_BUSY; i++) {
		if (i > 0)
			sqlite3_sleep(10);
		rc = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "PRAGMA journal_mode=WAL: %s", sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

/*
 * Applies store_migrations[v..] (index i brings user_version from i to
 * i + 1) in one transaction. Both daemons and every handler worker may open
 * the file at once: the version is re-read inside BEGIN IMMEDIATE so only
 * one of them migrates. A version newer than this build is refused.
 */
static int migrate(struct store *s, char *err, size_t errlen)
{
	int v, target = (int)ARRAY_SIZE(store_migrations);
	char sql[64], msg[256];

	if (user_version(s) == target)
		return 0;
	if (exec_sql(s, "BEGIN IMMEDIATE", err, errlen) < 0)
		return -1;
	v = user_version(s);
	if (v < 0) {
		snprintf(err, errlen, "PRAGMA user_version: %s", sqlite3_errmsg(s->db));
		goto fail;
	}
	if (v > target) {
		snprintf(err, errlen,
		         "database schema version %d is newer than this build (%d): "
		         "refusing to open it with an older hostagent",
		         v, target);
		goto fail;
	}
	for (; v < target; v++) {
		if (exec_sql(s, store_migrations[v], msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "migration %d: %s", v + 1, msg);
			goto fail;
		}
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (exec_sql(s, sql, err, errlen) < 0)
			goto fail;
	}
	return exec_sql(s, "COMMIT", err, errlen);
fail:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int store_open(const char *path, struct store **out, char *err, size_t errlen)
{
	struct store *s = calloc(1, sizeof(*s));
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
		         s->db ? sqlite3_errmsg(s->db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 5000);
	sqlite3_extended_result_codes(s->db, 1);
	/*
	 * synchronous=NORMAL (in WAL mode) never corrupts and loses nothing
	 * when a process crashes; only the last commits before a power loss
	 * (docs/architecture.md).
	 */
	if (wal_mode(s, err, errlen) < 0 ||
	    exec_sql(s,
	             "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;",
	             err, errlen) < 0)
		goto fail;
	if (migrate(s, err, errlen) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	store_close(s);
	return -1;
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < STMT_CACHE; i++)
		if (s->cache[i].st != NULL)
			sqlite3_finalize(s->cache[i].st);
	sqlite3_close(s->db);
	free(s);
}

sqlite3_stmt *store_prep(struct store *s, const char *sql)
{
	size_t h = ((uintptr_t)sql >> 3) % STMT_CACHE;

	for (size_t i = 0; i < STMT_CACHE; i++) {
		struct stmt_slot *slot = &s->cache[(h + i) % STMT_CACHE];
		if (slot->sql == sql) {
			sqlite3_reset(slot->st);
			sqlite3_clear_bindings(slot->st);
			return slot->st;
		}
		if (slot->sql != NULL)
			continue;
		if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &slot->st,
		                       NULL) != SQLITE_OK) {
			log_error("sql prepare failed: %s: %.120s", sqlite3_errmsg(s->db), sql);
			slot->st = NULL;
			return NULL;
		}
		slot->sql = sql;
		return slot->st;
	}
	log_error("statement cache full");
	return NULL;
}

/*
 * Transaction control through cached statements: sqlite3_exec() would
 * parse and prepare the SQL again on every call, a visible share of a
 * short authenticated request.
 */
static const char sql_begin_read[] = "BEGIN";
static const char sql_begin[] = "BEGIN IMMEDIATE";
static const char sql_commit[] = "COMMIT";
static const char sql_rollback[] = "ROLLBACK";

static int tx_step(struct store *s, const char *sql)
{
	sqlite3_stmt *st = store_prep(s, sql);

	return st != NULL && store_step_done(st) == 0 ? 0 : -1;
}

int store_begin_read(struct store *s)
{
	return tx_step(s, sql_begin_read);
}

int store_begin(struct store *s)
{
	if (tx_step(s, sql_begin) < 0) {
		log_error("begin: %s", sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

int store_commit(struct store *s)
{
	if (tx_step(s, sql_commit) < 0) {
		log_error("commit: %s", sqlite3_errmsg(s->db));
		store_rollback(s);
		return -1;
	}
	return 0;
}

void store_rollback(struct store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		tx_step(s, sql_rollback);
}

int store_step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_exec_text2(struct store *s, const char *sql, const char *a, const char *b)
{
	sqlite3_stmt *st = store_prep(s, sql);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, a);
	store_bind_text(st, 2, b);
	return store_step_done(st);
}

int store_bind_text(sqlite3_stmt *st, int idx, const char *v)
{
	if (v == NULL)
		return sqlite3_bind_null(st, idx);
	return sqlite3_bind_text(st, idx, v, -1, SQLITE_TRANSIENT);
}

struct json_object *store_col_json(sqlite3_stmt *st, int col)
{
	const char *txt = (const char *)sqlite3_column_text(st, col);

	return txt ? json_tokener_parse(txt) : NULL;
}

const char *store_col_text(sqlite3_stmt *st, int col)
{
	const char *txt = (const char *)sqlite3_column_text(st, col);

	return txt ? txt : "";
}

void store_col_copy(sqlite3_stmt *st, int col, char *buf, size_t len)
{
	snprintf(buf, len, "%s", store_col_text(st, col));
}

char *store_col_dup(sqlite3_stmt *st, int col)
{
	const char *t = (const char *)sqlite3_column_text(st, col);

	return t ? strdup(t) : NULL;
}

const char *store_errmsg(struct store *s)
{
	return s != NULL ? sqlite3_errmsg(s->db) : "no database";
}

bool store_in_transaction(struct store *s)
{
	return s != NULL && !sqlite3_get_autocommit(s->db);
}

int store_count(struct store *s, const char *sql, const char *arg, int64_t *out)
{
	sqlite3_stmt *st = store_prep(s, sql);
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, arg);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

static const char sql_ping[] = "SELECT count(*) FROM runner";

int store_ping(struct store *s)
{
	int64_t n;

	return store_count(s, sql_ping, NULL, &n);
}

void *store_grow(void **arr, size_t *n, size_t *cap, size_t size)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 8;
		void *p = realloc(*arr, c * size);
		if (p == NULL)
			return NULL;
		*arr = p;
		*cap = c;
	}
	return (char *)*arr + (*n)++ * size;
}

int store_finish(struct store *s, int rc)
{
	if (rc < 0) {
		store_rollback(s);
		return -1;
	}
	return store_commit(s);
}

int store_rows(sqlite3_stmt *st, size_t elem, size_t max, store_row_fn *read, void *arg,
               store_clear_fn *clear, void **arr, size_t *n)
{
	size_t cap = 0;
	int rc = SQLITE_ERROR;

	*arr = NULL;
	*n = 0;
	while ((max == 0 || *n < max) && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		void *row = store_grow(arr, n, &cap, elem);
		if (row == NULL)
			break;
		memset(row, 0, elem);
		read(st, row, arg);
	}
	if (rc == SQLITE_ROW && max != 0 && *n == max)
		rc = SQLITE_DONE; /* LIMIT: nothing beyond */
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	for (size_t i = 0; clear != NULL && i < *n; i++)
		clear((char *)*arr + i * elem);
	free(*arr);
	*arr = NULL;
	*n = 0;
	return -1;
}

int store_one(sqlite3_stmt *st, store_row_fn *read, void *row)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		read(st, row, NULL);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_page(struct store *s, const char *list_sql, const char *count_sql, int limit, int offset,
               size_t elem, store_row_fn *read, store_clear_fn *clear, store_more_fn *more,
               void **arr, size_t *n, int64_t *total)
{
	sqlite3_stmt *st = store_prep(s, list_sql);

	*arr = NULL;
	*n = 0;
	if (st == NULL || limit < 1)
		return -1;
	sqlite3_bind_int(st, 1, limit);
	sqlite3_bind_int(st, 2, offset);
	if (store_rows(st, elem, (size_t)limit, read, NULL, clear, arr, n) < 0)
		return -1;
	if (store_count(s, count_sql, NULL, total) < 0)
		goto fail;
	for (size_t i = 0; more != NULL && i < *n; i++)
		if (more(s, (char *)*arr + i * elem) < 0)
			goto fail;
	return 0;
fail:
	for (size_t i = 0; clear != NULL && i < *n; i++)
		clear((char *)*arr + i * elem);
	free(*arr);
	*arr = NULL;
	*n = 0;
	return -1;
}

int store_nonzero(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	int64_t n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;

	sqlite3_reset(st);
	return rc == SQLITE_ROW ? n > 0 : -1;
}
