/* SPDX-License-Identifier: MIT */
/*
 * One FastCGI request as the handlers see it: method, path, decoded query,
 * the headers nginx passes as params, the body (a file nginx wrote, or
 * stdin spooled/read with its length checked) and the identity auth found.
 * The query and body parsing are pure so that the unit tests can drive them
 * without libfcgi.
 */
#ifndef HOSTAGENT_REQUEST_H
#define HOSTAGENT_REQUEST_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <fcgiapp.h>

#include "routes.h"
#include "store_tokens.h"

struct config;
struct json_object;
struct response;

#define REQ_MAX_QUERY 32

struct req_kv {
	const char *key, *value; /* point into query_buf */
};

struct request {
	FCGX_Request *fx;         /* borrowed; NULL in unit tests */
	const struct config *cfg; /* borrowed */
	struct store *store;      /* borrowed; NULL when the database cannot be opened */
	int64_t start_mono;       /* util_mono_ms() at arrival */
	char method[16];
	const char *path; /* DOCUMENT_URI, or REQUEST_URI without its query */
	char *path_buf;   /* owned when path had to be copied */
	struct req_kv query[REQ_MAX_QUERY];
	size_t n_query;
	char *query_buf; /* owned: decoded copy of QUERY_STRING */
	const char *authorization, *idem_key, *content_type, *body_file, *last_event_id;
	char request_id[64]; /* REQUEST_ID, or a generated one */
	bool auth_only;      /* nginx's auth_request before it reads a body (HOSTAGENT_AUTH_ONLY) */
	int64_t content_length; /* -1 when absent */
	/* filled by the router */
	const struct route *route;
	char params[ROUTE_MAX_PARAMS][ROUTE_PARAM_LEN];
	size_t n_params;
	/* filled by auth */
	bool authed;
	bool touch_due; /* last_used_at to refresh once no transaction is open (auth_touch) */
	struct store_token token;
	unsigned scopes;
	/* body: at most one of body (memory) and body_fd (file) is set */
	unsigned char *body; /* owned, NUL-terminated, malloc'd or mmap'd */
	size_t body_len;
	bool body_mapped;         /* body came from mmap(2) */
	int body_fd;              /* owned, -1 when none */
	uint64_t body_size;       /* size of the body file */
	char body_path[PATH_MAX]; /* the file to unlink when the request ends, "" none */
	char body_sha256[65];     /* of the body, computed for Idempotency-Key */
	bool followed;            /* the upload inspector judged body_fd (fcgi/inspector.c) */
	struct json_object *json; /* owned: the parsed JSON body, NULL when empty */
};

/*
 * Fills r from the FastCGI params of fx (borrowed for r's lifetime). 0, or
 * -1 when the query string cannot be parsed (resp gets a 400).
 */
int req_init(struct request *r, FCGX_Request *fx, const struct config *cfg, struct store *st,
             struct response *resp);
/* Frees what r owns, closes the body fd and unlinks the body file. */
void req_clear(struct request *r);

/* A FastCGI param by name, or NULL. */
const char *req_param(const struct request *r, const char *name);

/*
 * Parses a query string into r->query (percent-decoding, '+' as space).
 * 0, or -1 on a bad escape, a NUL byte or too many parameters.
 */
int req_query_parse(struct request *r, const char *qs);
/* The first value of key, or NULL. Borrowed from r. */
const char *req_query(const struct request *r, const char *key);
/* In-place percent-decoding; plus_space maps '+' to ' '. -1 on a bad escape or %00. */
int url_decode(char *s, bool plus_space);

/* The path parameter at index i (route pattern order). */
const char *req_path_param(const struct request *r, size_t i);

/*
 * Makes the body available as the route's flags ask (RF_JSON, RF_MULTIPART,
 * RF_RAW), enforcing the size caps (413), the Content-Type (415), a complete
 * upload (400 for a cut-off one) and JSON syntax (400). 0, or -1 with resp
 * filled. After it: r->json (JSON), r->body (multipart, mapped) or
 * r->body_fd (raw), and r->body_sha256 when hash is true.
 */
int req_body_load(struct request *r, struct response *resp, bool hash);

/* 1 when the Content-Type's media type equals type (case-insensitive, params ignored). */
int req_content_type_is(const char *content_type, const char *type);

/*
 * Parses text (len bytes) as one JSON value. 0 with *out (owned by the
 * caller, may be any JSON type), or -1 with a reason in err.
 */
int req_json_parse(const char *text, size_t len, struct json_object **out, char *err,
                   size_t errlen);

#endif
