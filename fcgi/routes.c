/* SPDX-License-Identifier: MIT */
/*
 * The API's routes and the matcher. The table is the one place that says
 * which scope and which body handling each endpoint gets.
 */
#include "routes.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "handlers.h"

#define P "/api/v1"

const struct route route_table[] = {
    {"GET", "/", SCOPE_NONE, 0, h_root, "root"},
    {"GET", "/ping", SCOPE_NONE, 0, h_ping, "ping"},
    {"POST", "/ping", SCOPE_NONE, 0, h_ping, "ping"},
    {"GET", "/health", SCOPE_NONE, 0, h_health, "health"},
    {"GET", "/ready", SCOPE_NONE, 0, h_ready, "ready"},

    {"GET", P "/tokens", SCOPE_ADMIN, RF_SNAPSHOT, h_tokens_list, "tokens.list"},
    {"POST", P "/tokens", SCOPE_ADMIN, RF_JSON | RF_IDEMPOTENT, h_tokens_create, "tokens.create"},
    {"GET", P "/tokens/{id}", SCOPE_ADMIN, RF_SNAPSHOT, h_tokens_get, "tokens.get"},
    {"DELETE", P "/tokens/{id}", SCOPE_ADMIN, 0, h_tokens_revoke, "tokens.revoke"},
    {"GET", P "/agent/logs", SCOPE_ADMIN, 0, h_agent_logs, "agent.logs"},

    {"GET", P "/artifacts", SCOPE_READ, RF_SNAPSHOT, h_artifacts_list, "artifacts.list"},
    {"POST", P "/artifacts", SCOPE_OPERATE, RF_RAW | RF_IDEMPOTENT, h_artifacts_upload,
     "artifacts.upload"},
    {"GET", P "/artifacts/{sha256}", SCOPE_READ, RF_SNAPSHOT, h_artifacts_get, "artifacts.get"},
    {"DELETE", P "/artifacts/{sha256}", SCOPE_OPERATE, 0, h_artifacts_delete, "artifacts.delete"},
    {"GET", P "/artifacts/{sha256}/download", SCOPE_READ, 0, h_artifacts_download,
     "artifacts.download"},

    {"GET", P "/projects", SCOPE_READ, RF_SNAPSHOT, h_projects_list, "projects.list"},
    {"POST", P "/projects", SCOPE_OPERATE, RF_JSON | RF_MULTIPART | RF_IDEMPOTENT, h_deploy,
     "projects.deploy"},
    {"GET", P "/projects/{name}", SCOPE_READ, RF_SNAPSHOT, h_projects_get, "projects.get"},
    {"DELETE", P "/projects/{name}", SCOPE_OPERATE, 0, h_projects_delete, "projects.delete"},
    {"POST", P "/projects/{name}/start", SCOPE_OPERATE, RF_JSON | RF_IDEMPOTENT, h_projects_start,
     "projects.start"},
    {"POST", P "/projects/{name}/stop", SCOPE_OPERATE, RF_JSON | RF_IDEMPOTENT, h_projects_stop,
     "projects.stop"},
    {"POST", P "/projects/{name}/restart", SCOPE_OPERATE, RF_JSON | RF_IDEMPOTENT,
     h_projects_restart, "projects.restart"},
    {"POST", P "/projects/{name}/signal", SCOPE_OPERATE, RF_JSON | RF_IDEMPOTENT, h_projects_signal,
     "projects.signal"},
    {"POST", P "/projects/{name}/rollback", SCOPE_OPERATE, RF_JSON | RF_IDEMPOTENT,
     h_projects_rollback, "projects.rollback"},
    {"GET", P "/projects/{name}/logs", SCOPE_READ, 0, h_projects_logs, "projects.logs"},
    {"GET", P "/projects/{name}/logs/{stream}", SCOPE_READ, 0, h_projects_log_stream,
     "projects.log_stream"},

    {"GET", P "/tasks", SCOPE_READ, RF_SNAPSHOT, h_tasks_list, "tasks.list"},
    {"POST", P "/tasks", SCOPE_OPERATE, RF_JSON | RF_IDEMPOTENT, h_tasks_create, "tasks.create"},
    {"GET", P "/tasks/{id}", SCOPE_READ, RF_SNAPSHOT, h_tasks_get, "tasks.get"},
    {"POST", P "/tasks/{id}/cancel", SCOPE_OPERATE, RF_JSON | RF_IDEMPOTENT, h_tasks_cancel,
     "tasks.cancel"},
    {"GET", P "/tasks/{id}/logs/{stream}", SCOPE_READ, 0, h_tasks_log_stream,
     "tasks.log_stream"},

    {"GET", P "/queue", SCOPE_READ, RF_SNAPSHOT, h_queue_get, "queue.get"},
    {"POST", P "/queue/stop", SCOPE_OPERATE, RF_JSON, h_queue_stop, "queue.stop"},
    {"POST", P "/queue/start", SCOPE_OPERATE, RF_JSON, h_queue_start, "queue.start"},
    {"POST", P "/queue/inject", SCOPE_OPERATE, RF_JSON | RF_IDEMPOTENT, h_queue_inject,
     "queue.inject"},
    {"GET", P "/workers/internal/status", SCOPE_READ, RF_SNAPSHOT, h_workers_internal_status,
     "workers.internal.status"},
    {"POST", P "/workers/internal/scale", SCOPE_OPERATE, RF_JSON, h_workers_internal_scale,
     "workers.internal.scale"},
    {"POST", P "/workers/internal/stop", SCOPE_OPERATE, RF_JSON, h_workers_internal_stop,
     "workers.internal.stop"},
    {"POST", P "/workers/internal/start", SCOPE_OPERATE, RF_JSON, h_workers_internal_start,
     "workers.internal.start"},
};

