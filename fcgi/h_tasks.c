/* SPDX-License-Identifier: MIT */
/*
 * Queued tasks (docs/api.md, Tasks): create, list, show, cancel. The
 * handler writes what the user wants (the pending row with its
 * dependencies and task.created event; a task.cancel command) and the
 * runner does the rest: it claims, runs and ends tasks, and is the only
 * writer of a task's state after it is created.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "envelope.h"
#include "handlers.h"
#include "json_out.h"
#include "request.h"
#include "store.h"
#include "store_artifacts.h"
#include "store_projects.h"
#include "store_queue.h"
#include "util.h"
#include "validate.h"

/* Run fields a task takes from its project unless it gives its own (SPEC 3.5). */
static const char *const run_fields[] = {"command", "env",         "workdir",     "limits",
                                         "user",    "control",     "stop_signal", "stop_timeout"};

/* Valid, but what this version does not run yet: refused rather than stored and ignored. */
static int not_run_yet(struct response *resp, struct json_object *norm)
{
	struct json_object *v;

	if ((!json_object_object_get_ex(norm, "project", NULL) &&
	     !json_object_object_get_ex(norm, "artifact", NULL)) ||
	    (json_object_object_get_ex(norm, "worker", &v) &&
	     strcmp(json_object_get_string(v), "external") == 0)) {
		resp_error(resp, 422, "validation_error",
		           "worker: tasks for external workers are not run by this version yet; "
		           "name a project or an artifact for this host's slots");
		return -1;
	}
	if (json_object_object_get_ex(norm, "control", &v) && v != NULL &&
	    strcmp(json_object_get_string(v), "messages") == 0) {
		resp_error(resp, 422, "validation_error",
		           "control: 'messages' (the control channel) is not supported by this "
		           "version yet; use 'signals'");
		return -1;
	}
	return 0;
}

static int validate(struct request *req, struct response *resp, struct json_object **norm)
{
	const char *users[CONFIG_MAX_USERS];
	struct validate_opts o = {users, req->cfg->n_allowed_users, 0, 0};
	char field[128] = "", msg[256] = "invalid";

	for (size_t i = 0; i < req->cfg->n_allowed_users; i++)
		users[i] = req->cfg->allowed_users[i];
	if (validate_task_spec(req->json, &o, norm, field, sizeof(field), msg, sizeof(msg)) < 0) {
		resp_error(resp, 422, "validation_error", "%s: %s", field, msg);
		return -1;
	}
	if (not_run_yet(resp, *norm) < 0) {
		json_object_put(*norm);
		*norm = NULL;
		return -1;
	}
	return 0;
}

/*
 * The spec the run gets: the project's current one, without what only a
 * service has (health, hooks, restart, ports' allocation stays the
 * project's), with the task's own run fields over it.
 */
static char *run_spec(const char *project_spec, struct json_object *norm)
{
	static const char *const service_only[] = {"health", "hooks", "restart", "start", "name",
	                                           "description"};
	struct json_object *spec = json_tokener_parse(project_spec ? project_spec : "{}"), *v;
	char *text;

	if (spec == NULL || !json_object_is_type(spec, json_type_object)) {
		json_object_put(spec);
		spec = json_object_new_object();
	}
	for (size_t i = 0; i < ARRAY_SIZE(service_only); i++)
		json_object_object_del(spec, service_only[i]);
	for (size_t i = 0; i < ARRAY_SIZE(run_fields); i++)
		if (json_object_object_get_ex(norm, run_fields[i], &v))
			json_object_object_add(spec, run_fields[i], json_object_get(v));
	text = strdup(json_object_to_json_string_ext(spec, JSON_C_TO_STRING_PLAIN |
	                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(spec);
	return text;
}

/* The project must exist and have a release that runs; *spec is its spec (malloc'd). */
static int project_of(struct request *req, struct response *resp, const char *name,
                      int64_t *release_id, char **spec)
{
	struct store_project_info info;
	int rc = store_project_get(req->store, name, &info);

	if (rc < 0)
		return h_db_error(req, resp, "reading the project");
	if (rc == 0 || !info.release.present || !info.release.found) {
		resp_error(resp, 422, "validation_error", "project: %s '%.64s'",
		           rc == 0 ? "unknown project" : "no release runs yet for project", name);
		if (rc == 1)
			store_project_info_clear(&info);
		return -1;
	}
	*release_id = info.release.id;
	*spec = info.spec;
	info.spec = NULL;
	store_project_info_clear(&info);
	return 0;
}

/* An artifact's task: the artifact must have been uploaded. */
static int artifact_known(struct request *req, struct response *resp, const char *sha)
{
	int rc = store_artifact_exists(req->store, sha);

	if (rc < 0)
		return h_db_error(req, resp, "reading the artifact");
	if (rc == 0) {
		resp_error(resp, 422, "validation_error", "artifact: unknown artifact %.64s", sha);
		return -1;
	}
	return 0;
}

static const char *str_of(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && v != NULL ? json_object_get_string(v) : NULL;
}

static int int_of(struct json_object *o, const char *key, int dflt)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && v != NULL ? json_object_get_int(v) : dflt;
}

/* The dependencies: every id must name a task (422 naming the first that does not). */
static int deps_of(struct request *req, struct response *resp, struct json_object *norm,
                   const char ***ids, size_t *n)
{
	struct json_object *after;
	const char *missing;
	int rc;

	*ids = NULL;
	*n = 0;
	if (!json_object_object_get_ex(norm, "after", &after))
		return 0;
	*n = json_object_array_length(after);
	*ids = calloc(*n + 1, sizeof(**ids));
	if (*ids == NULL) {
		resp_error(resp, 500, "internal", "out of memory");
		return -1;
	}
	for (size_t i = 0; i < *n; i++)
		(*ids)[i] = json_object_get_string(json_object_array_get_idx(after, i));
	rc = store_tasks_exist(req->store, *ids, *n, &missing);
	if (rc < 0)
		return h_db_error(req, resp, "reading the tasks it waits for");
	if (rc == 0) {
		resp_error(resp, 422, "validation_error", "after: unknown task '%.40s'", missing);
		return -1;
	}
	return 0;
}

static void fill_new(struct store_new_task *t, struct json_object *norm, const struct config *cfg)
{
	struct json_object *v;

	t->project = str_of(norm, "project");
	t->artifact = str_of(norm, "artifact");
	t->problem_id = str_of(norm, "problem_id");
	t->parameters = json_object_object_get_ex(norm, "parameters", &v)
	                    ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN)
	                    : NULL;
	t->labels = json_object_object_get_ex(norm, "labels", &v)
	                ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN)
	                : NULL;
	t->priority = int_of(norm, "priority", 0);
	t->retries = int_of(norm, "retries", 0);
	t->max_steps = int_of(norm, "max_steps", 0);
	t->timeout_s = json_object_object_get_ex(norm, "timeout", &v)
	                   ? (int64_t)(json_object_get_double(v) + 0.999)
	                   : (int64_t)cfg->default_timeout_minutes * 60;
}

