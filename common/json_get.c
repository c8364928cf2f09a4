/* SPDX-License-Identifier: MIT */
/*
 * The member getters of json_get.h. json-c's own getters coerce (a string
 * "12" reads as 12, a missing member as 0); these never do.
 */
#include "json_get.h"

#include <json-c/json.h>

static struct json_object *member(struct json_object *o, const char *key, enum json_type t)
{
	struct json_object *v;

	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
		return NULL;
	return v;
}

const char *json_get_str(struct json_object *o, const char *key)
{
	struct json_object *v = member(o, key, json_type_string);

	return v ? json_object_get_string(v) : NULL;
}

int64_t json_get_int(struct json_object *o, const char *key, int64_t def)
{
	struct json_object *v = member(o, key, json_type_int);

	if (v != NULL)
		return json_object_get_int64(v);
	v = member(o, key, json_type_double);
	return v ? (int64_t)json_object_get_double(v) : def;
}

bool json_get_bool(struct json_object *o, const char *key, bool def)
{
	struct json_object *v = member(o, key, json_type_boolean);

	return v ? json_object_get_boolean(v) : def;
}

struct json_object *json_get_obj(struct json_object *o, const char *key)
{
	return member(o, key, json_type_object);
}

struct json_object *json_get_arr(struct json_object *o, const char *key)
{
	return member(o, key, json_type_array);
}
