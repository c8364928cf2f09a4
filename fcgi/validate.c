/* SPDX-License-Identifier: MIT */
/*
 * Project names, digests and the deploy spec (docs/api.md, Projects). The spec is read
 * field by field from a table, every type is checked, and a normalized copy
 * is built beside it so that the runner never sees a shorthand or a missing
 * default. It decides nothing that needs the database: port collisions,
 * artifact existence and port allocation belong to the callers.
 */
#include "validate.h"

#include "util.h"

#include <json-c/json.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define V_NAME_MAX      63
#define V_ARGV_MAX      256
#define V_ARG_LEN       4096 /* an argument is shorter than this */
#define V_ENV_MAX       256
#define V_ENV_KEY_LEN   256
#define V_ENV_VALUE_LEN 32768
#define V_PATH_LEN      4096
#define V_PORTS_MAX     32
#define V_PORT_NAME_MAX 32
#define V_DESC_LEN      1024
#define V_TIMEOUT_MAX   3600.0
#define V_HTTP_PATH_LEN 1024
#define V_RETRIES_MAX   100
#define V_PIDS_MAX      4194304 /* PID_MAX_LIMIT: pids.max refuses more */
#define V_CORES_MIN     0.01    /* cpu.max refuses a quota under 1000 us a period */
#define V_CORES_MAX     1024.0

/* How a limit is written (v_limits). */
enum { V_LIM_SIZE, V_LIM_COUNT, V_LIM_PIDS, V_LIM_CORES };

struct vctx {
	const struct validate_opts *opt;
	struct json_object *out; /* the normalized spec being built (owned until returned) */
	char *field;
	size_t fieldlen;
	char *msg;
	size_t msglen;
};

/* Sets the JSON path errors are reported against. */
__attribute__((format(printf, 2, 3))) static void v_path(struct vctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->field == NULL || c->fieldlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(c->field, c->fieldlen, fmt, ap);
	va_end(ap);
}

