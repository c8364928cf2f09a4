/* SPDX-License-Identifier: MIT */
/*
 * The logs.bundle and agent.logs commands: a project's (or the agent's)
 * logs bundled by a helper child into <data>/bundles/, for nginx to serve.
 */
#ifndef HOSTAGENT_BUNDLE_LOGS_H
#define HOSTAGENT_BUNDLE_LOGS_H

#include <stdint.h>

struct runner;
struct json_object;

void bundle_logs_cmd(struct runner *r, int64_t cmd_id, const char *project,
                     struct json_object *payload);
void bundle_agent_logs_cmd(struct runner *r, int64_t cmd_id, struct json_object *payload);
/* Deletes bundles older than ten minutes. */
void bundle_cleanup(struct runner *r);

#endif
