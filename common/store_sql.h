/* SPDX-License-Identifier: MIT */
/*
 * The store module's private header: SQLite itself, and the statement-level
 * helpers every common/store*.c file shares. Only common/store*.c include
 * it; everything else sees the sqlite-free common/store.h.
 */
#ifndef HOSTAGENT_STORE_SQL_H
#define HOSTAGENT_STORE_SQL_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

/* no include of store.h: a private header is below the public one, never beside it */
struct store;
struct json_object;

/* The connection; borrowed, valid until store_close. */
sqlite3 *store_db(struct store *s);

/*
 * A prepared statement for a string with static storage duration (the
 * pointer is the cache key). It comes back reset with its bindings cleared;
 * the caller must sqlite3_reset() it when done: a statement left unreset
 * holds a read transaction and starves checkpoints. NULL on error (logged).
 */
sqlite3_stmt *store_prep(struct store *s, const char *sql);

/* Steps a statement that returns no row and resets it: 0 done, -1 error. */
int store_step_done(sqlite3_stmt *st);
/* Runs sql (no rows) with text (or NULL) a as ?1 and b as ?2: 0 done, -1 error. */
int store_exec_text2(struct store *s, const char *sql, const char *a, const char *b);
/* Binds text or NULL when v is NULL. */
int store_bind_text(sqlite3_stmt *st, int idx, const char *v);
/* Column as a newly parsed json_object (caller puts), or NULL. */
struct json_object *store_col_json(sqlite3_stmt *st, int col);
/* Column as text, or "" when NULL (borrowed until the next step/reset). */
const char *store_col_text(sqlite3_stmt *st, int col);
/* Column text copied into buf (truncated to len, "" when NULL). */
void store_col_copy(sqlite3_stmt *st, int col, char *buf, size_t len);
/* Column text as a malloc'd copy the caller frees, or NULL when NULL. */
char *store_col_dup(sqlite3_stmt *st, int col);
/*
 * Runs a one-column count(*) query with one text parameter (NULL binds
 * NULL; a query without a parameter ignores it) into *out. 0 or -1.
 */
int store_count(struct store *s, const char *sql, const char *arg, int64_t *out);

/* Grows a row array (*n of *cap elements of size bytes) by one: the new slot, or NULL. */
void *store_grow(void **arr, size_t *n, size_t *cap, size_t size);
/* Reads the current row of st into row (an element of the caller's array). */
typedef void store_row_fn(sqlite3_stmt *st, void *row, void *arg);
/*
 * Steps st (bound by the caller) once: a row is read into row by read.
 * st is reset. 1 found, 0 no row, -1 error.
 */
int store_one(sqlite3_stmt *st, store_row_fn *read, void *row);
/* Steps a bound count(*) query once: 1 when it counts more than zero, 0 when not, -1 error. */
int store_nonzero(sqlite3_stmt *st);
/* Frees what one row owns (a _clear). */
typedef void store_clear_fn(void *row);
/*
 * Steps st (bound by the caller) to its end, or through max rows (0: no
 * bound), reading each into a new zeroed element of elem bytes of the
 * malloc'd *arr (the caller's to free); st is reset. 0, or -1 on a step or
 * allocation error, with every row read cleared by clear (NULL: rows own
 * nothing), the array freed, *arr NULL and *n 0.
 */
int store_rows(sqlite3_stmt *st, size_t elem, size_t max, store_row_fn *read, void *arg,
               store_clear_fn *clear, void **arr, size_t *n);
/* Completes one row with what its own queries add (ports, users). 0 or -1. */
typedef int store_more_fn(struct store *s, void *row);
/*
 * One page of a list: list_sql binds ?1 limit and ?2 offset, count_sql
 * (no parameter) gives *total, and more (NULL: none) completes each row.
 * 0 with *arr (the caller's) and *n, or -1 with nothing left allocated.
 */
int store_page(struct store *s, const char *list_sql, const char *count_sql, int limit, int offset,
               size_t elem, store_row_fn *read, store_clear_fn *clear, store_more_fn *more,
               void **arr, size_t *n, int64_t *total);
/*
 * Ends a write transaction begun with store_begin: COMMIT when rc is 0,
 * ROLLBACK (and -1) otherwise. Returns 0 or -1.
 */
int store_finish(struct store *s, int rc);

#endif
