/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the store's migrations (common/migrations/, migrate() in
 * common/store.c): a database left at any older version migrates to exactly
 * the schema a fresh one gets, a newer version is refused, and two processes
 * creating one file at once both succeed. It reads the schema with the
 * SQLite API directly: it tests the store, so it cannot go through it.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h> /* a test of the store may build old databases by hand */

#include "schema.h"
#include "unit.h"
#include "util.h"

#define NMIG        ((int)ARRAY_SIZE(store_migrations))
#define RACE_ROUNDS 10

static char tmp[256]; /* the mkdtemp directory */

static void db_path(char *buf, size_t len, const char *name, int n)
{
	snprintf(buf, len, "%s/%s-%d.db", tmp, name, n);
}

static sqlite3 *raw_open(const char *path)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		fprintf(stderr, "%s: %s\n", path, db ? sqlite3_errmsg(db) : "cannot open");
		abort();
	}
	return db;
}

static int raw_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	fprintf(stderr, "%s: %.80s\n", msg ? msg : "?", sql);
	sqlite3_free(msg);
	return -1;
}

static int raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* A database at version v, built as an older build would have left it. */
static int build_at(const char *path, int v)
{
	sqlite3 *db = raw_open(path);
	char sql[64];
	int r = 0;

	for (int i = 0; i < v && r == 0; i++)
		r = raw_exec(db, store_migrations[i]);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v);
	if (r == 0)
		r = raw_exec(db, sql);
	sqlite3_close(db);
	return r;
}

/* Writes label, then every row of sql (with arg bound to ?1) as a|b|c. */
static int dump_rows(FILE *f, sqlite3 *db, const char *label, const char *sql, const char *arg)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (arg != NULL)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
	fprintf(f, "%s %s\n", label, arg ? arg : "");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int c = 0; c < sqlite3_column_count(st); c++) {
			const unsigned char *t = sqlite3_column_text(st, c);
			fprintf(f, "%s%s", c ? "|" : "\t", t ? (const char *)t : "NULL");
		}
		fputc('\n', f);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* table_info and index_list of one table, index_info of each of its indexes. */
