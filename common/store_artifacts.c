/* SPDX-License-Identifier: MIT */
/*
 * The artifacts table (see store_artifacts.h): rows, their users (projects
 * whose current release uses them, live tasks, release rows) and deletion.
 */
#include "store_artifacts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sql.h"
#include "util.h"

static const char sql_art_insert[] =
    "INSERT OR IGNORE INTO artifacts (sha256, size, format, entries, unpacked, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?)";
static const char sql_art_exists[] = "SELECT count(*) FROM artifacts WHERE sha256 = ?";
static const char sql_art_get[] =
    "SELECT sha256, size, format, entries, unpacked, created_at FROM artifacts"
    " WHERE sha256 = ?";
static const char sql_art_list[] =
    "SELECT sha256, size, format, entries, unpacked, created_at FROM artifacts"
    " ORDER BY created_at DESC, sha256 LIMIT ? OFFSET ?";
static const char sql_art_count[] = "SELECT count(*) FROM artifacts";
static const char sql_art_projects[] =
    "SELECT p.name FROM projects p JOIN releases r ON r.id = p.release_id"
    " WHERE p.deleted_at IS NULL AND r.artifact = ? ORDER BY p.name";
static const char sql_art_tasks[] =
    "SELECT id FROM tasks WHERE artifact = ? AND state IN ('pending', 'running', 'paused')"
    " ORDER BY created_at";
static const char sql_art_releases[] = "SELECT count(*) FROM releases WHERE artifact = ?";
static const char sql_art_delete[] = "DELETE FROM artifacts WHERE sha256 = ?";

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void store_artifact_info_clear(struct store_artifact_info *info)
{
	strv_free(info->projects, info->nprojects);
	strv_free(info->tasks, info->ntasks);
	memset(info, 0, sizeof(*info));
}

void store_artifact_info_free(struct store_artifact_info *arr, size_t n)
{
	for (size_t i = 0; i < n && arr != NULL; i++)
		store_artifact_info_clear(&arr[i]);
	free(arr);
}

int store_artifact_insert(struct store *s, const struct store_artifact *a)
{
	sqlite3_stmt *st = store_prep(s, sql_art_insert);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, a->sha256);
	sqlite3_bind_int64(st, 2, a->size);
	store_bind_text(st, 3, a->format);
	sqlite3_bind_int64(st, 4, a->entries);
	sqlite3_bind_int64(st, 5, a->unpacked);
	sqlite3_bind_int64(st, 6, util_now_ms());
	if (store_step_done(st) < 0)
		return -1;
	return sqlite3_changes(store_db(s)) > 0 ? 1 : 0;
}

int store_artifact_exists(struct store *s, const char *sha256)
{
	int64_t n;

	if (store_count(s, sql_art_exists, sha256, &n) < 0)
		return -1;
	return n > 0 ? 1 : 0;
}

/* One text column of a query with one text parameter, as a malloc'd array. 0 or -1. */
static int text_list(struct store *s, const char *sql, const char *arg, char ***out, size_t *n)
{
	sqlite3_stmt *st = store_prep(s, sql);
	size_t cap = 0;
	char **v = NULL, **nv;
	int rc;

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	store_bind_text(st, 1, arg);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 4;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL)
				break;
			v = nv;
		}
		v[*n] = strdup(store_col_text(st, 0));
		if (v[*n] == NULL)
			break;
		(*n)++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		strv_free(v, *n);
		*n = 0;
		return -1;
	}
	*out = v;
	return 0;
}

static void read_artifact(sqlite3_stmt *st, struct store_artifact *a)
{
	memset(a, 0, sizeof(*a));
	store_col_copy(st, 0, a->sha256, sizeof(a->sha256));
	a->size = sqlite3_column_int64(st, 1);
	store_col_copy(st, 2, a->format, sizeof(a->format));
	a->entries = sqlite3_column_int64(st, 3);
	a->unpacked = sqlite3_column_int64(st, 4);
	a->created_at = sqlite3_column_int64(st, 5);
}

/* The users of info->a (separate statements: the row's statement must be reset first). */
static int artifact_users(struct store *s, struct store_artifact_info *info)
{
	const char *sha = info->a.sha256;

	if (text_list(s, sql_art_projects, sha, &info->projects, &info->nprojects) < 0 ||
	    text_list(s, sql_art_tasks, sha, &info->tasks, &info->ntasks) < 0)
		return -1;
	return store_count(s, sql_art_releases, sha, &info->releases);
}

int store_artifact_get(struct store *s, const char *sha256, struct store_artifact_info *out)
{
	sqlite3_stmt *st = store_prep(s, sql_art_get);
	int rc;

	if (st == NULL)
		return -1;
	memset(out, 0, sizeof(*out));
	store_bind_text(st, 1, sha256);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_artifact(st, &out->a);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW || artifact_users(s, out) < 0) {
		store_artifact_info_clear(out);
		return -1;
	}
	return 1;
}

static void info_of(sqlite3_stmt *st, void *row, void *arg)
{
	read_artifact(st, &((struct store_artifact_info *)row)->a);
}

static int more_of(struct store *s, void *row)
{
	return artifact_users(s, row);
}

static void clear_info(void *row)
{
	store_artifact_info_clear(row);
}

int store_artifact_list(struct store *s, int limit, int offset, struct store_artifact_info **arr,
                        size_t *n, int64_t *total)
{
	return store_page(s, sql_art_list, sql_art_count, limit, offset, sizeof(**arr), info_of,
	                  clear_info, more_of, (void **)arr, n, total);
}

int store_artifact_usage(struct store *s, const char *sha256, struct store_artifact_use *u)
{
	struct store_artifact_info info;
	int rc;

	memset(u, 0, sizeof(*u));
	memset(&info, 0, sizeof(info));
	snprintf(info.a.sha256, sizeof(info.a.sha256), "%s", sha256);
	rc = artifact_users(s, &info);
	if (rc == 0) {
		u->projects = (int64_t)info.nprojects;
		u->tasks = (int64_t)info.ntasks;
		u->releases = info.releases;
		if (info.nprojects > 0)
			snprintf(u->project, sizeof(u->project), "%s", info.projects[0]);
		if (info.ntasks > 0)
			snprintf(u->task, sizeof(u->task), "%s", info.tasks[0]);
	}
	store_artifact_info_clear(&info);
	return rc;
}

int store_artifact_delete(struct store *s, const char *sha256)
{
	sqlite3_stmt *st = store_prep(s, sql_art_delete);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, sha256);
	if (store_step_done(st) < 0)
		return -1;
	return sqlite3_changes(store_db(s)) > 0 ? 1 : 0;
}
