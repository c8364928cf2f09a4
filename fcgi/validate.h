/* SPDX-License-Identifier: MIT */
/*
 * Validation of what clients send about projects: names, digests and the
 * deploy spec (docs/api.md, Projects). Pure functions: JSON in, a normalized copy with
 * every default applied out. Nothing here touches the database or the disk,
 * allocates ports or checks that an artifact exists.
 */
#ifndef HOSTAGENT_VALIDATE_H
#define HOSTAGENT_VALIDATE_H

#include <stddef.h>

struct json_object;

/* [a-z0-9][a-z0-9._-]{0,62} → 0, else -1 (NULL included). */
int validate_project_name(const char *name);
/* Exactly 64 lowercase hex characters → 0, else -1. */
int validate_sha256_hex(const char *s);

struct validate_opts {
	/* spec.user must be one of these (borrowed; may be NULL when n is 0). */
	const char *const *allowed_users;
	size_t n_allowed_users;
	/*
	 * Range a fixed port must fall in; 0 for either bound means 1 or
	 * 65535. Port 0 (allocate) is always accepted: allocation happens
	 * elsewhere.
	 */
	int port_min, port_max;
};

/*
 * Validates a deploy spec; docs/api.md (Projects) describes the fields. in is
 * borrowed and never modified. On success returns 0 and *out is a NEW
 * object (the caller owns it: json_object_put) sharing nothing with in,
 * holding every field, defaults applied, optional fields without a
 * default as null. validate_project_spec(*out) accepts *out and yields an
 * equal object. On failure returns -1, *out = NULL, field (caller's
 * buffer) gets the JSON path of the offending field ("spec.command[2]",
 * "spec.limits.memory") and msg (caller's buffer) a short reason; either
 * buffer may be NULL.
 */
int validate_project_spec(struct json_object *in, const struct validate_opts *opt,
                          struct json_object **out, char *field, size_t fieldlen, char *msg,
                          size_t msglen);

/*
 * Validates a task (POST /api/v1/tasks; docs/api.md, Tasks): the queue's
 * fields and the run fields a project spec has, each normalized only when
 * given (a project's task inherits the rest from the project). Same
 * contract as validate_project_spec; paths are the body's ("priority",
 * "limits.memory").
 */
int validate_task_spec(struct json_object *in, const struct validate_opts *opt,
                       struct json_object **out, char *field, size_t fieldlen, char *msg,
                       size_t msglen);

#endif