static int tasks_create(struct request *req, struct response *resp, bool inject);

int h_tasks_create(struct request *req, struct response *resp)
{
	return tasks_create(req, resp, false);
}

/* POST /api/v1/queue/inject: a task that runs now, outside the order and the slot limit. */
int h_queue_inject(struct request *req, struct response *resp)
{
	return tasks_create(req, resp, true);
}

static int tasks_create(struct request *req, struct response *resp, bool inject)
{
	struct json_object *norm = NULL;
	struct store_new_task t = {0};
	struct store_task_info info;
	int64_t cmd;
	char id[40], *pspec = NULL, *spec = NULL;
	const char **after = NULL;
	int rc = -1;

	if (h_need_store(req, resp) < 0 || h_body_object(req, resp, false) < 0 ||
	    validate(req, resp, &norm) < 0)
		return -1;
	fill_new(&t, norm, req->cfg);
	if ((t.project != NULL ? project_of(req, resp, t.project, &t.release_id, &pspec)
	                       : artifact_known(req, resp, t.artifact)) < 0 ||
	    deps_of(req, resp, norm, &after, &t.nafter) < 0)
		goto done;
	if ((spec = run_spec(pspec, norm)) == NULL || util_uuid4(id) < 0) {
		resp_error(resp, 500, "internal", "out of memory");
		goto done;
	}
	t.id = id;
	t.spec = spec;
	t.after = after;
	if (store_begin(req->store) < 0 || store_task_add(req->store, &t) < 0 ||
	    (inject && store_command_add(req->store, "task.inject", id, "{}", req->request_id,
	                                 &cmd) < 0) ||
	    store_task_info_get(req->store, id, &info) != 1) {
		rc = h_db_error(req, resp, "queueing the task");
		goto done;
	}
	resp_ok(resp, 201, json_out_task(&info));
	store_task_info_clear(&info);
	rc = h_commit(req, resp);
	if (rc == 0)
		h_wake(req);
done:
	free(after);
	free(pspec);
	free(spec);
	json_object_put(norm);
	return rc;
}

/* ?status=a,b as the JSON array the store filters by; 422 for a state that is none. */
static int states_of(struct response *resp, const char *q, char *out, size_t len)
{
	static const char *const states[] = {"pending", "running", "paused",   "completed",
	                                     "failed",  "timeout", "cancelled"};
	size_t o = 0, i;
	const char *p = q;

	out[o++] = '[';
	while (*p != '\0') {
		size_t n = strcspn(p, ",");
		for (i = 0; i < ARRAY_SIZE(states) &&
		            (strlen(states[i]) != n || strncmp(states[i], p, n) != 0);
		     i++)
			;
		if (i == ARRAY_SIZE(states) || o + n + 4 >= len) {
			resp_error(resp, 422, "validation_error",
			           "status: pending, running, paused, completed, failed, timeout or "
			           "cancelled, or a comma list of them");
			return -1;
		}
		o += (size_t)snprintf(out + o, len - o, "%s\"%s\"", o > 1 ? "," : "", states[i]);
		p += n + (p[n] == ',');
	}
	snprintf(out + o, len - o, "]");
	return 0;
}

