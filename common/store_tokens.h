/* SPDX-License-Identifier: MIT */
/*
 * API tokens in the database: inserted by hash, found by the hash of the
 * presented token, listed, touched and revoked. Plain rows; the API's JSON
 * is built in fcgi/. The plain token never reaches the database.
 */
#ifndef HOSTAGENT_STORE_TOKENS_H
#define HOSTAGENT_STORE_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct store_token {
	char id[32];
	char name[128];
	char scopes[64];
	int64_t created_at, last_used_at; /* ms; last_used_at 0: never used */
};
/* Inserts a token by hash. 0 or -1. */
int store_token_insert(struct store *s, const char *id, const char *name, const char *hash,
                       const char *scopes);
/* Finds an active (not revoked, not expired) token by hash: 1 found, 0 not, -1 error. */
int store_token_find(struct store *s, const char *hash, struct store_token *out);
/*
 * Whether t's last_used_at is due for a refresh (at most once a minute),
 * decided on the row store_token_find read, so that an authenticated read
 * issues no write statement at all (an UPDATE takes the write lock even when
 * it matches nothing).
 */
bool store_token_touch_due(const struct store_token *t);
/*
 * Records the use when due. A write: call it outside any read snapshot (an
 * UPDATE inside one upgrades it to a write transaction, which fails with
 * SQLITE_BUSY_SNAPSHOT after another commit and holds the write lock until
 * the snapshot ends). 0 or -1.
 */
int store_token_touch(struct store *s, const struct store_token *t);
/* One active token by id: 1 found, 0 not (or revoked), -1 error. */
int store_token_get(struct store *s, const char *id, struct store_token *out);
/*
 * A page of active tokens, newest first: *arr is malloc'd (n entries; the
 * caller frees it) and total counts them all. 0 or -1 (nothing to free).
 */
int store_token_list(struct store *s, int limit, int offset, struct store_token **arr, size_t *n,
                     int64_t *total);
/* 1 revoked, 0 no such active token, -1 error. */
int store_token_revoke(struct store *s, const char *id);

#endif
