/* SPDX-License-Identifier: MIT */
/*
 * Applying the commands the handlers write (docs/architecture.md,
 * "Commands"): each is marked 'running' when taken, then 'applied' or
 * 'failed' with a reason when its effect is settled, possibly much later
 * (a deploy after its extraction, a stop after the exit). A runner killed
 * meanwhile re-queues the 'running' ones at start-up, so every handler
 * below is safe to apply twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "log.h"
#include "runner.h"
#include "store.h"
#include "util.h"

void commands_done(struct runner *r, int64_t id, bool ok, const char *result, const char *reason)
{
	if (store_command_set(r->store, id, ok ? "applied" : "failed", result, reason) < 0)
		log_error("command %lld: cannot record its outcome", (long long)id);
	if (!ok)
		log_warn("command %lld failed: %s", (long long)id, reason ? reason : "");
}

/* task.kill / stop / pause / resume / signal: one run, by task id (docs/architecture.md). */
static void task_cmd(struct runner *r, const struct store_command *c, struct json_object *pl)
{
	struct job *j = job_find(r, c->target);
	const char *op = c->kind + 5;
	int rc;

	if (j == NULL) {
		commands_done(r, c->id, false, NULL, "the task is not running");
		return;
	}
	if (strcmp(op, "kill") == 0)
		rc = job_op_kill(r, j);
	else if (strcmp(op, "stop") == 0)
		rc = job_op_stop(r, j, (int)json_int(pl, "signal", 0),
		                 json_int(pl, "timeout_ms", -1));
	else if (strcmp(op, "pause") == 0 || strcmp(op, "resume") == 0)
		rc = job_op_pause(r, j, op[0] == 'p');
	else
		rc = job_op_signal(r, j, (int)json_int(pl, "signal", 0));
	commands_done(r, c->id, rc == 0, NULL, rc == 0 ? NULL : "the shim is not connected");
}

static void dispatch(struct runner *r, const struct store_command *c, struct json_object *pl)
{
	const char *k = c->kind, *t = c->target;

	if (strcmp(k, "project.deploy") == 0)
		project_deploy_cmd(r, c->id, t, pl);
	else if (strcmp(k, "project.start") == 0)
		project_start_cmd(r, c->id, t);
	else if (strcmp(k, "project.stop") == 0)
		project_stop_cmd(r, c->id, t);
	else if (strcmp(k, "project.restart") == 0)
		project_restart_cmd(r, c->id, t);
	else if (strcmp(k, "project.signal") == 0)
		project_signal_cmd(r, c->id, t, (int)json_int(pl, "signal", 0));
	else if (strcmp(k, "project.rollback") == 0)
		project_rollback_cmd(r, c->id, t, pl);
	else if (strcmp(k, "project.delete") == 0)
		project_delete_cmd(r, c->id, t,
		                   json_object_get_boolean(json_object_object_get(pl, "purge")));
	else if (strcmp(k, "logs.bundle") == 0)
		bundle_logs_cmd(r, c->id, t, pl);
	else if (strcmp(k, "agent.logs") == 0)
		bundle_agent_logs_cmd(r, c->id, pl);
	else if (strncmp(k, "task.", 5) == 0 &&
	         (!strcmp(k + 5, "kill") || !strcmp(k + 5, "stop") || !strcmp(k + 5, "pause") ||
	          !strcmp(k + 5, "resume") || !strcmp(k + 5, "signal")))
		task_cmd(r, c, pl);
	else
		commands_done(r, c->id, false, NULL, "unknown command kind");
}

void commands_apply(struct runner *r)
{
	struct store_command c;
	int64_t after = 0;

	r->commands_due = false;
	while (store_command_next(r->store, after, &c) == 1) {
		struct json_object *pl = c.payload ? json_tokener_parse(c.payload) : NULL;
		after = c.id;
		log_debug("command %lld: %s %s", (long long)c.id, c.kind, c.target);
		store_command_set(r->store, c.id, "running", NULL, NULL);
		if (c.payload != NULL && pl == NULL)
			commands_done(r, c.id, false, NULL, "payload is not JSON");
		else
			dispatch(r, &c, pl);
		json_object_put(pl);
		store_command_clear(&c);
	}
}
