/* SPDX-License-Identifier: MIT */
/*
 * Applying the commands the handlers write (docs/architecture.md,
 * "Commands"): each is marked 'running' when taken, then settled
 * 'applied' or 'failed' by the module that owns its kind, possibly much
 * later (a deploy after its extraction, a stop after the exit). A runner
 * killed meanwhile re-queues the 'running' ones at start-up, so every
 * handler below is safe to apply twice.
 */
#include "commands.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "bundle_logs.h"
#include "jobs.h"
#include "json_get.h"
#include "log.h"
#include "project.h"
#include "queue.h"
#include "runner.h"
#include "settle.h"
#include "store.h"
#include "util.h"

/* task.kill / stop / pause / resume / signal: steering one run by task id. */
static void task_cmd(struct runner *r, const struct store_command *c, struct json_object *pl)
{
	struct job *j = job_find(r, c->target);
	const char *op = c->kind + strlen("task.");
	int rc;

	if (j == NULL) {
		settle_command(r->store, c->id, false, NULL, "the task is not running");
		return;
	}
	if (strcmp(op, "kill") == 0)
		rc = job_op_kill(j);
	else if (strcmp(op, "stop") == 0)
		rc = job_op_stop(j, (int)json_get_int(pl, "signal", 0),
		                 json_get_int(pl, "timeout_ms", -1));
	else if (strcmp(op, "pause") == 0 || strcmp(op, "resume") == 0)
		rc = job_op_pause(j, op[0] == 'p');
	else
		rc = job_op_signal(j, (int)json_get_int(pl, "signal", 0));
	settle_command(r->store, c->id, rc == 0, NULL,
	               rc == 0 ? NULL : "the shim is not connected");
}

static void logs_cmd(struct runner *r, const struct store_command *c, struct json_object *pl)
{
	bundle_logs_cmd(r, c->id, c->target, pl);
}

static void agent_logs_cmd(struct runner *r, const struct store_command *c, struct json_object *pl)
{
	bundle_agent_logs_cmd(r, c->id, pl);
}

/* Which module owns each kind: one table, so a new kind is one line. */
static const struct {
	const char *kind;
	void (*apply)(struct runner *r, const struct store_command *c, struct json_object *pl);
} kinds[] = {
    {"project.deploy", project_command},
    {"project.start", project_command},
    {"project.stop", project_command},
    {"project.restart", project_command},
    {"project.signal", project_command},
    {"project.rollback", project_command},
    {"project.delete", project_command},
    {"logs.bundle", logs_cmd},
    {"agent.logs", agent_logs_cmd},
    {"task.cancel", queue_command},
    {"task.inject", queue_command},
    {"task.kill", task_cmd},
    {"task.stop", task_cmd},
    {"task.pause", task_cmd},
    {"task.resume", task_cmd},
    {"task.signal", task_cmd},
};

static void dispatch(struct runner *r, const struct store_command *c, struct json_object *pl)
{
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		if (strcmp(c->kind, kinds[i].kind) == 0) {
			kinds[i].apply(r, c, pl);
			return;
		}
	}
	settle_command(r->store, c->id, false, NULL, "unknown command kind");
}

void commands_apply(struct runner *r)
{
	struct store_command c;
	int64_t after = 0;

	r->commands_due = false;
	while (store_command_next(r->store, after, &c) == 1) {
		struct json_object *pl = c.payload ? json_tokener_parse(c.payload) : NULL;
		/*
		 * Unmarked, a command would be taken again by the next pass while
		 * its first application is still under way: it waits for the next
		 * pass instead (the poll timer), and nothing later jumps it.
		 */
		if (store_command_set(r->store, c.id, "running", NULL, NULL) < 0) {
			log_warn("command %lld: cannot mark it running; retried later",
			         (long long)c.id);
			json_object_put(pl);
			store_command_clear(&c);
			break;
		}
		after = c.id;
		log_debug("command %lld: %s %s", (long long)c.id, c.kind, c.target);
		if (c.payload != NULL && pl == NULL)
			settle_command(r->store, c.id, false, NULL, "payload is not JSON");
		else
			dispatch(r, &c, pl);
		json_object_put(pl);
		store_command_clear(&c);
	}
}