const size_t route_table_len = sizeof(route_table) / sizeof(route_table[0]);

/*
 * Splits the next segment of *p (after its leading '/') into seg; returns
 * its length, or -1 at the end of the path.
 */
static int next_segment(const char **p, const char **seg)
{
	const char *s = *p, *e;

	if (*s == '/')
		s++;
	if (*s == '\0')
		return -1;
	e = strchrnul(s, '/');
	*seg = s;
	*p = e;
	return (int)(e - s);
}

/*
 * Matches one pattern. Returns -1 for no match, else the number of literal
 * segments (the specificity); params are filled on a match.
 */
static int pattern_match(const char *pattern, const char *path,
                         char params[ROUTE_MAX_PARAMS][ROUTE_PARAM_LEN], size_t *np)
{
	const char *pp = pattern, *xp = path, *ps = NULL, *xs = NULL;
	int pl, xl, literal = 0;

	*np = 0;
	for (;;) {
		pl = next_segment(&pp, &ps);
		xl = next_segment(&xp, &xs);
		if (pl < 0 || xl < 0)
			return (pl < 0 && xl < 0) ? literal : -1;
		if (ps[0] == '{') {
			if (xl >= ROUTE_PARAM_LEN || *np >= ROUTE_MAX_PARAMS)
				return -1;
			memcpy(params[*np], xs, (size_t)xl);
			params[(*np)++][xl] = '\0';
			continue;
		}
		if (pl != xl || memcmp(ps, xs, (size_t)pl) != 0)
			return -1;
		literal++;
	}
}

static void allow_add(char *allow, size_t len, const char *m)
{
	size_t o = strlen(allow);

	/* the table lists a method once per path shape, but stay idempotent */
	for (const char *p = allow; (p = strstr(p, m)) != NULL; p += strlen(m))
		if ((p == allow || p[-1] == ' ') && (p[strlen(m)] == ',' || p[strlen(m)] == '\0'))
			return;
	snprintf(allow + o, len - o, "%s%s", o ? ", " : "", m);
}

enum route_result route_match(const struct route *table, size_t n, const char *method,
                              const char *path, const struct route **out,
                              char params[ROUTE_MAX_PARAMS][ROUTE_PARAM_LEN], size_t *nparams,
                              char *allow, size_t allowlen)
{
	char tmp[ROUTE_MAX_PARAMS][ROUTE_PARAM_LEN];
	const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
	int best = -1, s;
	size_t np;

	/* the most specific shape that fits the path decides */
	for (size_t i = 0; i < n; i++) {
		s = pattern_match(table[i].pattern, path, tmp, &np);
		if (s > best)
			best = s;
	}
	if (best < 0)
		return ROUTE_NOT_FOUND;
	if (allow != NULL && allowlen > 0)
		allow[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (pattern_match(table[i].pattern, path, tmp, &np) != best)
			continue;
		if (strcmp(table[i].method, m) == 0) {
			memcpy(params, tmp, sizeof(tmp));
			*nparams = np;
			*out = &table[i];
			return ROUTE_FOUND;
		}
		if (allow != NULL && allowlen > 0) {
			allow_add(allow, allowlen, table[i].method);
			if (strcmp(table[i].method, "GET") == 0)
				allow_add(allow, allowlen, "HEAD");
		}
	}
	return ROUTE_BAD_METHOD;
}
