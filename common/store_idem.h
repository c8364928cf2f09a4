/* SPDX-License-Identifier: MIT */
/*
 * Idempotency-Key rows: the first response to a creating POST, keyed by
 * token and key, replayed to a retry. The row is written inside the
 * transaction of the change it records.
 */
#ifndef HOSTAGENT_STORE_IDEM_H
#define HOSTAGENT_STORE_IDEM_H

#include "store.h"

struct store_idem {
	char method[16];
	char path[512];
	char body_sha256[65];
	int status;
	char *response; /* malloc'd; store_idem_clear frees it */
};
/* Frees what row owns. */
void store_idem_clear(struct store_idem *row);
/* 1 found (out filled), 0 none, -1 error. */
int store_idem_get(struct store *s, const char *token_id, const char *key, struct store_idem *out);
/* Records the first response. 0, 1 when the key was taken meanwhile, -1 error. */
int store_idem_put(struct store *s, const char *token_id, const char *key, const char *method,
                   const char *path, const char *body_sha256, int status, const char *response);

#endif
