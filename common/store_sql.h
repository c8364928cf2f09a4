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
/*
 * Ends a write transaction begun with store_begin: COMMIT when rc is 0,
 * ROLLBACK (and -1) otherwise. Returns 0 or -1.
 */
int store_finish(struct store *s, int rc);

#endif
