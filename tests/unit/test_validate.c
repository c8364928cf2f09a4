/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for fcgi/validate.c: names, digests, and every field of the
 * deploy spec with its wrong types, limits, defaults and normalization.
 * Specs are written with ' for " to stay readable; J() swaps them back.
 */
#include "validate.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

/* Wraps the fields of a spec around the required ones. */
#define SPEC(...) "{'name':'web','command':['./run']" __VA_ARGS__ "}"

static const char *const users[] = {"app", "www-data"};
static struct validate_opts opts = {users, 2, 0, 0};
static char field[128], msg[256];
static struct json_object *out;

/* Validates a JSON text (with ' for "); out, field and msg keep the result. */
static int run(const char *text)
{
	char *s = strdup(text);
	enum json_tokener_error jerr;
	struct json_object *in;
	int r;

	if (s == NULL)
		abort();
	for (char *p = s; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	in = json_tokener_parse_verbose(s, &jerr);
	if (jerr != json_tokener_success) {
		fprintf(stderr, "bad test JSON: %s\n", s);
		abort();
	}
	free(s);
	json_object_put(out);
	out = (struct json_object *)1; /* must be overwritten */
	field[0] = msg[0] = '\0';
	r = validate_project_spec(in, &opts, &out, field, sizeof(field), msg, sizeof(msg));
	json_object_put(in);
	return r;
}

static int ok(const char *text)
{
	return run(text) == 0 && out != NULL && out != (struct json_object *)1 && field[0] == '\0';
}

/* Fails naming exactly want_field, with a reason and no output. */
static int bad(const char *text, const char *want_field)
{
	int r = run(text);

	if (r != -1 || out != NULL || msg[0] == '\0' || strcmp(field, want_field) != 0) {
		fprintf(stderr, "  %s -> r=%d field=%s msg=%s (want %s)\n", text, r, field, msg,
		        want_field);
		return 0;
	}
	return 1;
}

static int msg_is(const char *s)
{
	return strcmp(msg, s) == 0;
}

static int msg_has(const char *s)
{
	return strstr(msg, s) != NULL;
}

static struct json_object *get(const char *key)
{
	struct json_object *v = NULL;

	if (out == NULL || out == (struct json_object *)1)
		return NULL;
	json_object_object_get_ex(out, key, &v);
	return v;
}

static int str_is(const char *key, const char *want)
{
	struct json_object *v = get(key);

	return json_object_is_type(v, json_type_string) &&
	       strcmp(json_object_get_string(v), want) == 0;
}

/* out[key] serialized compactly equals want (with ' for "). */
static int json_is(const char *key, const char *want)
{
	char w[1024];
	struct json_object *v = NULL;
	const char *got;

	snprintf(w, sizeof(w), "%s", want);
	for (char *p = w; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	if (key != NULL && out != NULL && !json_object_object_get_ex(out, key, &v))
		return 0;
	got = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
	                                            JSON_C_TO_STRING_NOSLASHESCAPE);
	if (strcmp(got, w) != 0) {
		fprintf(stderr, "  %s: got %s want %s\n", key, got, w);
		return 0;
	}
	return 1;
}

/* A spec text with one very long string in it. */
static char *spec_with(const char *before, char fill, size_t n, const char *after)
{
	size_t a = strlen(before), b = strlen(after);
	char *s = malloc(a + n + b + 1);

	if (s == NULL)
		abort();
	memcpy(s, before, a);
	memset(s + a, fill, n);
	memcpy(s + a + n, after, b + 1);
	return s;
}

static void test_names(void)
{
	char n63[64], n64[65];

	memset(n63, 'a', 63);
	n63[63] = '\0';
	memset(n64, 'a', 64);
	n64[64] = '\0';
	CHECK(validate_project_name("a") == 0);
	CHECK(validate_project_name("0") == 0);
	CHECK(validate_project_name("web-1.api_v2") == 0);
	CHECK(validate_project_name("a..") == 0);
	CHECK(validate_project_name(n63) == 0);
	CHECK(validate_project_name(n64) == -1);
	CHECK(validate_project_name("") == -1);
	CHECK(validate_project_name(NULL) == -1);
	CHECK(validate_project_name("Web") == -1);
	CHECK(validate_project_name("wEb") == -1);
	CHECK(validate_project_name("-a") == -1);
	CHECK(validate_project_name(".a") == -1);
	CHECK(validate_project_name("..") == -1);
	CHECK(validate_project_name("_a") == -1);
	CHECK(validate_project_name("a/b") == -1);
	CHECK(validate_project_name("a b") == -1);
	CHECK(validate_project_name("a\n") == -1);
	CHECK(validate_project_name("caf\xc3\xa9") == -1);

	CHECK(validate_sha256_hex(
	          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
	CHECK(validate_sha256_hex(
	          "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855") == -1);
	CHECK(validate_sha256_hex(
	          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85") == -1);
	CHECK(validate_sha256_hex(
	          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555") == -1);
	CHECK(validate_sha256_hex(
	          "g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == -1);
	CHECK(validate_sha256_hex("") == -1);
	CHECK(validate_sha256_hex(NULL) == -1);
}

static void test_defaults(void)
{
	CHECK(ok(SPEC()));
	CHECK(json_object_object_length(out) == 16);
	CHECK(str_is("name", "web"));
	CHECK(json_is("command", "['./run']"));
	CHECK(json_is("artifact", "null"));
	CHECK(json_is("env", "{}"));
	CHECK(str_is("workdir", "."));
	CHECK(str_is("restart", "on-failure"));
	CHECK(str_is("stop_signal", "TERM"));
	CHECK(json_object_is_type(get("stop_timeout"), json_type_double));
	CHECK(json_object_get_double(get("stop_timeout")) == 10.0);
	CHECK(json_is("ports", "[]"));
	CHECK(json_is("limits", "{}"));
	CHECK(json_is("user", "null"));
	CHECK(str_is("control", "signals"));
	CHECK(json_is("health", "null"));
	CHECK(json_is("start", "true"));
	CHECK(json_is("description", "null"));
}

static void test_top_level(void)
{
	struct json_object *o = NULL, *arr = json_object_new_array();

	CHECK(bad("[]", "spec") && msg_has("object"));
	CHECK(bad("'web'", "spec"));
	CHECK(bad("null", "spec"));
	CHECK(bad("{}", "spec.name") && msg_is("is required"));
	CHECK(bad(SPEC(",'colour':'red'"), "spec.colour") && msg_is("unknown field"));
	/* a typo is reported even when required fields are missing too */
	CHECK(bad("{'comand':['x']}", "spec.comand") && msg_is("unknown field"));
	CHECK(bad(SPEC(",'Name':'x'"), "spec.Name"));
	/* NULL buffers and a NULL opts are allowed; NULL out is refused */
	CHECK(validate_project_spec(arr, &opts, &o, NULL, 0, NULL, 0) == -1 && o == NULL);
	CHECK(validate_project_spec(NULL, &opts, &o, field, sizeof(field), msg, sizeof(msg)) == -1);
	CHECK(validate_project_spec(arr, &opts, NULL, field, sizeof(field), msg, sizeof(msg)) ==
	      -1);
	json_object_put(arr);
	/* a short field buffer is truncated, not overrun */
	arr = json_tokener_parse("{\"name\":\"web\",\"command\":[\"a\",\"\"]}");
	CHECK(validate_project_spec(arr, NULL, &o, field, 8, msg, 4) == -1);
	CHECK(strcmp(field, "spec.co") == 0 && strlen(msg) == 3);
	json_object_put(arr);
}

static void test_name_artifact(void)
{
	char *s;

	CHECK(bad("{'command':['x']}", "spec.name") && msg_is("is required"));
	CHECK(bad("{'name':1,'command':['x']}", "spec.name") && msg_is("must be a string"));
	CHECK(bad("{'name':null,'command':['x']}", "spec.name"));
	CHECK(bad("{'name':['web'],'command':['x']}", "spec.name"));
	CHECK(bad("{'name':'Web','command':['x']}", "spec.name") && msg_has("[a-z0-9]"));
	CHECK(bad("{'name':'web\\u0000x','command':['x']}", "spec.name"));
	s = spec_with("{'command':['x'],'name':'", 'a', 64, "'}");
	CHECK(bad(s, "spec.name"));
	free(s);
	s = spec_with("{'command':['x'],'name':'", 'a', 63, "'}");
	CHECK(ok(s));
	free(s);

	CHECK(ok(SPEC(
	    ",'artifact':'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'")));
	CHECK(
	    str_is("artifact", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	CHECK(ok(SPEC(",'artifact':null")) && json_is("artifact", "null"));
	CHECK(bad(SPEC(",'artifact':'"
	               "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855'"),
	          "spec.artifact") &&
	      msg_has("sha256"));
	CHECK(bad(SPEC(",'artifact':'abc'"), "spec.artifact"));
	CHECK(bad(SPEC(",'artifact':1"), "spec.artifact"));
	CHECK(bad(SPEC(",'artifact':{}"), "spec.artifact"));
}

static void test_command(void)
{
	char *s;
	size_t n;

	CHECK(ok("{'name':'web','command':['./run','--port','$PORT_HTTP']}"));
	CHECK(json_is("command", "['./run','--port','$PORT_HTTP']"));
	CHECK(bad("{'name':'web','command':['./run','--port','']}", "spec.command[2]") &&
	      msg_has("empty"));
	CHECK(bad("{'name':'web'}", "spec.command") && msg_is("is required"));
	CHECK(bad("{'name':'web','command':null}", "spec.command"));
	CHECK(bad("{'name':'web','command':'./run'}", "spec.command") && msg_has("array"));
	CHECK(bad("{'name':'web','command':{}}", "spec.command"));
	CHECK(bad("{'name':'web','command':[]}", "spec.command") && msg_has("empty"));
	CHECK(bad("{'name':'web','command':[1]}", "spec.command[0]") && msg_is("must be a string"));
	CHECK(bad("{'name':'web','command':['a',null]}", "spec.command[1]"));
	CHECK(bad("{'name':'web','command':['a',['b']]}", "spec.command[1]"));
	CHECK(bad("{'name':'web','command':['a\\u0000b']}", "spec.command[0]") && msg_has("NUL"));
	CHECK(ok("{'name':'web','command':['a','b c','\\u00e9']}"));
	CHECK(json_is("command", "['a','b c','\xc3\xa9']"));
	s = spec_with("{'name':'web','command':['", 'x', 4095, "']}");
	CHECK(ok(s));
	free(s);
	s = spec_with("{'name':'web','command':['", 'x', 4096, "']}");
	CHECK(bad(s, "spec.command[0]"));
	free(s);
	/* 256 arguments are fine, 257 are not */
	for (n = 256; n <= 257; n++) {
		char big[4096];
		int len = snprintf(big, sizeof(big), "{'name':'web','command':[");

		for (size_t i = 0; i < n; i++)
			len +=
			    snprintf(big + len, sizeof(big) - (size_t)len, "%s'a'", i ? "," : "");
		snprintf(big + len, sizeof(big) - (size_t)len, "]}");
		CHECK(n == 256 ? ok(big) : bad(big, "spec.command"));
		CHECK(n == 257 || json_object_array_length(get("command")) == 256);
	}
}

static void test_env(void)
{
	char big[8000], *s;
	int len;

	CHECK(ok(SPEC(",'env':{'A':'1','_b':'','c9':'x=y','hostagent_x':'lower is fine'}")));
	CHECK(json_is("env", "{'A':'1','_b':'','c9':'x=y','hostagent_x':'lower is fine'}"));
	CHECK(bad(SPEC(",'env':[]"), "spec.env") && msg_has("object"));
	CHECK(bad(SPEC(",'env':'A=1'"), "spec.env"));
	CHECK(bad(SPEC(",'env':null"), "spec.env"));
	CHECK(bad(SPEC(",'env':{'A':1}"), "spec.env.A") && msg_is("must be a string"));
	CHECK(bad(SPEC(",'env':{'A':null}"), "spec.env.A"));
	CHECK(bad(SPEC(",'env':{'A':true}"), "spec.env.A"));
	CHECK(bad(SPEC(",'env':{'A':'a\\u0000b'}"), "spec.env.A"));
	CHECK(bad(SPEC(",'env':{'1A':'x'}"), "spec.env.1A") && msg_has("invalid variable name"));
	CHECK(bad(SPEC(",'env':{'A-B':'x'}"), "spec.env.A-B"));
	CHECK(bad(SPEC(",'env':{'A B':'x'}"), "spec.env.A B"));
	CHECK(bad(SPEC(",'env':{'':'x'}"), "spec.env."));
	CHECK(bad(SPEC(",'env':{'A=B':'x'}"), "spec.env.A=B"));
	CHECK(bad(SPEC(",'env':{'HOSTAGENT_TASK_ID':'x'}"), "spec.env.HOSTAGENT_TASK_ID") &&
	      msg_has("reserved"));
	CHECK(bad(SPEC(",'env':{'HOSTAGENT_':'x'}"), "spec.env.HOSTAGENT_"));
	/* PORT_<NAME> belongs to the agent when that port exists */
	CHECK(bad(SPEC(",'env':{'PORT_HTTP':'80'},'ports':['http']"), "spec.env.PORT_HTTP") &&
	      msg_has("'http'"));
	CHECK(bad(SPEC(",'ports':{'admin_2':0},'env':{'PORT_ADMIN_2':'1'}"),
	          "spec.env.PORT_ADMIN_2"));
	CHECK(ok(SPEC(",'env':{'PORT_HTTP':'80'},'ports':['admin']")));
	/* 256 variables, not 257 */
	for (int n = 256; n <= 257; n++) {
		len = snprintf(big, sizeof(big), "{'name':'web','command':['x'],'env':{");
		for (int i = 0; i < n; i++)
			len += snprintf(big + len, sizeof(big) - (size_t)len, "%s'V%d':'x'",
			                i ? "," : "", i);
		snprintf(big + len, sizeof(big) - (size_t)len, "}}");
		CHECK(n == 256 ? ok(big) : bad(big, "spec.env"));
	}
	s = spec_with("{'name':'web','command':['x'],'env':{'V':'", 'v', 32767, "'}}");
	CHECK(ok(s));
	free(s);
	s = spec_with("{'name':'web','command':['x'],'env':{'V':'", 'v', 32768, "'}}");
	CHECK(bad(s, "spec.env.V"));
	free(s);
	s = spec_with("{'name':'web','command':['x'],'env':{'", 'K', 256, "':'v'}}");
	CHECK(run(s) == -1 && strncmp(field, "spec.env.KKK", 12) == 0);
	free(s);
}

static void test_workdir(void)
{
	CHECK(ok(SPEC(",'workdir':'app'")) && str_is("workdir", "app"));
	CHECK(ok(SPEC(",'workdir':'./app//bin/./'")) && str_is("workdir", "app/bin"));
	CHECK(ok(SPEC(",'workdir':'.'")) && str_is("workdir", "."));
	CHECK(ok(SPEC(",'workdir':'./'")) && str_is("workdir", "."));
	CHECK(ok(SPEC(",'workdir':'.//./'")) && str_is("workdir", "."));
	CHECK(ok(SPEC(",'workdir':'..a/a..b/...'")) && str_is("workdir", "..a/a..b/..."));
	CHECK(ok(SPEC(",'workdir':'.hidden'")) && str_is("workdir", ".hidden"));
	CHECK(bad(SPEC(",'workdir':'/srv/app'"), "spec.workdir") && msg_has("leading '/'"));
	CHECK(bad(SPEC(",'workdir':'..'"), "spec.workdir") && msg_has(".."));
	CHECK(bad(SPEC(",'workdir':'../x'"), "spec.workdir"));
	CHECK(bad(SPEC(",'workdir':'a/../b'"), "spec.workdir"));
	CHECK(bad(SPEC(",'workdir':'a/..'"), "spec.workdir"));
	CHECK(bad(SPEC(",'workdir':'a//..//b'"), "spec.workdir"));
	CHECK(bad(SPEC(",'workdir':''"), "spec.workdir"));
	CHECK(bad(SPEC(",'workdir':'a\\u0000/../..'"), "spec.workdir"));
	CHECK(bad(SPEC(",'workdir':1"), "spec.workdir"));
	CHECK(bad(SPEC(",'workdir':null"), "spec.workdir"));
	CHECK(bad(SPEC(",'workdir':['a']"), "spec.workdir"));
}

static void test_enums(void)
{
	CHECK(ok(SPEC(",'restart':'no'")) && str_is("restart", "no"));
	CHECK(ok(SPEC(",'restart':'always'")) && str_is("restart", "always"));
	CHECK(ok(SPEC(",'restart':'on-failure'")) && str_is("restart", "on-failure"));
	CHECK(bad(SPEC(",'restart':'never'"), "spec.restart") && msg_has("on-failure"));
	CHECK(bad(SPEC(",'restart':'No'"), "spec.restart"));
	CHECK(bad(SPEC(",'restart':'no\\u0000x'"), "spec.restart"));
	CHECK(bad(SPEC(",'restart':false"), "spec.restart"));
	CHECK(bad(SPEC(",'restart':null"), "spec.restart"));
	CHECK(ok(SPEC(",'control':'messages'")) && str_is("control", "messages"));
	CHECK(ok(SPEC(",'control':'signals'")) && str_is("control", "signals"));
	CHECK(bad(SPEC(",'control':'signal'"), "spec.control") && msg_has("messages"));
	CHECK(bad(SPEC(",'control':1"), "spec.control"));
	CHECK(ok(SPEC(",'start':false")) && json_is("start", "false"));
	CHECK(ok(SPEC(",'start':true")) && json_is("start", "true"));
	CHECK(bad(SPEC(",'start':'false'"), "spec.start"));
	CHECK(bad(SPEC(",'start':0"), "spec.start"));
	CHECK(bad(SPEC(",'start':null"), "spec.start"));
}

static void test_stop(void)
{
	CHECK(ok(SPEC(",'stop_signal':'TERM'")) && str_is("stop_signal", "TERM"));
	CHECK(ok(SPEC(",'stop_signal':'SIGINT'")) && str_is("stop_signal", "INT"));
	CHECK(ok(SPEC(",'stop_signal':'sigquit'")) && str_is("stop_signal", "QUIT"));
	CHECK(ok(SPEC(",'stop_signal':'KILL'")) && str_is("stop_signal", "KILL"));
	CHECK(ok(SPEC(",'stop_signal':9")) && str_is("stop_signal", "KILL"));
	CHECK(ok(SPEC(",'stop_signal':'15'")) && str_is("stop_signal", "TERM"));
	CHECK(ok(SPEC(",'stop_signal':1")) && str_is("stop_signal", "HUP"));
	CHECK(ok(SPEC(",'stop_signal':40")) && str_is("stop_signal", "40"));
	CHECK(ok(SPEC(",'stop_signal':64")) && str_is("stop_signal", "64"));
	CHECK(ok(SPEC(",'stop_signal':'40'")) && str_is("stop_signal", "40"));
	CHECK(bad(SPEC(",'stop_signal':0"), "spec.stop_signal") && msg_has("1 to 64"));
	CHECK(bad(SPEC(",'stop_signal':65"), "spec.stop_signal"));
	CHECK(bad(SPEC(",'stop_signal':-15"), "spec.stop_signal"));
	CHECK(bad(SPEC(",'stop_signal':'0'"), "spec.stop_signal"));
	CHECK(bad(SPEC(",'stop_signal':'BOGUS'"), "spec.stop_signal") &&
	      msg_has("unknown signal 'BOGUS'"));
	CHECK(bad(SPEC(",'stop_signal':''"), "spec.stop_signal"));
	CHECK(bad(SPEC(",'stop_signal':'TERM\\u0000'"), "spec.stop_signal"));
	CHECK(bad(SPEC(",'stop_signal':15.0"), "spec.stop_signal"));
	CHECK(bad(SPEC(",'stop_signal':true"), "spec.stop_signal"));
	CHECK(bad(SPEC(",'stop_signal':null"), "spec.stop_signal"));
	CHECK(bad(SPEC(",'stop_signal':['TERM']"), "spec.stop_signal"));

	CHECK(ok(SPEC(",'stop_timeout':0")) && json_object_get_double(get("stop_timeout")) == 0);
	CHECK(ok(SPEC(",'stop_timeout':-0.0")) && json_is("stop_timeout", "0.0"));
	CHECK(ok(SPEC(",'stop_timeout':3600")) &&
	      json_object_get_double(get("stop_timeout")) == 3600);
	CHECK(ok(SPEC(",'stop_timeout':2.5")) &&
	      json_object_get_double(get("stop_timeout")) == 2.5);
	CHECK(json_object_is_type(get("stop_timeout"), json_type_double));
	CHECK(bad(SPEC(",'stop_timeout':-1"), "spec.stop_timeout") && msg_has("0 to 3600"));
	CHECK(bad(SPEC(",'stop_timeout':-0.5"), "spec.stop_timeout"));
	CHECK(bad(SPEC(",'stop_timeout':3600.5"), "spec.stop_timeout"));
	CHECK(bad(SPEC(",'stop_timeout':1e300"), "spec.stop_timeout"));
	CHECK(bad(SPEC(",'stop_timeout':'10'"), "spec.stop_timeout"));
	CHECK(bad(SPEC(",'stop_timeout':null"), "spec.stop_timeout"));
	CHECK(bad(SPEC(",'stop_timeout':true"), "spec.stop_timeout"));
}

static void test_ports(void)
{
	char big[2048];
	int len;

	CHECK(ok(SPEC(",'ports':['http','admin']")));
	CHECK(json_is("ports", "[{'name':'http','port':0},{'name':'admin','port':0}]"));
	CHECK(ok(SPEC(",'ports':[{'name':'http','port':8080},{'name':'admin'},'metrics']")));
	CHECK(json_is("ports", "[{'name':'http','port':8080},{'name':'admin','port':0},"
	                       "{'name':'metrics','port':0}]"));
	CHECK(ok(SPEC(",'ports':{'http':0,'admin':9000}")));
	CHECK(json_is("ports", "[{'name':'http','port':0},{'name':'admin','port':9000}]"));
	CHECK(ok(SPEC(",'ports':[]")) && json_is("ports", "[]"));
	CHECK(ok(SPEC(",'ports':{}")) && json_is("ports", "[]"));
	CHECK(ok(SPEC(",'ports':['a','b_2','c0123456789012345678901234567890']")));
	CHECK(ok(SPEC(",'ports':{'a':1,'b':65535,'c':0,'d':0}")));
	/* duplicates */
	CHECK(bad(SPEC(",'ports':['http','admin','http']"), "spec.ports") &&
	      msg_is("duplicate port name 'http'"));
	CHECK(bad(SPEC(",'ports':['http',{'name':'http','port':80}]"), "spec.ports") &&
	      msg_is("duplicate port name 'http'"));
	CHECK(bad(SPEC(",'ports':{'a':9000,'b':9000}"), "spec.ports") &&
	      msg_is("duplicate port 9000"));
	CHECK(bad(SPEC(",'ports':[{'name':'a','port':1},{'name':'b','port':1}]"), "spec.ports"));
	/* names */
	CHECK(bad(SPEC(",'ports':['Http']"), "spec.ports[0]") && msg_has("[a-z][a-z0-9_]"));
	CHECK(bad(SPEC(",'ports':['ok','1a']"), "spec.ports[1]"));
	CHECK(bad(SPEC(",'ports':['a-b']"), "spec.ports[0]"));
	CHECK(bad(SPEC(",'ports':['_a']"), "spec.ports[0]"));
	CHECK(bad(SPEC(",'ports':['']"), "spec.ports[0]"));
	CHECK(bad(SPEC(",'ports':['a\\u0000']"), "spec.ports[0]"));
	CHECK(bad(SPEC(",'ports':['c01234567890123456789012345678901']"), "spec.ports[0]"));
	CHECK(bad(SPEC(",'ports':[{'name':'A'}]"), "spec.ports[0].name"));
	CHECK(bad(SPEC(",'ports':[{'name':1}]"), "spec.ports[0].name"));
	CHECK(bad(SPEC(",'ports':[{'port':80}]"), "spec.ports[0].name") && msg_is("is required"));
	CHECK(bad(SPEC(",'ports':{'Http':0}"), "spec.ports.Http"));
	CHECK(bad(SPEC(",'ports':{'':0}"), "spec.ports."));
	/* port numbers and types */
	CHECK(bad(SPEC(",'ports':[{'name':'a','port':-1}]"), "spec.ports[0].port") &&
	      msg_has("65535"));
	CHECK(bad(SPEC(",'ports':[{'name':'a','port':65536}]"), "spec.ports[0].port"));
	CHECK(bad(SPEC(",'ports':[{'name':'a','port':'80'}]"), "spec.ports[0].port"));
	CHECK(bad(SPEC(",'ports':[{'name':'a','port':80.5}]"), "spec.ports[0].port"));
	CHECK(bad(SPEC(",'ports':[{'name':'a','port':null}]"), "spec.ports[0].port"));
	CHECK(
	    bad(SPEC(",'ports':[{'name':'a','port':18446744073709551615}]"), "spec.ports[0].port"));
	CHECK(bad(SPEC(",'ports':{'a':-1}"), "spec.ports.a"));
	CHECK(bad(SPEC(",'ports':{'a':'80'}"), "spec.ports.a"));
	CHECK(bad(SPEC(",'ports':{'a':null}"), "spec.ports.a"));
	CHECK(bad(SPEC(",'ports':[{'name':'a','proto':'tcp'}]"), "spec.ports[0].proto") &&
	      msg_is("unknown field"));
	CHECK(bad(SPEC(",'ports':[1]"), "spec.ports[0]"));
	CHECK(bad(SPEC(",'ports':['a',null]"), "spec.ports[1]"));
	CHECK(bad(SPEC(",'ports':[['a']]"), "spec.ports[0]"));
	CHECK(bad(SPEC(",'ports':'http'"), "spec.ports"));
	CHECK(bad(SPEC(",'ports':null"), "spec.ports"));
	CHECK(bad(SPEC(",'ports':80"), "spec.ports"));
	/* 32 ports, not 33, in both forms */
	for (int n = 32; n <= 33; n++) {
		len = snprintf(big, sizeof(big), "{'name':'web','command':['x'],'ports':[");
		for (int i = 0; i < n; i++)
			len += snprintf(big + len, sizeof(big) - (size_t)len, "%s'p%d'",
			                i ? "," : "", i);
		snprintf(big + len, sizeof(big) - (size_t)len, "]}");
		CHECK(n == 32 ? ok(big) : bad(big, "spec.ports"));
		len = snprintf(big, sizeof(big), "{'name':'web','command':['x'],'ports':{");
		for (int i = 0; i < n; i++)
			len += snprintf(big + len, sizeof(big) - (size_t)len, "%s'p%d':0",
			                i ? "," : "", i);
		snprintf(big + len, sizeof(big) - (size_t)len, "}}");
		CHECK(n == 32 ? ok(big) : bad(big, "spec.ports"));
	}
	/* the configured range applies to fixed ports only */
	opts.port_min = 1024;
	opts.port_max = 9000;
	CHECK(bad(SPEC(",'ports':{'a':80}"), "spec.ports.a") && msg_has("1024-9000"));
	CHECK(bad(SPEC(",'ports':[{'name':'a','port':9001}]"), "spec.ports[0].port"));
	CHECK(ok(SPEC(",'ports':{'a':1024,'b':9000,'c':0}")));
	opts.port_min = 0;
	CHECK(ok(SPEC(",'ports':{'a':1}")));
	CHECK(bad(SPEC(",'ports':{'a':9001}"), "spec.ports.a") && msg_has("1-9000"));
	opts.port_max = 0;
	CHECK(ok(SPEC(",'ports':{'a':65535}")));
}

static void test_limits(void)
{
	CHECK(ok(SPEC(",'limits':{'memory':1048576,'open_files':1024,'processes':64,"
	              "'cpu_seconds':60,'file_size':'10m','cpu':0.5}")));
	CHECK(json_is("limits", "{'memory':1048576,'file_size':10485760,'open_files':1024,"
	                        "'processes':64,'cpu_seconds':60,'cpu':0.5}"));
	CHECK(ok(SPEC(",'limits':{'memory':'512m'}")) && json_is("limits", "{'memory':536870912}"));
	CHECK(ok(SPEC(",'limits':{'memory':'1g'}")) && json_is("limits", "{'memory':1073741824}"));
	CHECK(ok(SPEC(",'limits':{'memory':'64k','file_size':1}")) &&
	      json_is("limits", "{'memory':65536,'file_size':1}"));
	CHECK(ok(SPEC(",'limits':{'memory':'100'}")) && json_is("limits", "{'memory':100}"));
	CHECK(ok(SPEC(",'limits':{}")) && json_is("limits", "{}"));
	CHECK(bad(SPEC(",'limits':{'memory':0}"), "spec.limits.memory") && msg_has("positive"));
	CHECK(bad(SPEC(",'limits':{'memory':'0'}"), "spec.limits.memory"));
	CHECK(bad(SPEC(",'limits':{'memory':'0m'}"), "spec.limits.memory"));
	CHECK(bad(SPEC(",'limits':{'memory':-5}"), "spec.limits.memory"));
	CHECK(bad(SPEC(",'limits':{'memory':'12x'}"), "spec.limits.memory"));
	CHECK(bad(SPEC(",'limits':{'memory':'-1m'}"), "spec.limits.memory"));
	CHECK(bad(SPEC(",'limits':{'memory':''}"), "spec.limits.memory"));
	CHECK(bad(SPEC(",'limits':{'memory':'16777216t'}"), "spec.limits.memory"));
	CHECK(bad(SPEC(",'limits':{'memory':'8388608t'}"), "spec.limits.memory")); /* 2^63 */
	CHECK(bad(SPEC(",'limits':{'memory':1.5}"), "spec.limits.memory"));
	CHECK(bad(SPEC(",'limits':{'memory':true}"), "spec.limits.memory"));
	CHECK(bad(SPEC(",'limits':{'memory':null}"), "spec.limits.memory"));
	CHECK(bad(SPEC(",'limits':{'memory':18446744073709551615}"), "spec.limits.memory"));
	CHECK(ok(SPEC(",'limits':{'memory':9223372036854775807}")));
	CHECK(bad(SPEC(",'limits':{'file_size':'1q'}"), "spec.limits.file_size"));
	CHECK(bad(SPEC(",'limits':{'open_files':'1024'}"), "spec.limits.open_files") &&
	      msg_has("positive integer"));
	CHECK(bad(SPEC(",'limits':{'open_files':0}"), "spec.limits.open_files"));
	CHECK(bad(SPEC(",'limits':{'processes':-1}"), "spec.limits.processes"));
	/* pids.max takes no more than PID_MAX_LIMIT */
	CHECK(ok(SPEC(",'limits':{'processes':4194304}")));
	CHECK(bad(SPEC(",'limits':{'processes':4194305}"), "spec.limits.processes") &&
	      msg_has("from 1 to 4194304"));
	CHECK(bad(SPEC(",'limits':{'cpu_seconds':1.5}"), "spec.limits.cpu_seconds"));
	CHECK(bad(SPEC(",'limits':{'cpu_seconds':null}"), "spec.limits.cpu_seconds"));
	/* cpu is cores: a number from 0.01 (cpu.max's smallest quota) to 1024 */
	CHECK(ok(SPEC(",'limits':{'cpu':2}")) && json_is("limits", "{'cpu':2.0}"));
	CHECK(ok(SPEC(",'limits':{'cpu':0.01}")));
	CHECK(ok(SPEC(",'limits':{'cpu':1024}")));
	CHECK(bad(SPEC(",'limits':{'cpu':0}"), "spec.limits.cpu") && msg_has("CPU cores"));
	CHECK(bad(SPEC(",'limits':{'cpu':0.001}"), "spec.limits.cpu"));
	CHECK(bad(SPEC(",'limits':{'cpu':-1}"), "spec.limits.cpu"));
	CHECK(bad(SPEC(",'limits':{'cpu':1025}"), "spec.limits.cpu"));
	CHECK(bad(SPEC(",'limits':{'cpu':'2'}"), "spec.limits.cpu"));
	CHECK(bad(SPEC(",'limits':{'cpu':null}"), "spec.limits.cpu"));
	/* the old names are unknown fields, and the 422 names the new one */
	CHECK(bad(SPEC(",'limits':{'nofile':1024}"), "spec.limits.nofile") &&
	      msg_is("unknown field (renamed: use \"open_files\")"));
	CHECK(bad(SPEC(",'limits':{'nproc':64}"), "spec.limits.nproc") && msg_has("processes"));
	CHECK(bad(SPEC(",'limits':{'fsize':'1m'}"), "spec.limits.fsize") && msg_has("file_size"));
	CHECK(bad(SPEC(",'limits':{'memory':1,'nofile':1}"), "spec.limits.nofile"));
	CHECK(bad(SPEC(",'limits':{'rss':1}"), "spec.limits.rss") && msg_has("unknown field") &&
	      msg_has("open_files"));
	CHECK(bad(SPEC(",'limits':[]"), "spec.limits"));
	CHECK(bad(SPEC(",'limits':null"), "spec.limits"));
	CHECK(bad(SPEC(",'limits':'1g'"), "spec.limits"));
}

static void test_user_description(void)
{
	char *s;

	CHECK(ok(SPEC(",'user':'app'")) && str_is("user", "app"));
	CHECK(ok(SPEC(",'user':'www-data'")) && str_is("user", "www-data"));
	CHECK(ok(SPEC(",'user':null")) && json_is("user", "null"));
	CHECK(bad(SPEC(",'user':'root'"), "spec.user") &&
	      msg_is("user 'root' is not in allowed_users"));
	CHECK(bad(SPEC(",'user':'ap'"), "spec.user"));
	CHECK(bad(SPEC(",'user':'app\\u0000x'"), "spec.user"));
	CHECK(bad(SPEC(",'user':''"), "spec.user"));
	CHECK(bad(SPEC(",'user':1000"), "spec.user") && msg_is("must be a string"));
	CHECK(bad(SPEC(",'user':['app']"), "spec.user"));
	opts.n_allowed_users = 0;
	CHECK(bad(SPEC(",'user':'app'"), "spec.user"));
	CHECK(ok(SPEC()));
	opts.n_allowed_users = 2;

	CHECK(ok(SPEC(",'description':'the web front'")) && str_is("description", "the web front"));
	CHECK(ok(SPEC(",'description':''")) && str_is("description", ""));
	CHECK(ok(SPEC(",'description':null")) && json_is("description", "null"));
	CHECK(bad(SPEC(",'description':1"), "spec.description"));
	CHECK(bad(SPEC(",'description':{}"), "spec.description"));
	s = spec_with("{'name':'web','command':['x'],'description':'", 'd', 1023, "'}");
	CHECK(ok(s));
	free(s);
	s = spec_with("{'name':'web','command':['x'],'description':'", 'd', 1024, "'}");
	CHECK(bad(s, "spec.description") && msg_has("1024"));
	free(s);
}

static void test_health(void)
{
	CHECK(ok(SPEC(",'health':null")) && json_is("health", "null"));
	CHECK(ok(SPEC(",'health':{'command':['./check','-q']}")));
	CHECK(json_is("health",
	              "{'command':['./check','-q'],'interval':10.0,'timeout':5.0,'start_period':0.0,'retries':3}"));
	CHECK(ok(SPEC(
	    ",'ports':['http'],'health':{'tcp':'http','interval':2.5,'timeout':1,'retries':0}")));
	CHECK(json_is("health", "{'tcp':'http','interval':2.5,'timeout':1.0,'start_period':0.0,'retries':0}"));
	CHECK(ok(SPEC(
	    ",'ports':{'web':0,'admin':9000},'health':{'http':'/healthz?full=1','port':'admin'}")));
	CHECK(json_is("health", "{'http':'/healthz?full=1','port':'admin','interval':10.0,"
	                        "'timeout':5.0,'start_period':0.0,'retries':3}"));
	CHECK(ok(
	    SPEC(",'ports':['a'],'health':{'http':'/','port':'a','retries':100,'interval':3600}")));
	/* the kind of check */
	CHECK(bad(SPEC(",'health':{}"), "spec.health") && msg_has("exactly one"));
	CHECK(bad(SPEC(",'health':{'interval':5}"), "spec.health"));
	CHECK(bad(SPEC(",'ports':['a'],'health':{'tcp':'a','command':['x']}"), "spec.health"));
	CHECK(bad(SPEC(",'health':{'command':[]}"), "spec.health.command"));
	CHECK(bad(SPEC(",'health':{'command':'check'}"), "spec.health.command"));
	CHECK(bad(SPEC(",'health':{'command':['x',1]}"), "spec.health.command[1]"));
	CHECK(bad(SPEC(",'health':{'command':['x'],'port':'a'}"), "spec.health.port") &&
	      msg_has("http"));
	CHECK(bad(SPEC(",'health':{'tcp':'http'}"), "spec.health.tcp") &&
	      msg_has("unknown port 'http'"));
	CHECK(bad(SPEC(",'ports':['http'],'health':{'tcp':8080}"), "spec.health.tcp"));
	CHECK(bad(SPEC(",'ports':['http'],'health':{'tcp':'http\\u0000'}"), "spec.health.tcp"));
	CHECK(bad(SPEC(",'ports':['http'],'health':{'http':'/h'}"), "spec.health.port") &&
	      msg_has("required"));
	CHECK(
	    bad(SPEC(",'ports':['http'],'health':{'http':'/h','port':'web'}"), "spec.health.port"));
	CHECK(
	    bad(SPEC(",'ports':['http'],'health':{'http':'/h','port':8080}"), "spec.health.port"));
	CHECK(bad(SPEC(",'ports':['http'],'health':{'http':'healthz','port':'http'}"),
	          "spec.health.http"));
	CHECK(bad(SPEC(",'ports':['http'],'health':{'http':'/a b','port':'http'}"),
	          "spec.health.http"));
	CHECK(bad(SPEC(",'ports':['http'],'health':{'http':'/a\\r\\nX: y','port':'http'}"),
	          "spec.health.http"));
	CHECK(bad(SPEC(",'ports':['http'],'health':{'http':'/\\u00e9','port':'http'}"),
	          "spec.health.http"));
	CHECK(bad(SPEC(",'ports':['http'],'health':{'http':1,'port':'http'}"), "spec.health.http"));
	/* timing */
	CHECK(bad(SPEC(",'health':{'command':['x'],'interval':0}"), "spec.health.interval"));
	CHECK(bad(SPEC(",'health':{'command':['x'],'interval':-1}"), "spec.health.interval"));
	CHECK(bad(SPEC(",'health':{'command':['x'],'interval':3601}"), "spec.health.interval"));
	CHECK(bad(SPEC(",'health':{'command':['x'],'interval':'5'}"), "spec.health.interval"));
	CHECK(bad(SPEC(",'health':{'command':['x'],'timeout':0}"), "spec.health.timeout"));
	CHECK(bad(SPEC(",'health':{'command':['x'],'timeout':null}"), "spec.health.timeout"));
	CHECK(bad(SPEC(",'health':{'command':['x'],'retries':101}"), "spec.health.retries"));
	CHECK(bad(SPEC(",'health':{'command':['x'],'retries':-1}"), "spec.health.retries"));
	CHECK(bad(SPEC(",'health':{'command':['x'],'retries':1.5}"), "spec.health.retries"));
	CHECK(bad(SPEC(",'health':{'command':['x'],'retries':'3'}"), "spec.health.retries"));
	CHECK(bad(SPEC(",'health':{'command':['x'],'path':'/'}"), "spec.health.path") &&
	      msg_is("unknown field"));
	CHECK(bad(SPEC(",'health':[]"), "spec.health"));
	CHECK(bad(SPEC(",'health':'tcp'"), "spec.health"));
	CHECK(bad(SPEC(",'health':false"), "spec.health"));
}

/* The normalized spec is accepted as it is and comes back equal; the input is untouched. */
static void test_roundtrip(void)
{
	static const char full[] =
	    "{'name':'api','artifact':'"
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',"
	    "'command':['bin/api','--listen','0.0.0.0'],'env':{'MODE':'prod'},'workdir':'./srv/',"
	    "'restart':'always','stop_signal':'SIGINT','stop_timeout':2.5,"
	    "'ports':{'http':0,'admin':9000},'limits':{'memory':'256m','open_files':4096,'cpu':1.5}"
	    ","
	    "'user':'app','control':'messages','health':{'http':'/health','port':'admin'},"
	    "'start':false,'description':'API'}";
	struct json_object *first, *second, *in;
	char *text = strdup(full), *before;

	CHECK(ok(full));
	first = out;
	out = NULL;
	before = strdup(json_object_to_json_string_ext(first, JSON_C_TO_STRING_PLAIN));
	CHECK(validate_project_spec(first, &opts, &second, field, sizeof(field), msg,
	                            sizeof(msg)) == 0);
	CHECK(json_object_equal(first, second));
	CHECK(strcmp(before, json_object_to_json_string_ext(first, JSON_C_TO_STRING_PLAIN)) == 0);
	/* out shares nothing with in: changing one leaves the other alone */
	json_object_object_del(second, "env");
	json_object_array_del_idx(json_object_object_get(second, "command"), 0, 1);
	CHECK(strcmp(before, json_object_to_json_string_ext(first, JSON_C_TO_STRING_PLAIN)) == 0);
	json_object_put(second);
	json_object_put(first);
	free(before);
	/* the input itself is never modified */
	for (char *p = text; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	in = json_tokener_parse(text);
	before = strdup(json_object_to_json_string(in));
	CHECK(validate_project_spec(in, &opts, &first, field, sizeof(field), msg, sizeof(msg)) ==
	      0);
	CHECK(strcmp(before, json_object_to_json_string(in)) == 0);
	CHECK(strcmp(json_object_get_string(json_object_object_get(first, "workdir")), "srv") == 0);
	json_object_put(first);
	json_object_put(in);
	free(before);
	free(text);
	CHECK(ok(SPEC()));
	first = out;
	out = NULL;
	CHECK(validate_project_spec(first, &opts, &second, field, sizeof(field), msg,
	                            sizeof(msg)) == 0);
	CHECK(json_object_equal(first, second));
	json_object_put(first);
	json_object_put(second);
}

int main(void)
{
	test_names();
	test_defaults();
	test_top_level();
	test_name_artifact();
	test_command();
	test_env();
	test_workdir();
	test_enums();
	test_stop();
	test_ports();
	test_limits();
	test_user_description();
	test_health();
	test_roundtrip();
	json_object_put(out);
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
