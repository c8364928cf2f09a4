/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for fcgi/envelope.c (the docs/api.md envelope, status lines,
 * headers, idempotent replay) and the JSON/Content-Type helpers of
 * fcgi/request.c.
 */
#include "envelope.h"
#include "request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "unit.h"

/* Renders r and returns the parsed body (caller puts). */
static struct json_object *render(const struct response *r, const char *rid)
{
	char *txt = env_render(r, rid, 7, NULL);
	struct json_object *o = txt ? json_tokener_parse(txt) : NULL;

	free(txt);
	return o;
}

static const char *path_str(struct json_object *o, const char *a, const char *b)
{
	struct json_object *x;

	if (!json_object_object_get_ex(o, a, &x))
		return NULL;
	if (b != NULL && !json_object_object_get_ex(x, b, &x))
		return NULL;
	return json_object_get_string(x);
}

static void test_ok(void)
{
	struct response r;
	struct json_object *o, *x;

	resp_init(&r);
	resp_ok(&r, 200, json_object_new_string("pong"));
	o = render(&r, "req-1");
	CHECK(o != NULL && strcmp(path_str(o, "result", NULL), "pong") == 0);
	CHECK(strcmp(path_str(o, "meta", "request_id"), "req-1") == 0);
	CHECK(json_object_object_get_ex(o, "meta", &x) &&
	      json_object_object_get_ex(x, "duration_ms", &x) && json_object_get_int(x) == 7);
	CHECK(!json_object_object_get_ex(o, "error", &x));
	json_object_put(o);
	resp_clear(&r);
}

static void test_error(void)
{
	struct response r;
	struct json_object *o;

	resp_init(&r);
	resp_ok(&r, 200, json_object_new_int(1));
	resp_error(&r, 422, "validation_error", "spec.name: %s", "is required");
	CHECK(r.status == 422);
	o = render(&r, NULL);
	CHECK(strcmp(path_str(o, "error", "type"), "validation_error") == 0);
	CHECK(strcmp(path_str(o, "error", "detail"), "spec.name: is required") == 0);
	CHECK(!json_object_object_get_ex(o, "result", NULL));
	json_object_put(o);
	resp_error(&r, 404, NULL, "x");
	o = render(&r, NULL);
	CHECK(strcmp(path_str(o, "error", "type"), "not_found") == 0);
	json_object_put(o);
	resp_clear(&r);
	CHECK(strcmp(http_error_type(405), "method_not_allowed") == 0);
	CHECK(strcmp(http_error_type(413), "payload_too_large") == 0);
	CHECK(strcmp(http_error_type(503), "unavailable") == 0);
	CHECK(strcmp(http_reason(202), "Accepted") == 0);
}

static void test_list(void)
{
	struct response r;
	struct json_object *o, *arr = json_object_new_array(), *m, *x;

	json_object_array_add(arr, json_object_new_int(1));
	json_object_array_add(arr, json_object_new_int(2));
	resp_init(&r);
	resp_list(&r, arr, 10, 2, 4);
	o = render(&r, "a");
	CHECK(json_object_object_get_ex(o, "meta", &m));
	CHECK(json_object_object_get_ex(m, "count", &x) && json_object_get_int(x) == 2);
	CHECK(json_object_object_get_ex(m, "total", &x) && json_object_get_int(x) == 10);
	CHECK(json_object_object_get_ex(m, "limit", &x) && json_object_get_int(x) == 2);
	CHECK(json_object_object_get_ex(m, "offset", &x) && json_object_get_int(x) == 4);
	json_object_put(o);
	resp_clear(&r);
}

static void test_serialize(void)
{
	struct response r;
	size_t len;
	char *s;

	resp_init(&r);
	resp_ok(&r, 201, NULL);
	CHECK(resp_header(&r, "Location", "/api/v1/x") == 0);
	CHECK(resp_header(&r, "X-Bad", "a\r\nSet-Cookie: evil") < 0);
	s = resp_serialize(&r, "id", 0, &len);
	CHECK(s != NULL && strncmp(s, "Status: 201 Created\r\nLocation: /api/v1/x\r\n", 42) == 0);
	CHECK(s != NULL &&
	      strstr(s, "Content-Type: application/json\r\n\r\n{\"result\":null") != NULL);
	CHECK(s != NULL && strstr(s, "evil") == NULL);
	CHECK(s != NULL && len == strlen(s));
	free(s);
	resp_clear(&r);
	/* X-Accel-Redirect answers have headers only */
	r.status = 200;
	r.no_body = true;
	resp_header(&r, "X-Accel-Redirect", "/_hostagent/artifacts/abc");
	s = resp_serialize(&r, "id", 0, &len);
	CHECK(s != NULL &&
	      strcmp(s, "Status: 200 OK\r\nX-Accel-Redirect: /_hostagent/artifacts/abc\r\n\r\n") ==
	          0);
	free(s);
	resp_clear(&r);
}

static void test_replay(void)
{
	struct response r, back;
	struct json_object *o;
	char *txt;

	resp_init(&r);
	resp_init(&back);
	resp_ok(&r, 202, json_tokener_parse("{\"command\":{\"id\":5}}"));
	txt = env_render(&r, "first", 3, NULL);
	CHECK(resp_from_stored(&back, 202, txt) == 0 && back.status == 202);
	o = render(&back, "second");
	CHECK(strcmp(path_str(o, "meta", "request_id"), "second") == 0);
	CHECK(strstr(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), "\"id\":5") !=
	      NULL);
	CHECK(resp_from_stored(&back, 200, "not json") < 0);
	json_object_put(o);
	free(txt);
	resp_clear(&r);
	resp_clear(&back);
}

static void test_json_and_types(void)
{
	struct json_object *o;
	char err[128];

	CHECK(req_json_parse("{\"a\":1} \n", 9, &o, err, sizeof(err)) == 0 && o != NULL);
	json_object_put(o);
	CHECK(req_json_parse("{\"a\":1} {}", 10, &o, err, sizeof(err)) < 0 && o == NULL);
	CHECK(req_json_parse("{\"a\":", 5, &o, err, sizeof(err)) < 0 && o == NULL);
	CHECK(req_json_parse("[1,]", 4, &o, err, sizeof(err)) < 0);
	CHECK(req_json_parse("\"x\"", 3, &o, err, sizeof(err)) == 0 &&
	      json_object_is_type(o, json_type_string));
	json_object_put(o);
	CHECK(req_content_type_is("application/json", "application/json"));
	CHECK(req_content_type_is("Application/JSON; charset=utf-8", "application/json"));
	CHECK(!req_content_type_is("application/jsonx", "application/json"));
	CHECK(!req_content_type_is("text/plain", "application/json"));
	CHECK(!req_content_type_is(NULL, "application/json"));
	CHECK(req_content_type_is("multipart/form-data; boundary=x", "multipart/form-data"));
}

int main(void)
{
	test_ok();
	test_error();
	test_list();
	test_serialize();
	test_replay();
	test_json_and_types();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
