/* SPDX-License-Identifier: MIT */
/*
 * The route table and its matcher: {method, pattern, scope, flags, handler}
 * where a pattern is literal segments and {param} segments. Matching is
 * pure (unit-tested): it tells found, unknown path (404) or a known path
 * with another method (405, with the Allow list).
 */
#ifndef HOSTAGENT_ROUTES_H
#define HOSTAGENT_ROUTES_H

#include <stddef.h>

#include "token.h"

struct request;
struct response;

#define ROUTE_MAX_PARAMS 4
#define ROUTE_PARAM_LEN  256

/* What the worker prepares before calling the handler. */
enum route_flags {
	RF_JSON = 1,       /* body is JSON (Content-Type checked, size <= json_max_bytes) */
	RF_MULTIPART = 2,  /* multipart/form-data is accepted too (a file body) */
	RF_RAW = 4,        /* body is raw bytes kept in a file (uploads) */
	RF_IDEMPOTENT = 8, /* honours Idempotency-Key */
	RF_METRICS = 16,   /* scope per metrics_auth */
	/*
	 * A pure read: the token look-up and every query of the handler share
	 * one read transaction (one snapshot, one WAL read lock) instead of one
	 * each. Never for a handler that writes or waits for the runner.
	 */
	RF_SNAPSHOT = 32,
};

struct route {
	const char *method;
	const char *pattern;
	enum token_scope scope;
	unsigned flags;
	int (*fn)(struct request *req, struct response *resp);
	const char *name; /* stable label for logs and metrics */
};

enum route_result { ROUTE_FOUND, ROUTE_NOT_FOUND, ROUTE_BAD_METHOD };

/*
 * Matches method and path (no query string) against table. On ROUTE_FOUND
 * *out points into table and params[0..*nparams) hold the {param} values
 * in pattern order. On ROUTE_BAD_METHOD allow gets "GET, POST" style text.
 * Literal segments win over {param} ones; a trailing slash is ignored;
 * HEAD matches GET routes. A segment longer than ROUTE_PARAM_LEN - 1 never
 * matches a parameter.
 */
enum route_result route_match(const struct route *table, size_t n, const char *method,
                              const char *path, const struct route **out,
                              char params[ROUTE_MAX_PARAMS][ROUTE_PARAM_LEN], size_t *nparams,
                              char *allow, size_t allowlen);

/* The API's table (routes.c). */
extern const struct route route_table[];
extern const size_t route_table_len;

#endif
