/* SPDX-License-Identifier: MIT */
/*
 * Reading members of json-c objects with one rule for every caller: a
 * member that is missing, JSON null, or of the wrong type is absent, and
 * the caller's default stands. Validation of user input (which must tell
 * "null" from "missing" and name the field) is fcgi/validate.c's, not this.
 */
#ifndef HOSTAGENT_JSON_GET_H
#define HOSTAGENT_JSON_GET_H

#include <stdbool.h>
#include <stdint.h>

struct json_object;

/* The string member, borrowed from o (valid while o lives), or NULL. o may be NULL. */
const char *json_get_str(struct json_object *o, const char *key);
/* An integer member (a JSON integer, or a double truncated toward zero), else def. */
int64_t json_get_int(struct json_object *o, const char *key, int64_t def);
/* A boolean member, else def. */
bool json_get_bool(struct json_object *o, const char *key, bool def);
/* An object or array member, borrowed, or NULL. */
struct json_object *json_get_obj(struct json_object *o, const char *key);
struct json_object *json_get_arr(struct json_object *o, const char *key);

#endif
