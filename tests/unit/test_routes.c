/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for fcgi/routes.c (the matcher and the real API table) and the
 * pure parts of fcgi/request.c (percent-decoding and query strings).
 */
#include "request.h"
#include "routes.h"

#include <stdio.h>
#include <string.h>

#include "unit.h"

static const struct route *rt;
static char params[ROUTE_MAX_PARAMS][ROUTE_PARAM_LEN];
static size_t np;
static char allow[128];

static enum route_result m(const char *method, const char *path)
{
	rt = NULL;
	np = 0;
	allow[0] = '\0';
	return route_match(route_table, route_table_len, method, path, &rt, params, &np, allow,
	                   sizeof(allow));
}

static void test_table(void)
{
	CHECK(m("GET", "/") == ROUTE_FOUND && strcmp(rt->name, "root") == 0);
	CHECK(m("GET", "/ping") == ROUTE_FOUND && rt->scope == SCOPE_NONE);
	CHECK(m("POST", "/ping") == ROUTE_FOUND);
	CHECK(m("HEAD", "/ping") == ROUTE_FOUND && strcmp(rt->method, "GET") == 0);
	CHECK(m("DELETE", "/ping") == ROUTE_BAD_METHOD && strcmp(allow, "GET, HEAD, POST") == 0);
	CHECK(m("GET", "/nope") == ROUTE_NOT_FOUND);
	CHECK(m("GET", "/api/v1") == ROUTE_NOT_FOUND);
	CHECK(m("GET", "/api/v1/tokens/") == ROUTE_FOUND && strcmp(rt->name, "tokens.list") == 0);
	CHECK(m("POST", "/api/v1/tokens") == ROUTE_FOUND && rt->scope == SCOPE_ADMIN &&
	      (rt->flags & RF_JSON) && (rt->flags & RF_IDEMPOTENT));
	CHECK(m("PUT", "/api/v1/tokens") == ROUTE_BAD_METHOD &&
	      strcmp(allow, "GET, HEAD, POST") == 0);
	CHECK(m("GET", "/api/v1/projects/web") == ROUTE_FOUND && np == 1 &&
	      strcmp(params[0], "web") == 0 && rt->scope == SCOPE_READ);
	CHECK(m("DELETE", "/api/v1/projects/web") == ROUTE_FOUND && rt->scope == SCOPE_OPERATE);
	/* state changes are POST only: a GET on them is 405, not a silent action */
	CHECK(m("GET", "/api/v1/projects/web/start") == ROUTE_BAD_METHOD &&
	      strcmp(allow, "POST") == 0);
	CHECK(m("GET", "/api/v1/projects/web/logs/stdout") == ROUTE_FOUND && np == 2 &&
	      strcmp(params[0], "web") == 0 && strcmp(params[1], "stdout") == 0);
	CHECK(m("GET", "/api/v1/projects/web/logs") == ROUTE_FOUND &&
	      strcmp(rt->name, "projects.logs") == 0);
	CHECK(m("GET", "/api/v1/projects/web/nothing") == ROUTE_NOT_FOUND);
	CHECK(m("POST", "/api/v1/artifacts") == ROUTE_FOUND && (rt->flags & RF_RAW));
	CHECK(m("GET", "/api/v1/artifacts/abc/download") == ROUTE_FOUND &&
	      strcmp(params[0], "abc") == 0);
	CHECK(m("POST", "/api/v1/projects") == ROUTE_FOUND && (rt->flags & RF_MULTIPART));
	CHECK(m("GET", "/api/v1/agent/logs") == ROUTE_FOUND && rt->scope == SCOPE_ADMIN);
}

static int dummy(struct request *req, struct response *resp)
{
	(void)req;
	(void)resp;
	return 0;
}

static void test_specificity(void)
{
	static const struct route t[] = {
	    {"GET", "/x/{id}", SCOPE_READ, 0, dummy, "by-id"},
	    {"POST", "/x/special", SCOPE_READ, 0, dummy, "special"},
	    {"GET", "/x/{id}/y/{z}", SCOPE_READ, 0, dummy, "two"},
	};
	char longseg[400];

	rt = NULL;
	/* a literal segment wins over a parameter, so GET /x/special is 405, not by-id */
	CHECK(route_match(t, 3, "GET", "/x/special", &rt, params, &np, allow, sizeof(allow)) ==
	          ROUTE_BAD_METHOD &&
	      strcmp(allow, "POST") == 0);
	CHECK(route_match(t, 3, "GET", "/x/other", &rt, params, &np, allow, sizeof(allow)) ==
	          ROUTE_FOUND &&
	      strcmp(rt->name, "by-id") == 0 && strcmp(params[0], "other") == 0);
	CHECK(route_match(t, 3, "GET", "/x/a/y/b", &rt, params, &np, allow, sizeof(allow)) ==
	          ROUTE_FOUND &&
	      np == 2 && strcmp(params[1], "b") == 0);
	memset(longseg, 'a', sizeof(longseg));
	memcpy(longseg, "/x/", 3);
	longseg[sizeof(longseg) - 1] = '\0';
	CHECK(route_match(t, 3, "GET", longseg, &rt, params, &np, allow, sizeof(allow)) ==
	      ROUTE_NOT_FOUND);
}

static void test_decode(void)
{
	char a[] = "a%20b+c", b[] = "%zz", c[] = "%00", d[] = "%41%4a%4B", e[] = "100%";

	CHECK(url_decode(a, true) == 0 && strcmp(a, "a b c") == 0);
	CHECK(url_decode(b, true) < 0);
	CHECK(url_decode(c, true) < 0);
	CHECK(url_decode(d, false) == 0 && strcmp(d, "AJK") == 0);
	CHECK(url_decode(e, false) < 0);
}

static void test_query(void)
{
	struct request r;
	char many[400] = "";

	memset(&r, 0, sizeof(r));
	CHECK(req_query_parse(&r, "tail=10&follow=true&task=a%2Fb&flag&e=") == 0);
	CHECK(r.n_query == 5);
	CHECK(req_query(&r, "tail") && strcmp(req_query(&r, "tail"), "10") == 0);
	CHECK(req_query(&r, "task") && strcmp(req_query(&r, "task"), "a/b") == 0);
	CHECK(req_query(&r, "flag") && strcmp(req_query(&r, "flag"), "") == 0);
	CHECK(req_query(&r, "e") && *req_query(&r, "e") == '\0');
	CHECK(req_query(&r, "nope") == NULL);
	CHECK(req_query_parse(&r, "a=%ZZ") < 0);
	CHECK(req_query_parse(&r, "") == 0 && r.n_query == 0);
	for (int i = 0; i < REQ_MAX_QUERY + 1; i++)
		strcat(many, "k=v&");
	CHECK(req_query_parse(&r, many) < 0);
	req_clear(&r);
}

int main(void)
{
	test_table();
	test_specificity();
	test_decode();
	test_query();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