/* Sets the reason; always returns -1 so that callers can `return v_msg(...)`. */
__attribute__((format(printf, 2, 3))) static int v_msg(struct vctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->msg != NULL && c->msglen > 0) {
		va_start(ap, fmt);
		vsnprintf(c->msg, c->msglen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Adds val (owned, may be NULL only for JSON null) under key of obj; val is consumed. */
static int v_put(struct vctx *c, struct json_object *obj, const char *key, struct json_object *val)
{
	if (json_object_object_add(obj, key, val) < 0) {
		json_object_put(val);
		return v_msg(c, "out of memory");
	}
	return 0;
}

/* Like v_put, but a NULL val means allocation failed. */
static int v_put_new(struct vctx *c, struct json_object *obj, const char *key,
                     struct json_object *val)
{
	if (val == NULL)
		return v_msg(c, "out of memory");
	return v_put(c, obj, key, val);
}

static int v_append(struct vctx *c, struct json_object *arr, struct json_object *val)
{
	if (val == NULL || json_object_array_add(arr, val) < 0) {
		json_object_put(val);
		return v_msg(c, "out of memory");
	}
	return 0;
}

/* A JSON string without NUL bytes (they cannot reach argv or environ), shorter than max. */
static int v_str(struct vctx *c, struct json_object *v, size_t max, const char **s)
{
	size_t len;

	if (!json_object_is_type(v, json_type_string))
		return v_msg(c, "must be a string");
	*s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (strlen(*s) != len)
		return v_msg(c, "must not contain NUL bytes");
	if (len >= max)
		return v_msg(c, "must be shorter than %zu bytes", max);
	return 0;
}

/* A JSON integer in [min, max]. json-c keeps values above INT64_MAX as uint64. */
static int v_int(struct json_object *v, int64_t min, int64_t max, int64_t *out)
{
	int64_t x;

	if (!json_object_is_type(v, json_type_int))
		return -1;
	x = json_object_get_int64(v);
	if (x == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
		return -1;
	if (x < min || x > max)
		return -1;
	*out = x;
	return 0;
}

/* A JSON number (integer or fraction) in [min, max]. */
static int v_num(struct json_object *v, double min, double max, double *out)
{
	double x;

	if (json_object_is_type(v, json_type_int))
		x = (double)json_object_get_int64(v);
	else if (json_object_is_type(v, json_type_double))
		x = json_object_get_double(v);
	else
		return -1;
	if (!isfinite(x) || x < min || x > max)
		return -1;
	*out = x;
	return 0;
}

/* Rejects keys of obj that are not in names; prefix is obj's JSON path. */
static int v_unknown(struct vctx *c, struct json_object *obj, const char *prefix,
                     const char *const *names, size_t n)
{
	size_t i;

	json_object_object_foreach(obj, key, val)
	{
		(void)val;
		for (i = 0; i < n && strcmp(key, names[i]) != 0; i++)
			;
		if (i == n) {
			v_path(c, "%s.%.64s", prefix, key);
			return v_msg(c, "unknown field");
		}
	}
	return 0;
}

int validate_project_name(const char *name)
{
	size_t i;

	if (name == NULL ||
	    !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9')))
		return -1;
	for (i = 1; name[i] != '\0'; i++) {
		char ch = name[i];
		if (i >= V_NAME_MAX || !((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		                         ch == '.' || ch == '_' || ch == '-'))
			return -1;
	}
	return 0;
}

int validate_sha256_hex(const char *s)
{
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return -1;
	return s[64] == '\0' ? 0 : -1;
}

static int v_name(struct vctx *c, struct json_object *v, int present)
{
	const char *s;

	if (!present)
		return v_msg(c, "is required");
	if (!json_object_is_type(v, json_type_string))
		return v_msg(c, "must be a string");
	if (v_str(c, v, V_NAME_MAX + 1, &s) < 0 || validate_project_name(s) < 0)
		return v_msg(c, "must match [a-z0-9][a-z0-9._-]{0,62}");
	return v_put_new(c, c->out, "name", json_object_new_string(s));
}

/* Optional here: a multipart deploy supplies the artifact beside the spec. */
static int v_artifact(struct vctx *c, struct json_object *v, int present)
{
	const char *s;

	if (!present || v == NULL)
		return v_put(c, c->out, "artifact", NULL);
	if (v_str(c, v, 65, &s) < 0 || validate_sha256_hex(s) < 0)
		return v_msg(c, "must be a sha256 digest (64 lowercase hex characters)");
	return v_put_new(c, c->out, "artifact", json_object_new_string(s));
}

/* An argv: 1..256 non-empty strings; base is its JSON path. *out is new. */
static int v_argv(struct vctx *c, struct json_object *v, const char *base, struct json_object **out)
{
	struct json_object *arr;
	size_t i, n;
	const char *s;

	v_path(c, "%s", base);
	if (!json_object_is_type(v, json_type_array))
		return v_msg(c, "must be an array of strings");
	n = json_object_array_length(v);
	if (n == 0)
		return v_msg(c, "must not be empty");
	if (n > V_ARGV_MAX)
		return v_msg(c, "must have at most %d items", V_ARGV_MAX);
	arr = json_object_new_array();
	if (arr == NULL)
		return v_msg(c, "out of memory");
	for (i = 0; i < n; i++) {
		v_path(c, "%s[%zu]", base, i);
		if (v_str(c, json_object_array_get_idx(v, i), V_ARG_LEN, &s) < 0)
			goto fail;
		if (s[0] == '\0') {
			v_msg(c, "must not be empty");
			goto fail;
		}
		if (v_append(c, arr, json_object_new_string(s)) < 0)
			goto fail;
	}
	*out = arr;
	return 0;
fail:
	json_object_put(arr);
	return -1;
}

static int v_command(struct vctx *c, struct json_object *v, int present)
{
	struct json_object *arr;

	if (!present)
		return v_msg(c, "is required");
	if (v_argv(c, v, "spec.command", &arr) < 0)
		return -1;
	return v_put(c, c->out, "command", arr);
}

/* [A-Za-z_][A-Za-z0-9_]*, and HOSTAGENT_* belongs to the agent (docs/architecture.md). */
static int v_env_key(struct vctx *c, const char *key)
{
	size_t i;

	if (strlen(key) >= V_ENV_KEY_LEN)
		return v_msg(c, "variable names must be shorter than %d bytes", V_ENV_KEY_LEN);
	for (i = 0; key[i] != '\0'; i++) {
		char ch = key[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_' ||
		      (i > 0 && ch >= '0' && ch <= '9')))
			return v_msg(c,
			             "invalid variable name (must match [A-Za-z_][A-Za-z0-9_]*)");
	}
	if (i == 0)
		return v_msg(c, "invalid variable name (must match [A-Za-z_][A-Za-z0-9_]*)");
	if (strncmp(key, "HOSTAGENT_", 10) == 0)
		return v_msg(c, "the HOSTAGENT_ prefix is reserved for the agent");
	return 0;
}

static int v_env(struct vctx *c, struct json_object *v, int present)
{
	struct json_object *env;
	const char *s;

	if (present && !json_object_is_type(v, json_type_object))
		return v_msg(c, "must be an object of strings");
	if (present && json_object_object_length(v) > V_ENV_MAX)
		return v_msg(c, "must have at most %d variables", V_ENV_MAX);
	env = json_object_new_object();
	if (v_put_new(c, c->out, "env", env) < 0)
		return -1;
	if (!present)
		return 0;
	json_object_object_foreach(v, key, val)
	{
		v_path(c, "spec.env.%.64s", key);
		if (v_env_key(c, key) < 0 || v_str(c, val, V_ENV_VALUE_LEN, &s) < 0)
			return -1;
		if (v_put_new(c, env, key, json_object_new_string(s)) < 0)
			return -1;
	}
	return 0;
}

/*
 * Relative to the release: no leading '/', no ".." component. Normalized
 * by dropping empty and "." components ("./a//b/" → "a/b", "./" → ".").
 */
static int v_workdir(struct vctx *c, struct json_object *v, int present)
{
	char norm[V_PATH_LEN];
	const char *s, *p;
	size_t n, len = 0;

	if (!present)
		return v_put_new(c, c->out, "workdir", json_object_new_string("."));
	if (v_str(c, v, V_PATH_LEN, &s) < 0)
		return -1;
	if (s[0] == '\0')
		return v_msg(c, "must not be empty (use \".\")");
	if (s[0] == '/')
		return v_msg(c, "must be relative to the release (no leading '/')");
	for (p = s; *p != '\0'; p += n) {
		p += strspn(p, "/");
		n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return v_msg(c, "must stay inside the release (no '..' component)");
		if (n == 0 || (n == 1 && p[0] == '.'))
			continue;
		if (len > 0)
			norm[len++] = '/';
		memcpy(norm + len, p, n); /* never longer than s, which fits */
		len += n;
	}
	if (len == 0)
		norm[len++] = '.';
	norm[len] = '\0';
	return v_put_new(c, c->out, "workdir", json_object_new_string(norm));
}

/* One of vals (compared with the JSON length: "no\u0000x" is not "no"); def when absent. */
static int v_enum(struct vctx *c, struct json_object *v, int present, const char *key,
                  const char *const *vals, size_t n, const char *def)
{
	const char *s = def;
	size_t i, len;

	if (present) {
		if (!json_object_is_type(v, json_type_string))
			return v_msg(c, "must be a string");
		len = (size_t)json_object_get_string_len(v);
		for (i = 0; i < n; i++)
			if (len == strlen(vals[i]) &&
			    strcmp(json_object_get_string(v), vals[i]) == 0)
				break;
		if (i == n && n == 2)
			return v_msg(c, "must be \"%s\" or \"%s\"", vals[0], vals[1]);
		if (i == n)
			return v_msg(c, "must be \"%s\", \"%s\" or \"%s\"", vals[0], vals[1],
			             vals[2]);
		s = vals[i];
	}
	return v_put_new(c, c->out, key, json_object_new_string(s));
}

static int v_restart(struct vctx *c, struct json_object *v, int present)
{
	static const char *const vals[] = {"no", "on-failure", "always"};

	return v_enum(c, v, present, "restart", vals, ARRAY_SIZE(vals), "on-failure");
}

static int v_control(struct vctx *c, struct json_object *v, int present)
{
	static const char *const vals[] = {"signals", "messages"};

	return v_enum(c, v, present, "control", vals, ARRAY_SIZE(vals), "signals");
}

/*
 * A name ("TERM", "SIGTERM", any case) or a number 1..64, normalized to the
 * name without SIG; a signal without a name (real-time ones) stays a
 * decimal string, which util_signal_parse reads back.
 */
static int v_stop_signal(struct vctx *c, struct json_object *v, int present)
{
	char num[16];
	const char *s, *name;
	int64_t n;
	int sig = SIGTERM;

	if (present && json_object_is_type(v, json_type_string)) {
		if (v_str(c, v, 32, &s) < 0)
			return v_msg(c, "unknown signal");
		sig = util_signal_parse(s);
		if (sig < 1 || sig > 64)
			return v_msg(c, "unknown signal '%.31s'", s);
	} else if (present) {
		if (v_int(v, 1, 64, &n) < 0)
			return v_msg(
			    c, "must be a signal name like \"TERM\" or a number from 1 to 64");
		sig = (int)n;
	}
	name = util_signal_name(sig);
	if (name == NULL) {
		snprintf(num, sizeof(num), "%d", sig);
		name = num;
	}
	return v_put_new(c, c->out, "stop_signal", json_object_new_string(name));
}

static int v_stop_timeout(struct vctx *c, struct json_object *v, int present)
{
	double t = 10;

	if (present && v_num(v, 0, V_TIMEOUT_MAX, &t) < 0)
		return v_msg(c, "must be a number of seconds from 0 to %g", V_TIMEOUT_MAX);
	if (t == 0)
		t = 0; /* -0.0 would print as "-0.0" */
	return v_put_new(c, c->out, "stop_timeout", json_object_new_double(t));
}

/* [a-z][a-z0-9_]{0,31}: it becomes PORT_<NAME> in the job's environment. */
static int v_port_name_ok(const char *s)
{
	size_t i;

	if (!(s[0] >= 'a' && s[0] <= 'z'))
		return -1;
	for (i = 1; s[i] != '\0'; i++)
		if (i >= V_PORT_NAME_MAX ||
		    !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return -1;
	return 0;
}

static int v_port_name(struct vctx *c, struct json_object *v, const char **name)
{
	if (v_str(c, v, V_PORT_NAME_MAX + 1, name) < 0 || v_port_name_ok(*name) < 0)
		return v_msg(c, "must be a port name matching [a-z][a-z0-9_]{0,31}");
	return 0;
}

/*
 * Checks a fixed port against the configured range and both name and port
 * against the entries already in arr, then appends {"name", "port"}. The
 * entry's JSON path is already set; duplicates are reported on spec.ports.
 */
static int v_port_add(struct vctx *c, struct json_object *arr, const char *name, int64_t port)
{
	const struct validate_opts *o = c->opt;
	int lo = (o != NULL && o->port_min > 0) ? o->port_min : 1;
	int hi = (o != NULL && o->port_max > 0) ? o->port_max : 65535;
	struct json_object *e, *x;
	size_t i, n = json_object_array_length(arr);

	if (port != 0 && (port < lo || port > hi))
		return v_msg(c, "port %lld is outside the allowed range %d-%d", (long long)port, lo,
		             hi);
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(arr, i);
		json_object_object_get_ex(e, "name", &x);
		if (strcmp(json_object_get_string(x), name) == 0) {
			v_path(c, "spec.ports");
			return v_msg(c, "duplicate port name '%s'", name);
		}
		json_object_object_get_ex(e, "port", &x);
		if (port != 0 && json_object_get_int64(x) == port) {
			v_path(c, "spec.ports");
			return v_msg(c, "duplicate port %lld", (long long)port);
		}
	}
	e = json_object_new_object();
	if (e == NULL)
		return v_msg(c, "out of memory");
	if (v_put_new(c, e, "name", json_object_new_string(name)) < 0 ||
	    v_put_new(c, e, "port", json_object_new_int64(port)) < 0) {
		json_object_put(e);
		return -1;
	}
	return v_append(c, arr, e);
}

/* An item of the array form: "http" or {"name": "http", "port": 8080}. */
static int v_port_item(struct vctx *c, struct json_object *arr, struct json_object *item, size_t i)
{
	static const char *const keys[] = {"name", "port"};
	struct json_object *x;
	const char *name;
	int64_t port = 0;
	char base[32];

	snprintf(base, sizeof(base), "spec.ports[%zu]", i);
	v_path(c, "%s", base);
	if (json_object_is_type(item, json_type_string)) {
		if (v_port_name(c, item, &name) < 0)
			return -1;
		return v_port_add(c, arr, name, 0);
	}
	if (!json_object_is_type(item, json_type_object))
		return v_msg(c, "must be a port name or an object {\"name\", \"port\"}");
	if (v_unknown(c, item, base, keys, ARRAY_SIZE(keys)) < 0)
		return -1;
	v_path(c, "%s.name", base);
	if (!json_object_object_get_ex(item, "name", &x))
		return v_msg(c, "is required");
	if (v_port_name(c, x, &name) < 0)
		return -1;
	if (json_object_object_get_ex(item, "port", &x)) {
		v_path(c, "%s.port", base);
		if (v_int(x, 0, 65535, &port) < 0)
			return v_msg(c, "must be an integer from 0 to 65535 (0 = allocate)");
	}
	return v_port_add(c, arr, name, port);
}

/* Normalized to [{"name", "port"}] whichever of the three forms came in. */
static int v_ports(struct vctx *c, struct json_object *v, int present)
{
	struct json_object *arr = json_object_new_array();
	size_t i, n;
	int64_t port;

	if (v_put_new(c, c->out, "ports", arr) < 0)
		return -1;
	if (!present)
		return 0;
	if (json_object_is_type(v, json_type_array)) {
		n = json_object_array_length(v);
		if (n > V_PORTS_MAX)
			return v_msg(c, "must have at most %d ports", V_PORTS_MAX);
		for (i = 0; i < n; i++)
			if (v_port_item(c, arr, json_object_array_get_idx(v, i), i) < 0)
				return -1;
		return 0;
	}
	if (!json_object_is_type(v, json_type_object))
		return v_msg(
		    c, "must be an array of port names or objects, or an object {name: port}");
	if (json_object_object_length(v) > V_PORTS_MAX)
		return v_msg(c, "must have at most %d ports", V_PORTS_MAX);
	json_object_object_foreach(v, key, val)
	{
		v_path(c, "spec.ports.%.64s", key);
		if (v_port_name_ok(key) < 0)
			return v_msg(c, "must be a port name matching [a-z][a-z0-9_]{0,31}");
		if (v_int(val, 0, 65535, &port) < 0)
			return v_msg(c, "must be an integer from 0 to 65535 (0 = allocate)");
		if (v_port_add(c, arr, key, port) < 0)
			return -1;
	}
	return 0;
}

/* Bytes: a positive integer, or a string with a k/m/g suffix (powers of 1024). */
static int v_limit_size(struct vctx *c, struct json_object *v, int64_t *out)
{
	const char *s;
	uint64_t u;

	if (json_object_is_type(v, json_type_string)) {
		if (v_str(c, v, 32, &s) == 0 && util_parse_size(s, &u) == 0 && u > 0 &&
		    u <= (uint64_t)INT64_MAX) {
			*out = (int64_t)u;
			return 0;
		}
	} else if (v_int(v, 1, INT64_MAX, out) == 0) {
		return 0;
	}
	return v_msg(c, "must be a positive number of bytes or a string like \"512m\"");
}

/* The names limits had before they were the documented ones, for a hint in the 422. */
static const char *v_limit_renamed(const char *key)
{
	static const char *const old[][2] = {{"nofile", "open_files"},
	                                     {"nproc", "processes"},
	                                     {"fsize", "file_size"},
	                                     {"memory_bytes", "memory"}};

	for (size_t i = 0; i < ARRAY_SIZE(old); i++)
		if (strcmp(key, old[i][0]) == 0)
			return old[i][1];
	return NULL;
}

/* One limit of the table below into lim; the JSON path is already set. */
static int v_limit(struct vctx *c, struct json_object *lim, const char *key, int kind,
                   struct json_object *x)
{
	int64_t n;
	double d;

	if (kind == V_LIM_SIZE && v_limit_size(c, x, &n) < 0)
		return -1;
	if (kind == V_LIM_COUNT && v_int(x, 1, INT64_MAX, &n) < 0)
		return v_msg(c, "must be a positive integer");
	if (kind == V_LIM_PIDS && v_int(x, 1, V_PIDS_MAX, &n) < 0)
		return v_msg(c, "must be an integer from 1 to %d", V_PIDS_MAX);
	if (kind == V_LIM_CORES) {
		if (v_num(x, V_CORES_MIN, V_CORES_MAX, &d) < 0)
			return v_msg(c, "must be a number of CPU cores from %g to %g (e.g. 0.5)",
			             V_CORES_MIN, V_CORES_MAX);
		return v_put_new(c, lim, key, json_object_new_double(d));
	}
	return v_put_new(c, lim, key, json_object_new_int64(n));
}

/*
 * Normalized to an object holding only the limits that were given: sizes
 * and counts as integers, cpu (cores) as a number. The names are the
 * documented ones; an old name is an unknown field, with the new one named.
 */
static int v_limits(struct vctx *c, struct json_object *v, int present)
{
	static const struct {
		const char *key;
		int kind;
	} keys[] = {{"memory", V_LIM_SIZE},       {"file_size", V_LIM_SIZE},
	            {"open_files", V_LIM_COUNT},  {"processes", V_LIM_PIDS},
	            {"cpu_seconds", V_LIM_COUNT}, {"cpu", V_LIM_CORES}};
	struct json_object *lim = json_object_new_object(), *x;
	const char *renamed;
	size_t i;

	if (v_put_new(c, c->out, "limits", lim) < 0)
		return -1;
	if (!present)
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return v_msg(c, "must be an object");
	json_object_object_foreach(v, key, val)
	{
		(void)val;
		for (i = 0; i < ARRAY_SIZE(keys) && strcmp(key, keys[i].key) != 0; i++)
			;
		if (i < ARRAY_SIZE(keys))
			continue;
		v_path(c, "spec.limits.%.64s", key);
		renamed = v_limit_renamed(key);
		return renamed
		           ? v_msg(c, "unknown field (renamed: use \"%s\")", renamed)
		           : v_msg(c, "unknown field (limits are memory, open_files, processes, "
		                      "cpu_seconds, file_size, cpu)");
	}
	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		if (!json_object_object_get_ex(v, keys[i].key, &x))
			continue;
		v_path(c, "spec.limits.%s", keys[i].key);
		if (v_limit(c, lim, keys[i].key, keys[i].kind, x) < 0)
			return -1;
	}
	return 0;
}

/* null (absent) means the configured run user. */
static int v_user(struct vctx *c, struct json_object *v, int present)
{
	const char *s;
	size_t i, n = c->opt != NULL ? c->opt->n_allowed_users : 0;

	if (!present || v == NULL)
		return v_put(c, c->out, "user", NULL);
	if (v_str(c, v, 256, &s) < 0)
		return -1;
	for (i = 0; i < n; i++)
		if (c->opt->allowed_users[i] != NULL && strcmp(c->opt->allowed_users[i], s) == 0)
			return v_put_new(c, c->out, "user", json_object_new_string(s));
	return v_msg(c, "user '%.64s' is not in allowed_users", s);
}

/* A port name that spec.ports declares (ports are normalized before health). */
static int v_health_port(struct vctx *c, struct json_object *v, const char **name)
{
	struct json_object *ports, *x;
	size_t i, n;

	if (v_str(c, v, V_PORT_NAME_MAX + 1, name) < 0)
		return v_msg(c, "must be the name of a port in spec.ports");
	if (json_object_object_get_ex(c->out, "ports", &ports)) {
		n = json_object_array_length(ports);
		for (i = 0; i < n; i++) {
			json_object_object_get_ex(json_object_array_get_idx(ports, i), "name", &x);
			if (strcmp(json_object_get_string(x), *name) == 0)
				return 0;
		}
	}
	return v_msg(c, "unknown port '%.32s' (not in spec.ports)", *name);
}

/* The path goes into a request line: no spaces, controls or raw non-ASCII. */
static int v_http_path(struct vctx *c, struct json_object *v, const char **s)
{
	const unsigned char *p;

	if (v_str(c, v, V_HTTP_PATH_LEN, s) < 0)
		return -1;
	if ((*s)[0] != '/')
		return v_msg(c, "must be an absolute path like \"/healthz\"");
	for (p = (const unsigned char *)*s; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return v_msg(c, "must not contain spaces, control or non-ASCII bytes");
	return 0;
}

/* Exactly one of command, tcp or http (http with port) goes into h. */
static int v_health_check(struct vctx *c, struct json_object *v, struct json_object *h)
{
	struct json_object *cmd, *tcp, *http, *port, *arr;
	int has_cmd = json_object_object_get_ex(v, "command", &cmd);
	int has_tcp = json_object_object_get_ex(v, "tcp", &tcp);
	int has_http = json_object_object_get_ex(v, "http", &http);
	int has_port = json_object_object_get_ex(v, "port", &port);
	const char *s, *p;

	if (has_cmd + has_tcp + has_http != 1)
		return v_msg(c, "needs exactly one of command, tcp or http");
	if (has_port && !has_http) {
		v_path(c, "spec.health.port");
		return v_msg(c, "only applies to http checks");
	}
	if (has_cmd) {
		if (v_argv(c, cmd, "spec.health.command", &arr) < 0)
			return -1;
		return v_put(c, h, "command", arr);
	}
	if (has_tcp) {
		v_path(c, "spec.health.tcp");
		if (v_health_port(c, tcp, &s) < 0)
			return -1;
		return v_put_new(c, h, "tcp", json_object_new_string(s));
	}
	v_path(c, "spec.health.http");
	if (v_http_path(c, http, &s) < 0)
		return -1;
	v_path(c, "spec.health.port");
	if (!has_port)
		return v_msg(c, "is required for http checks");
	if (v_health_port(c, port, &p) < 0)
		return -1;
	if (v_put_new(c, h, "http", json_object_new_string(s)) < 0)
		return -1;
	return v_put_new(c, h, "port", json_object_new_string(p));
}

/* A number of seconds, above 0 (or 0 when zero_ok) and at most V_TIMEOUT_MAX, of spec.<obj>. */
static int v_seconds(struct vctx *c, struct json_object *v, const char *obj, const char *key,
                     bool zero_ok, double *out)
{
	struct json_object *x;

	if (!json_object_object_get_ex(v, key, &x))
		return 0;
	v_path(c, "spec.%s.%s", obj, key);
	if (v_num(x, 0, V_TIMEOUT_MAX, out) < 0 || (*out <= 0 && !zero_ok))
		return v_msg(c, "must be a number of seconds %s 0 and at most %g",
		             zero_ok ? "from" : "above", V_TIMEOUT_MAX);
	return 0;
}

static int v_health(struct vctx *c, struct json_object *v, int present)
{
	static const char *const keys[] = {"command", "tcp",     "http",    "port",
	                                   "interval", "timeout", "retries", "start_period"};
	struct json_object *h, *x;
	double interval = 10, timeout = 5, start_period = 0;
	int64_t retries = 3;

	if (!present || v == NULL)
		return v_put(c, c->out, "health", NULL);
	if (!json_object_is_type(v, json_type_object))
		return v_msg(c, "must be null or an object");
	if (v_unknown(c, v, "spec.health", keys, ARRAY_SIZE(keys)) < 0)
		return -1;
	h = json_object_new_object();
	if (v_put_new(c, c->out, "health", h) < 0 || v_health_check(c, v, h) < 0)
		return -1;
	if (v_seconds(c, v, "health", "interval", false, &interval) < 0 ||
	    v_seconds(c, v, "health", "timeout", false, &timeout) < 0 ||
	    v_seconds(c, v, "health", "start_period", true, &start_period) < 0)
		return -1;
	if (json_object_object_get_ex(v, "retries", &x) &&
	    v_int(x, 0, V_RETRIES_MAX, &retries) < 0) {
		v_path(c, "spec.health.retries");
		return v_msg(c, "must be an integer from 0 to %d", V_RETRIES_MAX);
	}
	if (v_put_new(c, h, "interval", json_object_new_double(interval)) < 0 ||
	    v_put_new(c, h, "timeout", json_object_new_double(timeout)) < 0 ||
	    v_put_new(c, h, "start_period", json_object_new_double(start_period)) < 0)
		return -1;
	return v_put_new(c, h, "retries", json_object_new_int64(retries));
}

/* {pre_start, post_stop: argv, timeout: seconds (default 60)}; null or {} for none. */
static int v_hooks(struct vctx *c, struct json_object *v, int present)
{
	static const char *const keys[] = {"pre_start", "post_stop", "timeout"};
	struct json_object *h, *x, *arr;
	double timeout = 60;

	if (!present || v == NULL)
		return v_put(c, c->out, "hooks", NULL);
	if (!json_object_is_type(v, json_type_object))
		return v_msg(c, "must be null or an object");
	if (v_unknown(c, v, "spec.hooks", keys, ARRAY_SIZE(keys)) < 0)
		return -1;
	h = json_object_new_object();
	if (v_put_new(c, c->out, "hooks", h) < 0)
		return -1;
	for (size_t i = 0; i < 2; i++) {
		if (!json_object_object_get_ex(v, keys[i], &x) || x == NULL)
			continue;
		char base[32];
		snprintf(base, sizeof(base), "spec.hooks.%s", keys[i]);
		if (v_argv(c, x, base, &arr) < 0 || v_put(c, h, keys[i], arr) < 0)
			return -1;
	}
	if (v_seconds(c, v, "hooks", "timeout", false, &timeout) < 0)
		return -1;
	return v_put_new(c, h, "timeout", json_object_new_double(timeout));
}

static int v_start(struct vctx *c, struct json_object *v, int present)
{
	if (present && !json_object_is_type(v, json_type_boolean))
		return v_msg(c, "must be true or false");
	return v_put_new(c, c->out, "start",
	                 json_object_new_boolean(present ? json_object_get_boolean(v) : 1));
}

static int v_description(struct vctx *c, struct json_object *v, int present)
{
	const char *s;

	if (!present || v == NULL)
		return v_put(c, c->out, "description", NULL);
	if (v_str(c, v, V_DESC_LEN, &s) < 0)
		return -1;
	return v_put_new(c, c->out, "description", json_object_new_string(s));
}

/* The agent sets PORT_<NAME> for every port (docs/architecture.md); env must not fight it. */
static int v_port_env(struct vctx *c)
{
	struct json_object *ports, *env, *x;
	char var[8 + V_PORT_NAME_MAX];
	const char *name;
	size_t i, j, n;

	if (!json_object_object_get_ex(c->out, "ports", &ports) ||
	    !json_object_object_get_ex(c->out, "env", &env))
		return 0;
	n = json_object_array_length(ports);
	for (i = 0; i < n; i++) {
		json_object_object_get_ex(json_object_array_get_idx(ports, i), "name", &x);
		name = json_object_get_string(x);
		snprintf(var, sizeof(var), "PORT_%s", name);
		for (j = 5; var[j] != '\0'; j++)
			if (var[j] >= 'a' && var[j] <= 'z')
				var[j] = (char)(var[j] - 'a' + 'A');
		if (json_object_object_get_ex(env, var, NULL)) {
			v_path(c, "spec.env.%s", var);
			return v_msg(c, "is set by the agent for port '%s'", name);
		}
	}
	return 0;
}

/*
 * The fields in the order they are checked: ports before health, which
 * names them. Each check gets v == NULL for JSON null, present == 0 when
 * the key is absent, and adds the normalized field to c->out.
 */
static const struct v_field {
	const char *key;
	int (*check)(struct vctx *c, struct json_object *v, int present);
} v_fields[] = {
    {"name", v_name},
    {"artifact", v_artifact},
    {"command", v_command},
    {"env", v_env},
    {"workdir", v_workdir},
    {"restart", v_restart},
    {"stop_signal", v_stop_signal},
    {"stop_timeout", v_stop_timeout},
    {"ports", v_ports},
    {"limits", v_limits},
    {"user", v_user},
    {"control", v_control},
    {"health", v_health},
    {"hooks", v_hooks},
    {"start", v_start},
    {"description", v_description},
};

/* Unknown fields are rejected first, so that a typo is reported as a typo (docs/api.md). */
static int v_spec_keys(struct vctx *c, struct json_object *in)
{
	size_t i;

	json_object_object_foreach(in, key, val)
	{
		(void)val;
		for (i = 0; i < ARRAY_SIZE(v_fields) && strcmp(key, v_fields[i].key) != 0; i++)
			;
		if (i == ARRAY_SIZE(v_fields)) {
			v_path(c, "spec.%.64s", key);
			return v_msg(c, "unknown field");
		}
	}
	return 0;
}

int validate_project_spec(struct json_object *in, const struct validate_opts *opt,
                          struct json_object **out, char *field, size_t fieldlen, char *msg,
                          size_t msglen)
{
	struct vctx c = {
	    .opt = opt, .field = field, .fieldlen = fieldlen, .msg = msg, .msglen = msglen};
	struct json_object *v;
	int present;

	v_path(&c, "spec");
	v_msg(&c, "%s", "");
	if (out == NULL)
		return v_msg(&c, "no output given");
	*out = NULL;
	if (!json_object_is_type(in, json_type_object))
		return v_msg(&c, "must be a JSON object");
	if (v_spec_keys(&c, in) < 0)
		return -1;
	c.out = json_object_new_object();
	if (c.out == NULL)
		return v_msg(&c, "out of memory");
	for (size_t i = 0; i < ARRAY_SIZE(v_fields); i++) {
		v = NULL;
		present = json_object_object_get_ex(in, v_fields[i].key, &v);
		v_path(&c, "spec.%s", v_fields[i].key);
		if (v_fields[i].check(&c, v, present) < 0)
			goto fail;
	}
	if (v_port_env(&c) < 0)
		goto fail;
	v_path(&c, "%s", "");
	*out = c.out;
	return 0;
fail:
	json_object_put(c.out);
	return -1;
}

/* ---- tasks (POST /api/v1/tasks): the queue's fields, then the run fields a project has ---- */

#define V_LABELS_MAX   64
#define V_AFTER_MAX    64
#define V_PROBLEM_LEN  128
#define V_TASK_TIMEOUT (7 * 24 * 3600.0)

static int t_project(struct vctx *c, struct json_object *v, int present)
{
	const char *s;

	if (!present || v == NULL)
		return 0;
	if (v_str(c, v, 64, &s) < 0 || validate_project_name(s) < 0)
		return v_msg(c, "must be a project name");
	return v_put_new(c, c->out, "project", json_object_new_string(s));
}

static int t_problem(struct vctx *c, struct json_object *v, int present)
{
	const char *s;

	if (!present || v == NULL)
		return 0;
	if (v_str(c, v, V_PROBLEM_LEN, &s) < 0 || s[0] == '\0')
		return v_msg(c, "must be a non-empty string of at most %d bytes", V_PROBLEM_LEN);
	return v_put_new(c, c->out, "problem_id", json_object_new_string(s));
}

static int t_parameters(struct vctx *c, struct json_object *v, int present)
{
	/* any JSON, null included; the body's size limit bounds it */
	return present ? v_put(c, c->out, "parameters", json_object_get(v)) : 0;
}

static int t_timeout(struct vctx *c, struct json_object *v, int present)
{
	double t;

	if (!present || v == NULL)
		return 0;
	if (v_num(v, 0, V_TASK_TIMEOUT, &t) < 0 || t <= 0)
		return v_msg(c, "must be a number of seconds above 0 and at most %g", V_TASK_TIMEOUT);
	return v_put_new(c, c->out, "timeout", json_object_new_double(t));
}

static int t_int_field(struct vctx *c, struct json_object *v, int present, const char *key,
                       int64_t min, int64_t max)
{
	int64_t n;

	if (!present || v == NULL)
		return 0;
	if (v_int(v, min, max, &n) < 0)
		return v_msg(c, "must be an integer from %lld to %lld", (long long)min, (long long)max);
	return v_put_new(c, c->out, key, json_object_new_int64(n));
}

static int t_max_steps(struct vctx *c, struct json_object *v, int present)
{
	return t_int_field(c, v, present, "max_steps", 1, INT32_MAX);
}

static int t_priority(struct vctx *c, struct json_object *v, int present)
{
	return t_int_field(c, v, present, "priority", -100, 100);
}

static int t_retries(struct vctx *c, struct json_object *v, int present)
{
	return t_int_field(c, v, present, "retries", 0, V_RETRIES_MAX);
}

static int t_labels(struct vctx *c, struct json_object *v, int present)
{
	struct json_object *o;
	const char *s;

	if (!present || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return v_msg(c, "must be an object of strings");
	if (json_object_object_length(v) > V_LABELS_MAX)
		return v_msg(c, "must have at most %d labels", V_LABELS_MAX);
	o = json_object_new_object();
	if (v_put_new(c, c->out, "labels", o) < 0)
		return -1;
	json_object_object_foreach(v, key, val)
	{
		v_path(c, "labels.%.64s", key);
		if (key[0] == '\0' || strlen(key) > 64)
			return v_msg(c, "a label name is 1 to 64 bytes");
		if (v_str(c, val, 256, &s) < 0)
			return v_msg(c, "must be a string of at most 256 bytes");
		if (v_put_new(c, o, key, json_object_new_string(s)) < 0)
			return -1;
	}
	return 0;
}

static int t_after(struct vctx *c, struct json_object *v, int present)
{
	struct json_object *arr;
	const char *s;
	size_t n;

	if (!present || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return v_msg(c, "must be an array of task ids");
	if ((n = json_object_array_length(v)) > V_AFTER_MAX)
		return v_msg(c, "must name at most %d tasks", V_AFTER_MAX);
	arr = json_object_new_array();
	if (v_put_new(c, c->out, "after", arr) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		v_path(c, "after[%zu]", i);
		if (v_str(c, json_object_array_get_idx(v, i), 39, &s) < 0 || s[0] == '\0')
			return v_msg(c, "must be a task id");
		if (v_append(c, arr, json_object_new_string(s)) < 0)
			return -1;
	}
	return 0;
}

static int t_worker(struct vctx *c, struct json_object *v, int present)
{
	const char *s;

	if (!present || v == NULL)
		return 0;
	if (v_str(c, v, 16, &s) < 0 || (strcmp(s, "internal") != 0 && strcmp(s, "external") != 0))
		return v_msg(c, "must be \"internal\" or \"external\"");
	return v_put_new(c, c->out, "worker", json_object_new_string(s));
}

/* The project spec's checkers, for the run fields a task may set (each only when given). */
static int t_run_field(struct vctx *c, const char *key, struct json_object *v, int present)
{
	for (size_t i = 0; i < ARRAY_SIZE(v_fields); i++)
		if (strcmp(v_fields[i].key, key) == 0)
			return present ? v_fields[i].check(c, v, present) : 0;
	return 0;
}

static int t_command(struct vctx *c, struct json_object *v, int p)
{
	return t_run_field(c, "command", v, p);
}
static int t_env(struct vctx *c, struct json_object *v, int p)
{
	return t_run_field(c, "env", v, p);
}
static int t_workdir(struct vctx *c, struct json_object *v, int p)
{
	return t_run_field(c, "workdir", v, p);
}
static int t_limits(struct vctx *c, struct json_object *v, int p)
{
	return t_run_field(c, "limits", v, p);
}
static int t_user(struct vctx *c, struct json_object *v, int p)
{
	return t_run_field(c, "user", v, p);
}
static int t_control(struct vctx *c, struct json_object *v, int p)
{
	return t_run_field(c, "control", v, p);
}
static int t_stop_signal(struct vctx *c, struct json_object *v, int p)
{
	return t_run_field(c, "stop_signal", v, p);
}
static int t_stop_timeout(struct vctx *c, struct json_object *v, int p)
{
	return t_run_field(c, "stop_timeout", v, p);
}
static int t_artifact(struct vctx *c, struct json_object *v, int p)
{
	return p && v != NULL ? t_run_field(c, "artifact", v, p) : 0;
}

static const struct v_field t_fields[] = {
    {"project", t_project},       {"artifact", t_artifact},     {"problem_id", t_problem},
    {"command", t_command},       {"parameters", t_parameters}, {"timeout", t_timeout},
    {"max_steps", t_max_steps},   {"labels", t_labels},         {"after", t_after},
    {"priority", t_priority},     {"retries", t_retries},       {"worker", t_worker},
    {"env", t_env},               {"workdir", t_workdir},       {"limits", t_limits},
    {"user", t_user},             {"control", t_control},       {"stop_signal", t_stop_signal},
    {"stop_timeout", t_stop_timeout},
};

/* The run field checkers report "spec.x": a task's fields are at the top. */
static void t_unprefix(char *field)
{
	if (field != NULL && strncmp(field, "spec.", 5) == 0)
		memmove(field, field + 5, strlen(field + 5) + 1);
}

static int t_shape(struct vctx *c)
{
	bool proj = json_object_object_get_ex(c->out, "project", NULL),
	     art = json_object_object_get_ex(c->out, "artifact", NULL),
	     prob = json_object_object_get_ex(c->out, "problem_id", NULL),
	     cmd = json_object_object_get_ex(c->out, "command", NULL);

	v_path(c, "%s", proj && art ? "artifact" : art && !cmd ? "command" : "project");
	if (proj && art)
		return v_msg(c, "give a project or an artifact, not both");
	if (art && !cmd)
		return v_msg(c, "is required with an artifact");
	if (!proj && !art && !prob)
		return v_msg(c, "a task names a project, an artifact with a command, or a problem_id");
	return 0;
}

int validate_task_spec(struct json_object *in, const struct validate_opts *opt,
                       struct json_object **out, char *field, size_t fieldlen, char *msg,
                       size_t msglen)
{
	struct vctx c = {
	    .opt = opt, .field = field, .fieldlen = fieldlen, .msg = msg, .msglen = msglen};
	struct json_object *v;
	size_t i;

	*out = NULL;
	v_path(&c, "%s", "");
	if (!json_object_is_type(in, json_type_object))
		return v_msg(&c, "must be a JSON object");
	json_object_object_foreach(in, key, val)
	{
		(void)val;
		for (i = 0; i < ARRAY_SIZE(t_fields) && strcmp(key, t_fields[i].key) != 0; i++)
			;
		if (i == ARRAY_SIZE(t_fields)) {
			v_path(&c, "%.64s", key);
			return v_msg(&c, "unknown field");
		}
	}
	c.out = json_object_new_object();
	for (i = 0; i < ARRAY_SIZE(t_fields); i++) {
		int present = json_object_object_get_ex(in, t_fields[i].key, &v);
		v_path(&c, "%s", t_fields[i].key);
		if (t_fields[i].check(&c, v, present) < 0)
			goto fail;
	}
	if (t_shape(&c) < 0)
		goto fail;
	*out = c.out;
	return 0;
fail:
	t_unprefix(field);
	json_object_put(c.out);
	return -1;
}
