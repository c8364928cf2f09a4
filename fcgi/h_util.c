/* SPDX-License-Identifier: MIT */
/*
 * Helpers every handler shares: database availability, paging, unknown
 * fields, the commit that carries the Idempotency-Key row, waking the
 * runner, and commands answered with 202 or waited for.
 */
#include "handlers.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "config.h"
#include "log.h"
#include "util.h"
#include "validate.h"
#include "wake.h"

#define WAIT_MAX_MS      120000
#define WAIT_STEP_MAX_MS 20

int h_need_store(struct request *req, struct response *resp)
{
	if (req->store != NULL)
		return 0;
	resp_error(resp, 503, "unavailable", "database unavailable");
	return -1;
}

int h_db_error(struct request *req, struct response *resp, const char *what)
{
	log_error("%s %s: %s failed: %s", req->method, req->path, what, store_errmsg(req->store));
	if (req->store != NULL)
		store_rollback(req->store);
	resp_error(resp, 500, "internal", "database error while %s", what);
	return -1;
}

/* A non-negative decimal integer no larger than max; -1 otherwise. */
static int parse_uint(const char *s, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

int h_paging(struct request *req, struct response *resp, int *limit, int *offset)
{
	const char *l = req_query(req, "limit"), *o = req_query(req, "offset");
	long v;

	*limit = 100;
	*offset = 0;
	if (l != NULL) {
		if (parse_uint(l, 1000, &v) < 0 || v < 1) {
			resp_error(resp, 422, "validation_error",
			           "limit: must be an integer from 1 to 1000");
			return -1;
		}
		*limit = (int)v;
	}
	if (o != NULL) {
		if (parse_uint(o, 1000000000L, &v) < 0) {
			resp_error(resp, 422, "validation_error",
			           "offset: must be a non-negative integer");
			return -1;
		}
		*offset = (int)v;
	}
	return 0;
}

int h_no_unknown(struct response *resp, struct json_object *obj, const char *const *allowed)
{
	json_object_object_foreach(obj, key, val)
	{
		size_t i;
		(void)val;
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], key) == 0)
				break;
		if (allowed[i] == NULL) {
			resp_error(resp, 422, "validation_error", "%.128s: unknown field", key);
			return -1;
		}
	}
	return 0;
}

int h_body_object(struct request *req, struct response *resp, bool optional)
{
	if (req->json == NULL) {
		if (optional)
			return 0;
		resp_error(resp, 400, "bad_request", "a JSON object body is required");
		return -1;
	}
	if (!json_object_is_type(req->json, json_type_object)) {
		resp_error(resp, 422, "validation_error", "body: must be a JSON object");
		return -1;
	}
	return 0;
}

/* The idempotency row goes in the same transaction as the change it records. */
static int idem_record(struct request *req, struct response *resp, struct json_object *stored)
{
	struct response copy = *resp;
	char *text;
	int rc;

	if (req->idem_key == NULL || !(req->route->flags & RF_IDEMPOTENT) || !req->authed)
		return 0;
	if (stored != NULL)
		copy.result = stored;
	text = env_render(&copy, req->request_id, 0, NULL);
	if (text == NULL)
		return -1;
	rc = store_idem_put(req->store, req->token.id, req->idem_key, req->method, req->path,
	                    req->body_sha256, resp->status, text);
	free(text);
	if (rc == 1) {
		store_rollback(req->store);
		resp_error(resp, 409, "conflict",
		           "a concurrent request with the same Idempotency-Key was accepted first;"
		           " retry to get its response");
		return 1;
	}
	return rc;
}

int h_commit(struct request *req, struct response *resp)
{
	return h_commit_as(req, resp, NULL);
}

int h_commit_as(struct request *req, struct response *resp, struct json_object *stored)
{
	int rc = idem_record(req, resp, stored);

	if (rc == 1)
		return -1;
	if (rc < 0)
		return h_db_error(req, resp, "recording the Idempotency-Key");
	if (store_commit(req->store) < 0) {
		resp_error(resp, 500, "internal", "database error while committing");
		return -1;
	}
	return 0;
}

void h_wake(struct request *req)
{
	if (wake_send(req->cfg->runner_socket) < 0)
		log_debug("runner wake-up socket %s: nobody listening", req->cfg->runner_socket);
}

int h_runner_alive(struct request *req, struct store_runner *out)
{
	int rc = store_runner_get(req->store, out);

	if (rc <= 0)
		return rc;
	return out->stopped_at == 0 &&
	       util_now_ms() - out->heartbeat_at <= req->cfg->runner_dead_after_ms;
}

