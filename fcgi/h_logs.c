/* SPDX-License-Identifier: MIT */
/*
 * Logs: bundles (tar, tar.gz, zip) built by the runner and served by nginx,
 * and a job's stdout/stderr as plain text, read straight from its job
 * directory (<data>/jobs/<task>/: older segments stdout.NNNNNN.log.gz, the
 * current one stdout.log), with ?tail=N and ?follow=true.
 */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "util.h"

static const struct {
	const char *name, *ext, *type;
} formats[] = {
    {"tar", "tar", "application/x-tar"},
    {"tar.gz", "tar.gz", "application/gzip"},
    {"zip", "zip", "application/zip"},
};

/* ?format= → index into formats (tar by default); 422 otherwise. */
static int format_param(struct request *req, struct response *resp)
{
	const char *f = req_query(req, "format");

	if (f == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcmp(f, formats[i].name) == 0)
			return (int)i;
	resp_error(resp, 422, "validation_error", "format: must be tar, tar.gz or zip");
	return -1;
}

/* A UUID-shaped task id: it becomes a path component, so nothing else passes. */
static int task_id_ok(const char *id)
{
	return strlen(id) == 36 && strspn(id, "0123456789abcdef-") == 36;
}

/* ?task= must be a run of the project: 0 (out set or ""), -1 with resp. */
int h_task_param(struct request *req, struct response *resp, const char *project, char out[37])
{
	const char *t = req_query(req, "task");
	int rc;

	out[0] = '\0';
	if (t == NULL)
		return 0;
	rc = task_id_ok(t) ? store_task_of_project(req->store, t, project) : 0;
	if (rc < 0)
		return h_db_error(req, resp, "reading the task");
	if (rc == 0) {
		resp_error(resp, 422, "validation_error",
		           "task: '%.40s' is not a run of project '%s'", t, project);
		return -1;
	}
	memcpy(out, t, 37);
	return 0;
}

/* The runner's answer {"file": name} → X-Accel-Redirect to the bundle. */
static int bundle_answer(struct request *req, struct response *resp, struct store_command *c,
                         const char *base, int fmt)
{
	struct json_object *res = c->result ? json_tokener_parse(c->result) : NULL, *f;
	const char *file =
	    res && json_object_object_get_ex(res, "file", &f) ? json_object_get_string(f) : NULL;
	int rc = -1;

	if (strcmp(c->state, "failed") == 0) {
		resp_error(resp, 500, "internal", "log bundle failed: %s",
		           c->reason[0] ? c->reason : "no reason given");
	} else if (file == NULL || file[0] == '.' || strchr(file, '/') != NULL) {
		resp_error(resp, 500, "internal", "the runner reported no usable bundle file");
	} else {
		resp->status = 200;
		resp->no_body = true;
		resp_header(resp, "X-Accel-Redirect", "/_hostagent/bundles/%s", file);
		resp_header(resp, "Content-Type", "%s", formats[fmt].type);
		resp_header(resp, "Content-Disposition", "attachment; filename=\"%s-logs.%s\"",
		            base, formats[fmt].ext);
		rc = 0;
	}
	json_object_put(res);
	store_command_clear(c);
	return rc;
}

/* ?since= as RFC 3339 or milliseconds since the epoch; -2 when absent. */
static int since_param(struct request *req, struct response *resp, int64_t *ms)
{
	const char *s = req_query(req, "since");
	char *end;

	*ms = -2;
	if (s == NULL)
		return 0;
	if (util_time_parse(s, ms) == 0)
		return 0;
	*ms = strtoll(s, &end, 10);
	if (*s != '\0' && *end == '\0' && *ms >= 0)
		return 0;
	resp_error(resp, 422, "validation_error",
	           "since: must be an RFC 3339 time (2026-01-02T03:04:05Z) or epoch milliseconds");
	return -1;
}

int h_projects_logs(struct request *req, struct response *resp)
{
	struct store_project row;
	struct store_command c;
	char task[37], payload[256], since[32] = "null";
	int fmt = format_param(req, resp);
	int64_t ms;

	if (fmt < 0 || h_project_param(req, resp, &row) < 0 ||
	    h_task_param(req, resp, row.name, task) < 0 || since_param(req, resp, &ms) < 0)
		return -1;
	if (ms >= 0)
		snprintf(since, sizeof(since), "%lld", (long long)ms);
	snprintf(payload, sizeof(payload), "{\"task\":%s%s%s,\"since\":%s,\"format\":\"%s\"}",
	         task[0] ? "\"" : "", task[0] ? task : "null", task[0] ? "\"" : "", since,
	         formats[fmt].name);
	if (h_command_wait(req, resp, "logs.bundle", row.name, payload, &c) < 0)
		return -1;
	return bundle_answer(req, resp, &c, row.name, fmt);
}

int h_agent_logs(struct request *req, struct response *resp)
{
	struct store_command c;
	char payload[64];
	int fmt = format_param(req, resp);

	if (fmt < 0 || h_need_store(req, resp) < 0)
		return -1;
	snprintf(payload, sizeof(payload), "{\"format\":\"%s\"}", formats[fmt].name);
	if (h_command_wait(req, resp, "agent.logs", NULL, payload, &c) < 0)
		return -1;
	return bundle_answer(req, resp, &c, "hostagent", fmt);
}
