/* SPDX-License-Identifier: MIT */
/*
 * The task queue's claim against a real SQLite file: priority then age,
 * dependencies, not_before, the claimer's kind and globs, the attempt row
 * and event, eight processes claiming 1,000 tasks at once (each task
 * exactly once), and the query plan (the partial index, no sort, however
 * many finished rows the table holds).
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"
#include "store_queue.h"
#include "store_tasks.h"
#include "util.h"

#include "unit.h"

static char dir[256], path[300];

static struct store *open_store(void)
{
	struct store *s = NULL;
	char err[256];

	if (store_open(path, &s, err, sizeof(err)) < 0) {
		fprintf(stderr, "store_open: %s\n", err);
		exit(1);
	}
	return s;
}

static void raw(const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fprintf(stderr, "%s: %s\n", sql, msg ? msg : "?");
	sqlite3_free(msg);
	sqlite3_close(db);
}

static void add(struct store *s, const char *id, int priority, const char *problem, bool external,
                const char *after)
{
	struct store_new_task t = {.id = id, .priority = priority, .problem_id = problem,
	                           .external = external, .after = &after, .nafter = after ? 1 : 0};

	CHECK(store_begin(s) == 0);
	CHECK(store_task_add(s, &t) == 0);
	CHECK(store_commit(s) == 0);
}

static int claim(struct store *s, bool external, const char *problems, char id[40])
{
	struct store_claim c = {.external = external, .worker_id = external ? "w-1" : "internal-1",
	                        .problems = problems, .lease_ms = external ? 30000 : 0};
	struct store_claimed out;
	int rc = store_task_claim(s, &c, &out);

	snprintf(id, 40, "%s", rc == 1 ? out.id : "");
	return rc;
}

static void complete(struct store *s, const char *id)
{
	struct store_task_end e = {.state = "completed", .reason = "exited with code 0",
	                           .has_code = true, .ended_at = util_now_ms()};

	CHECK(store_task_ended(s, id, &e, NULL) == 0);
}

static void test_order_and_rules(void)
{
	struct store *s = open_store();
	char id[40];

	add(s, "old-low", 0, NULL, false, NULL);
	usleep(2000);
	add(s, "high", 50, NULL, false, NULL);
	add(s, "new-low", 0, NULL, false, NULL);
	add(s, "chained", 100, NULL, false, "old-low");
	add(s, "outside", 100, "render", true, NULL);
	/* the best first: priority, then age; a chained task waits for its task to complete */
	CHECK(claim(s, false, NULL, id) == 1 && strcmp(id, "high") == 0);
	CHECK(claim(s, false, NULL, id) == 1 && strcmp(id, "old-low") == 0);
	CHECK(claim(s, false, NULL, id) == 1 && strcmp(id, "new-low") == 0);
	CHECK(claim(s, false, NULL, id) == 0); /* "chained" waits: old-low is running */
	complete(s, "old-low");
	CHECK(claim(s, false, NULL, id) == 1 && strcmp(id, "chained") == 0);
	/* the external task is for workers, and only those whose globs match */
	CHECK(claim(s, true, "[\"ocr-*\"]", id) == 0);
	CHECK(claim(s, true, "[\"ocr-*\", \"rend*\"]", id) == 1 && strcmp(id, "outside") == 0);
	CHECK(claim(s, true, "[]", id) == 0);
	/* a retry's backoff: not before its time */
	add(s, "later", 0, NULL, false, NULL);
	raw("UPDATE tasks SET not_before = 9999999999999 WHERE id = 'later'");
	CHECK(claim(s, false, NULL, id) == 0);
	raw("UPDATE tasks SET not_before = 1 WHERE id = 'later'");
	CHECK(claim(s, false, NULL, id) == 1 && strcmp(id, "later") == 0);
	store_close(s);
	/* every claim left its attempt row and event; the attempt number fences results */
	sqlite3 *db;
	sqlite3_stmt *st;
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_prepare_v2(db,
	                         "SELECT (SELECT count(*) FROM task_attempts),"
	                         " (SELECT count(*) FROM events WHERE type = 'task.claimed'),"
	                         " (SELECT attempts || worker_id || state FROM tasks"
	                         " WHERE id = 'outside'),"
	                         " (SELECT lease_until > 0 FROM tasks WHERE id = 'outside')",
	                         -1, &st, NULL) == SQLITE_OK);
	CHECK(sqlite3_step(st) == SQLITE_ROW);
	CHECK(sqlite3_column_int(st, 0) == 6 && sqlite3_column_int(st, 1) == 6);
	CHECK(strcmp((const char *)sqlite3_column_text(st, 2), "1w-1running") == 0);
	CHECK(sqlite3_column_int(st, 3) == 1);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* Eight processes claim 1,000 tasks at once: each is claimed exactly once. */