/* ?status= (also ?state=), ?project=, ?problem_id=, ?worker_id=, ?label=key=value. */
static int filter_of(struct request *req, struct response *resp, struct store_task_filter *f,
                     char *label, size_t len, char *states, size_t slen)
{
	const char *lab = req_query(req, "label"), *colon;
	const char *st = req_query(req, "status") ? req_query(req, "status") : req_query(req, "state");

	if (st != NULL) {
		if (states_of(resp, st, states, slen) < 0)
			return -1;
		f->states = states;
		if (strchr(st, ',') == NULL)
			f->state = st; /* one state: the list walks its index, newest first */
	}
	f->project = req_query(req, "project");
	f->problem_id = req_query(req, "problem_id");
	f->worker_id = req_query(req, "worker_id");
	if (lab != NULL) {
		colon = strchr(lab, '=') ? strchr(lab, '=') : strchr(lab, ':');
		if (colon == NULL || colon == lab || util_fmt(label, len, "%s", lab) < 0) {
			resp_error(resp, 422, "validation_error", "label: key=value");
			return -1;
		}
		label[colon - lab] = '\0';
		f->label_key = label;
		f->label_value = label + (colon - lab) + 1;
	}
	return 0;
}

int h_tasks_list(struct request *req, struct response *resp)
{
	struct store_task_filter f = {0};
	struct store_task_info *arr;
	char label[300], states[160];
	int64_t total;
	size_t n;

	if (h_need_store(req, resp) < 0 || h_paging(req, resp, &f.limit, &f.offset) < 0 ||
	    filter_of(req, resp, &f, label, sizeof(label), states, sizeof(states)) < 0)
		return -1;
	if (store_task_list(req->store, &f, &arr, &n, &total) < 0)
		return h_db_error(req, resp, "listing tasks");
	resp_list(resp, json_out_tasks(arr, n), total, f.limit, f.offset);
	store_task_infos_free(arr, n);
	return 0;
}

/* The task of the path, or a 404. 1 found, -1 answered. */
static int task_param(struct request *req, struct response *resp, struct store_task_info *info)
{
	const char *id = req_path_param(req, 0);
	int rc;

	if (h_need_store(req, resp) < 0)
		return -1;
	rc = id != NULL && strlen(id) < 40 ? store_task_info_get(req->store, id, info) : 0;
	if (rc < 0)
		return h_db_error(req, resp, "reading the task");
	if (rc == 0) {
		resp_error(resp, 404, "not_found", "task '%.40s' not found", id ? id : "");
		return -1;
	}
	return 1;
}

int h_tasks_get(struct request *req, struct response *resp)
{
	struct store_task_info info;

	if (task_param(req, resp, &info) < 0)
		return -1;
	resp_ok(resp, 200, json_out_task(&info));
	store_task_info_clear(&info);
	return 0;
}

static bool terminal(const char *state)
{
	return strcmp(state, "completed") == 0 || strcmp(state, "failed") == 0 ||
	       strcmp(state, "timeout") == 0 || strcmp(state, "cancelled") == 0;
}

int h_tasks_cancel(struct request *req, struct response *resp)
{
	struct store_task_info info;
	struct json_object *o, *c;
	char watch[80];
	int64_t cmd;
	int rc;

	if (task_param(req, resp, &info) < 0)
		return -1;
	if (terminal(info.state)) {
		resp_error(resp, 409, "conflict", "task '%s' is already %s", info.id, info.state);
		store_task_info_clear(&info);
		return -1;
	}
	if (store_begin(req->store) < 0)
		return h_db_error(req, resp, "starting a transaction");
	/* pending: cancelled now, unless a claim came first (then it is a running one) */
	rc = store_task_cancel_pending(req->store, info.id, "cancelled by request before it ran");
	if (rc == 1) {
		char id[40];
		snprintf(id, sizeof(id), "%s", info.id);
		store_task_info_clear(&info);
		if (store_task_info_get(req->store, id, &info) != 1)
			return h_db_error(req, resp, "reading the task");
		resp_ok(resp, 200, json_out_task(&info));
		store_task_info_clear(&info);
		return h_commit(req, resp);
	}
	if (rc < 0 ||
	    store_command_add(req->store, "task.cancel", info.id, "{}", req->request_id, &cmd) < 0) {
		store_task_info_clear(&info);
		return h_db_error(req, resp, "queueing the cancel");
	}
	o = json_object_new_object();
	c = json_object_new_object();
	json_object_object_add(c, "id", json_object_new_int64(cmd));
	json_object_object_add(c, "kind", json_object_new_string("task.cancel"));
	json_object_object_add(o, "task", json_object_new_string(info.id));
	json_object_object_add(o, "command", c);
	snprintf(watch, sizeof(watch), "/api/v1/tasks/%s", info.id);
	json_object_object_add(o, "watch", json_object_new_string(watch));
	store_task_info_clear(&info);
	resp_ok(resp, 202, o);
	if (h_commit(req, resp) < 0)
		return -1;
	h_wake(req);
	return 0;
}
