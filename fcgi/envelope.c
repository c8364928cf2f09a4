/* SPDX-License-Identifier: MIT */
/*
 * Response building and the JSON envelope. Pure: no FastCGI, no database,
 * so that the unit tests can check every byte of what nginx will receive.
 */
#include "envelope.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "log.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

void resp_init(struct response *r)
{
	memset(r, 0, sizeof(*r));
}

void resp_clear(struct response *r)
{
	json_object_put(r->result);
	json_object_put(r->error);
	json_object_put(r->meta);
	resp_init(r);
}

int resp_header(struct response *r, const char *name, const char *fmt, ...)
{
	char val[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	/* a CR or LF in a value would let it forge headers */
	if (n < 0 || (size_t)n >= sizeof(val) || strpbrk(val, "\r\n") != NULL)
		goto fail;
	n = snprintf(r->headers + r->hlen, sizeof(r->headers) - r->hlen, "%s: %s\r\n", name, val);
	if (n < 0 || (size_t)n >= sizeof(r->headers) - r->hlen)
		goto fail;
	r->hlen += (size_t)n;
	return 0;
fail:
	r->headers[r->hlen] = '\0';
	log_warn("response header %s dropped (too long or invalid)", name);
	return -1;
}

void resp_ok(struct response *r, int status, struct json_object *result)
{
	json_object_put(r->result);
	json_object_put(r->error);
	r->error = NULL;
	r->result = result;
	r->status = status;
}

void resp_list(struct response *r, struct json_object *arr, int64_t total, int limit, int offset)
{
	resp_ok(r, 200, arr);
	json_object_put(r->meta);
	r->meta = json_object_new_object();
	json_object_object_add(r->meta, "count",
	                       json_object_new_int64((int64_t)json_object_array_length(arr)));
	json_object_object_add(r->meta, "total", json_object_new_int64(total));
	json_object_object_add(r->meta, "limit", json_object_new_int(limit));
	json_object_object_add(r->meta, "offset", json_object_new_int(offset));
}

void resp_error(struct response *r, int status, const char *type, const char *fmt, ...)
{
	char detail[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	json_object_put(r->result);
	json_object_put(r->error);
	json_object_put(r->meta);
	r->result = NULL;
	r->meta = NULL;
	r->no_body = false;
	r->error = json_object_new_object();
	json_object_object_add(r->error, "type",
	                       json_object_new_string(type ? type : http_error_type(status)));
	json_object_object_add(r->error, "detail", json_object_new_string(detail));
	r->status = status;
}

void resp_error_add(struct response *r, const char *key, struct json_object *val)
{
	if (r->error == NULL) {
		json_object_put(val);
		return;
	}
	json_object_object_add(r->error, key, val);
}

static const struct {
	int status;
	const char *reason, *type;
} statuses[] = {
    {200, "OK", NULL},
    {201, "Created", NULL},
    {202, "Accepted", NULL},
    {204, "No Content", NULL},
    {400, "Bad Request", "bad_request"},
    {401, "Unauthorized", "unauthorized"},
    {403, "Forbidden", "forbidden"},
    {404, "Not Found", "not_found"},
    {405, "Method Not Allowed", "method_not_allowed"},
    {409, "Conflict", "conflict"},
    {413, "Payload Too Large", "payload_too_large"},
    {415, "Unsupported Media Type", "unsupported_media_type"},
    {422, "Unprocessable Entity", "validation_error"},
    {429, "Too Many Requests", "rate_limited"},
    {500, "Internal Server Error", "internal"},
    {503, "Service Unavailable", "unavailable"},
};

const char *http_reason(int status)
{
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (statuses[i].status == status)
			return statuses[i].reason;
	return "Unknown";
}

const char *http_error_type(int status)
{
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (statuses[i].status == status && statuses[i].type != NULL)
			return statuses[i].type;
	return status >= 500 ? "internal" : "bad_request";
}

/* Copies every member of src into dst (references taken). */
static void merge_into(struct json_object *dst, struct json_object *src)
{
	if (src == NULL)
		return;
	json_object_object_foreach(src, k, v) json_object_object_add(dst, k, json_object_get(v));
}

char *env_render(const struct response *r, const char *request_id, int64_t duration_ms, size_t *len)
{
	struct json_object *root = json_object_new_object(), *meta = json_object_new_object();
	const char *txt;
	char *out = NULL;
	size_t n;

	if (root == NULL || meta == NULL)
		goto done;
	if (r->error != NULL)
		json_object_object_add(root, "error", json_object_get(r->error));
	else
		json_object_object_add(root, "result", json_object_get(r->result));
	json_object_object_add(meta, "request_id",
	                       request_id ? json_object_new_string(request_id) : NULL);
	json_object_object_add(meta, "duration_ms", json_object_new_int64(duration_ms));
	merge_into(meta, r->meta);
	json_object_object_add(root, "meta", meta);
	meta = NULL;
	txt = json_object_to_json_string_length(root, JSON_FLAGS, &n);
	out = txt ? malloc(n + 1) : NULL;
	if (out != NULL) {
		memcpy(out, txt, n + 1);
		if (len != NULL)
			*len = n;
	}
done:
	json_object_put(meta);
	json_object_put(root);
	return out;
}

int resp_from_stored(struct response *r, int status, const char *text)
{
	struct json_object *root = json_tokener_parse(text), *x;

	if (root == NULL || !json_object_is_type(root, json_type_object))
		goto fail;
	resp_clear(r);
	r->status = status;
	if (json_object_object_get_ex(root, "error", &x))
		r->error = json_object_get(x);
	else if (json_object_object_get_ex(root, "result", &x))
		r->result = json_object_get(x);
	if (json_object_object_get_ex(root, "meta", &x) &&
	    json_object_is_type(x, json_type_object)) {
		r->meta = json_object_new_object();
		json_object_object_foreach(x, k, v)
		{
			if (strcmp(k, "request_id") != 0 && strcmp(k, "duration_ms") != 0)
				json_object_object_add(r->meta, k, json_object_get(v));
		}
	}
	json_object_put(root);
	return 0;
fail:
	json_object_put(root);
	return -1;
}

char *resp_serialize(const struct response *r, const char *request_id, int64_t duration_ms,
                     size_t *len)
{
	char *body = NULL, *out = NULL;
	size_t blen = 0, cap;
	int n;

	if (!r->no_body && r->status != 204) {
		body = env_render(r, request_id, duration_ms, &blen);
		if (body == NULL)
			return NULL;
	}
	cap = r->hlen + blen + 256;
	out = malloc(cap);
	if (out == NULL)
		goto done;
	n = snprintf(out, cap, "Status: %d %s\r\n%s%s\r\n", r->status, http_reason(r->status),
	             r->headers, body ? "Content-Type: application/json\r\n" : "");
	if (n < 0 || (size_t)n >= cap) {
		free(out);
		out = NULL;
		goto done;
	}
	if (body != NULL)
		memcpy(out + n, body, blen);
	out[(size_t)n + blen] = '\0'; /* cap has room: the header line is far below 256 */
	*len = (size_t)n + blen;
done:
	free(body);
	return out;
}