int h_project_param(struct request *req, struct response *resp, struct store_project *row)
{
	const char *name = req_path_param(req, 0);
	int rc;

	if (h_need_store(req, resp) < 0)
		return -1;
	if (validate_project_name(name) < 0) {
		resp_error(resp, 404, "not_found", "project '%.64s' not found (invalid name)",
		           name);
		return -1;
	}
	rc = store_project_row(req->store, name, row);
	if (rc < 0)
		return h_db_error(req, resp, "reading the project");
	if (rc == 0 || row->deleted) {
		resp_error(resp, 404, "not_found", "project '%s' not found", name);
		return -1;
	}
	return 0;
}

static struct json_object *command_obj(int64_t id, const char *kind)
{
	struct json_object *c = json_object_new_object();

	json_object_object_add(c, "id", json_object_new_int64(id));
	json_object_object_add(c, "kind", json_object_new_string(kind));
	return c;
}

int h_command_202(struct request *req, struct response *resp, const char *kind, const char *project,
                  const char *payload, struct json_object *extra)
{
	if (store_begin(req->store) < 0) {
		json_object_put(extra);
		return h_db_error(req, resp, "starting a transaction");
	}
	return h_command_202_in(req, resp, kind, project, payload, extra);
}

/*
 * What a command says the user wants: desired is the handler's column,
 * written with the command. A deploy writes it itself (start=false leaves it
 * as it was); a signal wants nothing new.
 */
static const char *desired_for(const char *kind)
{
	static const struct {
		const char *kind, *desired;
	} table[] = {
	    {"project.start", "running"},    {"project.restart", "running"},
	    {"project.rollback", "running"}, {"project.stop", "stopped"},
	    {"project.delete", "stopped"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (strcmp(table[i].kind, kind) == 0)
			return table[i].desired;
	return NULL;
}

int h_command_202_in(struct request *req, struct response *resp, const char *kind,
                     const char *project, const char *payload, struct json_object *extra)
{
	struct json_object *res = json_object_new_object();
	const char *desired = desired_for(kind);
	char watch[256];
	int64_t id;

	if ((desired != NULL && store_project_set_desired(req->store, project, desired) < 0) ||
	    store_command_add(req->store, kind, project, payload ? payload : "{}", req->request_id,
	                      &id) < 0) {
		json_object_put(extra);
		json_object_put(res);
		return h_db_error(req, resp, "queueing the command");
	}
	snprintf(watch, sizeof(watch), "/api/v1/projects/%s", project);
	json_object_object_add(res, "project", json_object_new_string(project));
	json_object_object_add(res, "command", command_obj(id, kind));
	if (extra != NULL) {
		json_object_object_foreach(extra, k, v)
		    json_object_object_add(res, k, json_object_get(v));
		json_object_put(extra);
	}
	json_object_object_add(res, "watch", json_object_new_string(watch));
	resp_ok(resp, 202, res);
	if (h_commit(req, resp) < 0)
		return -1;
	h_wake(req);
	return 0;
}

int h_stopping(void)
{
	sigset_t set;

	return sigpending(&set) == 0 && sigismember(&set, SIGTERM) == 1;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Polls the command row until the runner has applied or failed it. */
static int command_poll(struct request *req, struct response *resp, int64_t id,
                        struct store_command *out)
{
	int64_t deadline = util_mono_ms() + WAIT_MAX_MS;
	int step = 1, rc;

	for (;;) {
		rc = store_command_get(req->store, id, out);
		if (rc <= 0)
			return h_db_error(req, resp, "reading the command");
		if (strcmp(out->state, "applied") == 0 || strcmp(out->state, "failed") == 0)
			return 0;
		store_command_clear(out);
		if (util_mono_ms() >= deadline || h_stopping()) {
			resp_error(resp, 503, "unavailable",
			           "the runner did not finish command %lld in time", (long long)id);
			return -1;
		}
		sleep_ms(step);
		step = step * 2 > WAIT_STEP_MAX_MS ? WAIT_STEP_MAX_MS : step * 2;
	}
}

int h_command_wait(struct request *req, struct response *resp, const char *kind, const char *target,
                   const char *payload, struct store_command *out)
{
	struct store_runner run;
	int64_t id;
	int rc = h_runner_alive(req, &run);

	if (rc < 0)
		return h_db_error(req, resp, "reading the runner's liveness");
	if (rc == 0) {
		resp_error(resp, 503, "unavailable",
		           "the runner is not running: cannot build the bundle");
		return -1;
	}
	if (store_begin(req->store) < 0)
		return h_db_error(req, resp, "starting a transaction");
	if (store_command_add(req->store, kind, target, payload, req->request_id, &id) < 0)
		return h_db_error(req, resp, "queueing the command");
	if (store_commit(req->store) < 0)
		return h_db_error(req, resp, "committing the command");
	h_wake(req);
	return command_poll(req, resp, id, out);
}
