/* SPDX-License-Identifier: MIT */
/*
 * /api/v1/projects reads and controls: list, get, start, stop, restart,
 * signal, rollback, delete. Control writes a command (and, for a rollback,
 * the service task it starts) and answers 202; the runner applies it.
 */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "json_out.h"
#include "util.h"

static const char *const no_fields[] = {NULL};

int h_projects_list(struct request *req, struct response *resp)
{
	struct store_project_info *arr;
	int64_t total;
	int limit, offset;
	size_t n;

	if (h_need_store(req, resp) < 0 || h_paging(req, resp, &limit, &offset) < 0)
		return -1;
	if (store_project_list(req->store, limit, offset, &arr, &n, &total) < 0)
		return h_db_error(req, resp, "listing projects");
	resp_list(resp, json_out_projects(arr, n), total, limit, offset);
	store_project_info_free(arr, n);
	return 0;
}

int h_projects_get(struct request *req, struct response *resp)
{
	struct store_project row;
	struct store_project_info info;
	int rc;

	if (h_project_param(req, resp, &row) < 0)
		return -1;
	rc = store_project_get(req->store, row.name, &info);
	if (rc < 0)
		return h_db_error(req, resp, "reading the project");
	if (rc == 0) {
		resp_error(resp, 404, "not_found", "project '%s' not found", row.name);
		return -1;
	}
	resp_ok(resp, 200, json_out_project(&info));
	store_project_info_clear(&info);
	return 0;
}

/* start/stop/restart take no parameters: an empty body or {}. */
static int simple_command(struct request *req, struct response *resp, const char *kind)
{
	struct store_project row;

	if (h_project_param(req, resp, &row) < 0 || h_body_object(req, resp, true) < 0 ||
	    (req->json != NULL && h_no_unknown(resp, req->json, no_fields) < 0))
		return -1;
	return h_command_202(req, resp, kind, row.name, "{}", NULL);
}

int h_projects_start(struct request *req, struct response *resp)
{
	return simple_command(req, resp, "project.start");
}

int h_projects_stop(struct request *req, struct response *resp)
{
	return simple_command(req, resp, "project.stop");
}

int h_projects_restart(struct request *req, struct response *resp)
{
	return simple_command(req, resp, "project.restart");
}

/* {"signal": "HUP" | "SIGHUP" | 1} → the number; 422 naming the field. */
static int signal_from_body(struct request *req, struct response *resp, int *sig)
{
	static const char *const fields[] = {"signal", NULL};
	struct json_object *v;
	char num[16];

	if (h_body_object(req, resp, false) < 0 || h_no_unknown(resp, req->json, fields) < 0)
		return -1;
	if (!json_object_object_get_ex(req->json, "signal", &v)) {
		resp_error(resp, 422, "validation_error", "signal: is required");
		return -1;
	}
	if (json_object_is_type(v, json_type_int)) {
		snprintf(num, sizeof(num), "%lld", (long long)json_object_get_int64(v));
		*sig = util_signal_parse(num);
	} else if (json_object_is_type(v, json_type_string)) {
		*sig = util_signal_parse(json_object_get_string(v));
	} else {
		*sig = -1;
	}
	if (*sig < 0) {
		resp_error(resp, 422, "validation_error",
		           "signal: unknown signal (a name like \"HUP\" or a number from 1 to 64)");
		return -1;
	}
	return 0;
}

int h_projects_signal(struct request *req, struct response *resp)
{
	struct store_project row;
	struct json_object *extra;
	char payload[64];
	const char *name;
	int sig;

	if (h_project_param(req, resp, &row) < 0 || signal_from_body(req, resp, &sig) < 0)
		return -1;
	/* a run that is up, whether or not its checks pass yet */
	if (strcmp(row.state, "running") != 0 && strcmp(row.state, "starting") != 0 &&
	    strcmp(row.state, "unhealthy") != 0) {
		resp_error(resp, 409, "conflict", "project '%s' is not running (state: %s)",
		           row.name, row.state);
		return -1;
	}
	snprintf(payload, sizeof(payload), "{\"signal\":%d}", sig);
	extra = json_object_new_object();
	name = util_signal_name(sig);
	json_object_object_add(extra, "signal",
	                       name ? json_object_new_string(name) : json_object_new_int(sig));
	return h_command_202(req, resp, "project.signal", row.name, payload, extra);
}

int h_projects_rollback(struct request *req, struct response *resp)
{
	struct store_project row;
	struct json_object *extra, *rel, *task;
	char artifact[65], id[37], payload[160], *spec = NULL;
	int64_t rid, seq;
	int rc;

	if (h_project_param(req, resp, &row) < 0 || h_body_object(req, resp, true) < 0 ||
	    (req->json != NULL && h_no_unknown(resp, req->json, no_fields) < 0))
		return -1;
	if (store_begin(req->store) < 0)
		return h_db_error(req, resp, "starting a transaction");
	rc = store_release_previous(req->store, row.name, &rid, &seq, artifact, &spec);
	if (rc < 0)
		return h_db_error(req, resp, "finding the previous release");
	if (rc == 0) {
		store_rollback(req->store);
		resp_error(resp, 409, "conflict",
		           "project '%s' has no previous ready release to roll back to", row.name);
		return -1;
	}
	if (util_uuid4(id) < 0 ||
	    store_task_add_service(req->store, id, row.name, rid, artifact, spec) < 0) {
		free(spec);
		return h_db_error(req, resp, "adding the service task");
	}
	free(spec);
	snprintf(payload, sizeof(payload), "{\"release_id\":%lld,\"task_id\":\"%s\"}",
	         (long long)rid, id);
	extra = json_object_new_object();
	rel = json_object_new_object();
	task = json_object_new_object();
	json_object_object_add(rel, "id", json_object_new_int64(rid));
	json_object_object_add(rel, "seq", json_object_new_int64(seq));
	json_object_object_add(task, "id", json_object_new_string(id));
	json_object_object_add(extra, "release", rel);
	json_object_object_add(extra, "task", task);
	return h_command_202_in(req, resp, "project.rollback", row.name, payload, extra);
}

int h_projects_delete(struct request *req, struct response *resp)
{
	const char *purge = req_query(req, "purge");
	struct store_project row;
	bool p = false;

	if (purge != NULL) {
		if (strcmp(purge, "true") == 0 || strcmp(purge, "1") == 0) {
			p = true;
		} else if (strcmp(purge, "false") != 0 && strcmp(purge, "0") != 0) {
			resp_error(resp, 422, "validation_error", "purge: must be true or false");
			return -1;
		}
	}
	if (h_project_param(req, resp, &row) < 0)
		return -1;
	return h_command_202(req, resp, "project.delete", row.name,
	                     p ? "{\"purge\":true}" : "{\"purge\":false}", NULL);
}