static void test_concurrent_claims(void)
{
	enum { N = 1000, P = 8 };
	struct store *s = open_store();
	static char seen[N];
	char id[40];
	int fds[2], total = 0, dup = 0;

	raw("DELETE FROM task_attempts; DELETE FROM task_deps; DELETE FROM tasks");
	CHECK(store_begin(s) == 0);
	for (int i = 0; i < N; i++) {
		struct store_new_task t = {.id = id, .priority = i % 7};
		snprintf(id, sizeof(id), "t%04d", i);
		CHECK(store_task_add(s, &t) == 0);
	}
	CHECK(store_commit(s) == 0);
	store_close(s);
	CHECK(pipe(fds) == 0);
	for (int p = 0; p < P; p++) {
		if (fork() != 0)
			continue;
		close(fds[0]);
		struct store *c = open_store();
		int n;
		while ((n = claim(c, false, NULL, id)) == 1)
			if (write(fds[1], id, 5) != 5)
				_exit(2);
		store_close(c);
		_exit(n == 0 ? 0 : 1);
	}
	close(fds[1]);
	while (read(fds[0], id, 5) == 5) {
		int i = atoi(id + 1);
		dup += seen[i]++ != 0;
		total++;
	}
	close(fds[0]);
	for (int p = 0; p < P; p++) {
		int st;
		CHECK(wait(&st) > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	CHECK(total == N && dup == 0);
}

/*
 * True when the plan of sql walks index without a temporary B-tree (a
 * sort); the plan is printed when not.
 */
static bool walks(const char *sql, const char *index)
{
	char plan[2048] = "", q[1024];
	sqlite3_stmt *st;
	sqlite3 *db;
	size_t o = 0;
	bool ok;

	snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW && o < sizeof(plan) - 200)
		o += (size_t)snprintf(plan + o, sizeof(plan) - o, "%s\n",
		                      (const char *)sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
	sqlite3_close(db);
	ok = strstr(plan, index) != NULL && strstr(plan, "TEMP B-TREE") == NULL;
	if (!ok)
		fprintf(stderr, "plan of %s:\n%s", sql, plan);
	return ok;
}

/* The claim and the list by state walk their index in order: no scan of finished rows, no sort. */
static void test_plan(void)
{
	/* many finished rows beside a few pending ones */
	raw("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)"
	    " INSERT INTO tasks (id, kind, spec, state, created_at, updated_at)"
	    " SELECT 'done-' || i, 'task', '{}', 'completed', i, i FROM n; ANALYZE");
	CHECK(walks("SELECT t.id FROM tasks t WHERE t.state = 'pending' AND t.kind = 'task' AND"
	            " t.runs_on = 'internal' ORDER BY t.priority DESC, t.created_at LIMIT 1",
	            "USING INDEX tasks_claim"));
	/* GET /api/v1/tasks?status=pending: newest first */
	CHECK(walks("SELECT id FROM tasks WHERE kind = 'task' AND state = 'pending'"
	            " ORDER BY created_at DESC, rowid DESC LIMIT 100",
	            "tasks_state_kind_created"));
}

int main(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(dir, sizeof(dir), "%s/test_queue.XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/hostagent.db", dir);
	test_order_and_rules();
	test_concurrent_claims();
	test_plan();
	if (failed == 0)
		util_rm_rf(dir);
	else
		fprintf(stderr, "kept %s for a look\n", dir);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