static int dump_table(FILE *f, sqlite3 *db, const char *table)
{
	sqlite3_stmt *st;
	int r = 0;

	if (dump_rows(f, db, "table_info", "SELECT * FROM pragma_table_info(?1)", table) < 0 ||
	    dump_rows(f, db, "index_list", "SELECT * FROM pragma_index_list(?1) ORDER BY name",
	              table) < 0)
		return -1;
	if (sqlite3_prepare_v2(db, "SELECT name FROM pragma_index_list(?1) ORDER BY name", -1, &st,
	                       NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_TRANSIENT);
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW)
		r = dump_rows(f, db, "index_info", "SELECT * FROM pragma_index_info(?1)",
		              (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return r;
}

/*
 * Everything that makes up the schema of the file at path, as text: the
 * user_version, the sqlite_master rows and every table's pragmas. Caller
 * frees; NULL on error.
 */
static char *schema_dump(const char *path)
{
	sqlite3 *db = raw_open(path);
	sqlite3_stmt *st = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r = f ? 0 : -1;

	if (r == 0) {
		fprintf(f, "user_version %d\n", raw_int(db, "PRAGMA user_version"));
		r = dump_rows(
		    f, db, "sqlite_master",
		    "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name",
		    NULL);
	}
	if (r == 0 && sqlite3_prepare_v2(db,
	                                 "SELECT name FROM sqlite_master WHERE type = 'table' "
	                                 "ORDER BY name",
	                                 -1, &st, NULL) != SQLITE_OK)
		r = -1;
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW)
		r = dump_table(f, db, (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (f != NULL)
		fclose(f);
	if (r < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Equal dumps, or a report of the first line where they part. */
static int same_schema(const char *what, const char *got, const char *want)
{
	size_t i = 0, line = 0;

	if (got == NULL || want == NULL)
		return 0;
	if (strcmp(got, want) == 0)
		return 1;
	for (; got[i] == want[i]; i++)
		if (got[i] == '\n')
			line = i + 1;
	fprintf(stderr, "%s: schema differs from a fresh database:\n  got:  %.*s\n  want: %.*s\n",
	        what, (int)strcspn(got + line, "\n"), got + line, (int)strcspn(want + line, "\n"),
	        want + line);
	return 0;
}

static int open_close(const char *path, char *err, size_t errlen)
{
	struct store *s = NULL;

	if (store_open(path, &s, err, errlen) < 0) {
		fprintf(stderr, "store_open %s: %s\n", path, err);
		return -1;
	}
	store_close(s);
	return 0;
}

/* The reference: a fresh file that store_open created. Caller frees. */
static char *fresh_dump(int *cookie)
{
	char path[300], err[256];
	sqlite3 *db;

	db_path(path, sizeof(path), "fresh", 0);
	if (access(path, F_OK) < 0 && open_close(path, err, sizeof(err)) < 0)
		return NULL;
	db = raw_open(path);
	*cookie = raw_int(db, "PRAGMA schema_version");
	sqlite3_close(db);
	return schema_dump(path);
}

/*
 * Two children wait on one pipe, and both store_open path the moment the
 * parent closes it. Neither had the file open before the fork. Returns how
 * many succeeded.
 */
static int race(const char *path)
{
	int p[2], ok = 0, status;
	pid_t pid[2];

	if (pipe2(p, O_CLOEXEC) < 0) {
		perror("pipe2");
		return -1;
	}
	fflush(NULL);
	for (int i = 0; i < 2; i++) {
		pid[i] = fork();
		if (pid[i] == 0) {
			char c, err[256];

			close(p[1]);
			while (read(p[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(open_close(path, err, sizeof(err)) == 0 ? 0 : 1);
		}
	}
	close(p[0]);
	close(p[1]);
	for (int i = 0; i < 2; i++)
		if (pid[i] > 0 && waitpid(pid[i], &status, 0) == pid[i] && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)
			ok++;
	return ok;
}

/*
 * Both processes succeed, and the schema was applied once: the schema
 * cookie, which every schema change bumps, is the one of a single open.
 */
static void test_race(void)
{
	char path[300], *fresh, *got;
	int fresh_cookie = -1;

	for (int n = 0; n < RACE_ROUNDS; n++) {
		db_path(path, sizeof(path), "race", n);
		CHECK(race(path) == 2);
	}
	fresh = fresh_dump(&fresh_cookie);
	CHECK(fresh != NULL && fresh_cookie > 0);
	for (int n = 0; n < RACE_ROUNDS; n++) {
		sqlite3 *db;

		db_path(path, sizeof(path), "race", n);
		got = schema_dump(path);
		CHECK(same_schema(path, got, fresh));
		free(got);
		db = raw_open(path);
		CHECK(raw_int(db, "PRAGMA schema_version") == fresh_cookie);
		sqlite3_close(db);
	}
	free(fresh);
}

/*
 * The instrument itself: the dump shows tables, columns and indexes, tells
 * an empty file from a migrated one, and a file built by hand at the newest
 * version (as build_at builds old ones) dumps like a fresh store_open.
 */
static void test_dump_sees_schema(const char *fresh)
{
	char path[300], want[64], *d;

	if (fresh == NULL) {
		CHECK(fresh != NULL);
		return;
	}
	snprintf(want, sizeof(want), "user_version %d\n", NMIG);
	CHECK(strncmp(fresh, want, strlen(want)) == 0);
	CHECK(strstr(fresh, "\ttable|tokens|tokens|CREATE TABLE tokens (") != NULL);
	CHECK(strstr(fresh, "table_info tokens\n\t0|id|TEXT|0|NULL|1\n") != NULL);
	CHECK(strstr(fresh, "index_info tokens_active\n\t0|4|created_at\n") != NULL);
	db_path(path, sizeof(path), "by-hand", NMIG);
	CHECK(build_at(path, NMIG) == 0);
	d = schema_dump(path);
	CHECK(same_schema(path, d, fresh));
	free(d);
	db_path(path, sizeof(path), "by-hand", 0);
	CHECK(build_at(path, 0) == 0);
	d = schema_dump(path);
	CHECK(d != NULL && strcmp(strchr(d, '\n'), strchr(fresh, '\n')) != 0);
	free(d);
}

/* Every older version, opened by this build, ends exactly like a fresh file. */
static void test_every_version(const char *fresh)
{
	char path[300], err[256], *d;

	for (int v = 0; v < NMIG; v++) {
		db_path(path, sizeof(path), "at", v);
		CHECK(build_at(path, v) == 0);
		CHECK(open_close(path, err, sizeof(err)) == 0);
		d = schema_dump(path);
		CHECK(same_schema(path, d, fresh));
		free(d);
		/* the next open finds nothing left to do */
		CHECK(open_close(path, err, sizeof(err)) == 0);
		d = schema_dump(path);
		CHECK(same_schema(path, d, fresh));
		free(d);
	}
}

/* Migration 3 rebuilds projects: every row and column of version 2 survives it. */
static void test_projects_rows_survive_v3(void)
{
	char path[300], err[256];
	sqlite3 *db;

	db_path(path, sizeof(path), "rows", 2);
	CHECK(build_at(path, 2) == 0);
	db = raw_open(path);
	CHECK(raw_exec(db, "INSERT INTO projects (name, spec, release_id, desired, state,"
	                   " state_reason, task_id, restarts, fast_failures, backoff_until,"
	                   " created_at, updated_at, deleted_at) VALUES ('web', '{}', 7,"
	                   " 'stopped', 'crashloop', 'exited with code 3', 't-1', 4, 2, 99, 1, 2,"
	                   " NULL)") == 0);
	sqlite3_close(db);
	CHECK(open_close(path, err, sizeof(err)) == 0);
	db = raw_open(path);
	CHECK(raw_int(db, "SELECT count(*) FROM projects WHERE name = 'web' AND spec = '{}' AND"
	                  " release_id = 7 AND desired = 'stopped' AND state = 'crashloop' AND"
	                  " state_reason = 'exited with code 3' AND task_id = 't-1' AND"
	                  " restarts = 4 AND fast_failures = 2 AND backoff_until = 99 AND"
	                  " created_at = 1 AND updated_at = 2 AND deleted_at IS NULL AND"
	                  " health IS NULL") == 1);
	/* and the states of health checks are allowed now */
	CHECK(raw_exec(db, "UPDATE projects SET state = 'unhealthy' WHERE name = 'web'") == 0);
	sqlite3_close(db);
}

/* A file from a newer build is refused, with the reason, and left as it was. */
static void test_newer_refused(void)
{
	char path[300], err[256] = "", want[128], sql[64], *before, *after;
	struct store *s = NULL;
	sqlite3 *db;

	db_path(path, sizeof(path), "newer", NMIG + 1);
	CHECK(build_at(path, NMIG) == 0);
	db = raw_open(path);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", NMIG + 1);
	CHECK(raw_exec(db, sql) == 0);
	sqlite3_close(db);
	before = schema_dump(path);
	CHECK(store_open(path, &s, err, sizeof(err)) == -1);
	CHECK(s == NULL);
	snprintf(want, sizeof(want), "database schema version %d is newer than this build (%d)",
	         NMIG + 1, NMIG);
	CHECK(strstr(err, want) != NULL);
	after = schema_dump(path);
	CHECK(before != NULL && after != NULL && strcmp(before, after) == 0);
	free(before);
	free(after);
}

/* The text of the first column of the first row of sql, "" when none; caller frees. */
static char *raw_text(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	char *v = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v ? v : strdup("");
}

/* One spec column after migration 4 equals want (the text, as SQLite's json_set wrote it). */
static int spec_is(sqlite3 *db, const char *table, const char *key, const char *want)
{
	char sql[256], *got;
	int same;

	snprintf(sql, sizeof(sql), "SELECT spec FROM %s WHERE %s", table, key);
	got = raw_text(db, sql);
	same = strcmp(got, want) == 0;
	if (!same)
		fprintf(stderr, "%s %s: spec %s, want %s\n", table, key, got, want);
	free(got);
	return same;
}

/*
 * Migration 4 renames the old limit keys in every stored spec (projects,
 * releases, tasks): nofile, nproc, fsize, cpu (seconds) become open_files,
 * processes, file_size, cpu_seconds; the rest of a spec, a spec without
 * limits and one that is not JSON at all are left as they were. From
 * version 3, and from 2, whose projects table migration 3 rebuilds first.
 */
static void test_limits_renamed(int from)
{
	static const char old[] = "{\"name\":\"a\",\"stop_timeout\":10.0,\"limits\":{"
	                          "\"memory\":1048576,\"nofile\":64,\"nproc\":8,"
	                          "\"fsize\":4096,\"cpu\":30}}";
	static const char renamed[] = "{\"name\":\"a\",\"stop_timeout\":10.0,\"limits\":{"
	                              "\"memory\":1048576,\"open_files\":64,\"processes\":8,"
	                              "\"file_size\":4096,\"cpu_seconds\":30}}";
	char path[300], err[256], sql[2048];
	sqlite3 *db;

	db_path(path, sizeof(path), "limits", from);
	CHECK(build_at(path, from) == 0);
	db = raw_open(path);
	snprintf(sql, sizeof(sql),
	         "INSERT INTO artifacts VALUES ('s', 1, 'tar', 1, 1, 0);"
	         "INSERT INTO projects (name, spec, created_at, updated_at) VALUES"
	         " ('a', '%s', 0, 0), ('b', '{\"limits\":{}}', 0, 0), ('c', 'not json', 0, 0);"
	         "INSERT INTO releases (project, seq, artifact, spec, created_at) VALUES"
	         " ('a', 1, 's', '%s', 0), ('a', 2, 's', '{\"command\":[\"x\"]}', 0);"
	         "INSERT INTO tasks (id, kind, spec, created_at, updated_at) VALUES"
	         " ('t1', 'service', '%s', 0, 0),"
	         " ('t2', 'service', '{\"limits\":{\"nofile\":5,\"open_files\":7}}', 0, 0);",
	         old, old, old);
	CHECK(raw_exec(db, sql) == 0);
	sqlite3_close(db);
	CHECK(open_close(path, err, sizeof(err)) == 0);
	db = raw_open(path);
	CHECK(spec_is(db, "projects", "name = 'a'", renamed));
	CHECK(spec_is(db, "projects", "name = 'b'", "{\"limits\":{}}"));
	CHECK(spec_is(db, "projects", "name = 'c'", "not json"));
	CHECK(spec_is(db, "releases", "seq = 1", renamed));
	CHECK(spec_is(db, "releases", "seq = 2", "{\"command\":[\"x\"]}"));
	CHECK(spec_is(db, "tasks", "id = 't1'", renamed));
	/* a name given both ways keeps the new one's value */
	CHECK(spec_is(db, "tasks", "id = 't2'", "{\"limits\":{\"open_files\":7}}"));
	/* the runner's new column starts empty: "not recorded yet" */
	CHECK(raw_exec(db, "INSERT INTO runner (id, pid) VALUES (1, 1)") == 0);
	CHECK(raw_int(db, "SELECT limits IS NULL FROM runner") == 1);
	sqlite3_close(db);
}

int main(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *fresh;
	int cookie;

	snprintf(tmp, sizeof(tmp), "%s/test_migrations.XXXXXX", base);
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	CHECK(NMIG >= 4);
	/* first, so that the forked children inherit no SQLite state at all */
	test_race();
	fresh = fresh_dump(&cookie);
	test_dump_sees_schema(fresh);
	test_every_version(fresh);
	test_projects_rows_survive_v3();
	test_newer_refused();
	test_limits_renamed(2);
	test_limits_renamed(3);
	free(fresh);
	if (failed == 0)
		util_rm_rf(tmp);
	else
		fprintf(stderr, "kept %s for a look\n", tmp);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
