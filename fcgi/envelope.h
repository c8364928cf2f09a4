/* SPDX-License-Identifier: MIT */
/*
 * The response of one request, built in memory and written once: status,
 * extra headers and the envelope of docs/api.md, Conventions ({"result"|"error", "meta"}).
 * Keeping it in memory until the handler returns is what lets the status
 * be decided before the first byte and lets Idempotency-Key store and
 * replay the exact answer. Streaming handlers bypass it (resp->sent).
 */
#ifndef HOSTAGENT_ENVELOPE_H
#define HOSTAGENT_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

#define RESP_HEADERS_MAX 2048

struct response {
	int status;                     /* 0 until a handler decides */
	char headers[RESP_HEADERS_MAX]; /* extra "Name: value\r\n" lines */
	size_t hlen;
	struct json_object *result; /* owned: the "result" member */
	struct json_object *error;  /* owned: {"type", "detail", ...} */
	struct json_object *meta;   /* owned: extra meta members (lists) */
	bool no_body;               /* X-Accel-Redirect answers: headers only */
	bool sent;                  /* the handler wrote everything itself */
};

void resp_init(struct response *r);
/* Frees what the response owns and re-initializes it. */
void resp_clear(struct response *r);

/* Appends a header line; -1 (and the header dropped, logged) if it does not fit. */
int resp_header(struct response *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Success with a result; takes ownership of result (NULL = JSON null). */
void resp_ok(struct response *r, int status, struct json_object *result);
/* A list: result is the array (owned), meta gets count/total/limit/offset. */
void resp_list(struct response *r, struct json_object *arr, int64_t total, int limit, int offset);
/* Error envelope; type from docs/api.md; detail says what is wrong. Replaces any result. */
void resp_error(struct response *r, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Adds a member (owned) to the error object, e.g. "checks" for /ready. */
void resp_error_add(struct response *r, const char *key, struct json_object *val);

/* The reason phrase for a status, "Unknown" for others. */
const char *http_reason(int status);
/* The API's error type for an error status (e.g. 404 → "not_found"). */
const char *http_error_type(int status);

/*
 * The body text: the envelope with meta {request_id, duration_ms, ...}.
 * Returns a malloc'd NUL-terminated string the caller frees, NULL on OOM.
 */
char *env_render(const struct response *r, const char *request_id, int64_t duration_ms,
                 size_t *len);
/*
 * Re-creates a stored response (Idempotency-Key replay) from its status and
 * rendered body: result/error/list meta are kept, meta request_id and
 * duration are the current request's. 0 or -1 when text is not an envelope.
 */
int resp_from_stored(struct response *r, int status, const char *text);

/*
 * The "Status:" line, headers and body as one buffer for the FastCGI
 * stdout stream (malloc'd and NUL-terminated, caller frees; *len excludes the NUL). Content-Type is
 * application/json unless no_body.
 */
char *resp_serialize(const struct response *r, const char *request_id, int64_t duration_ms,
                     size_t *len);

#endif
