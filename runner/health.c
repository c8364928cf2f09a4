/* SPDX-License-Identifier: MIT */
/* Health check bookkeeping (see health.h). */
#include "health.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "json_get.h"

void health_arm(struct health *h, struct json_object *spec_health, int64_t now_ms)
{
	struct json_object *v;
	bool had = h->on || h->has_last;

	memset(h, 0, sizeof(*h));
	h->dirty = had;
	if (spec_health == NULL || !json_object_is_type(spec_health, json_type_object))
		return;
	h->on = true;
	h->retries = (int)json_get_int(spec_health, "retries", 3);
	if (h->retries < 1)
		h->retries = 1;
	if (json_object_object_get_ex(spec_health, "start_period", &v) && v != NULL)
		h->start_period_ms = (int64_t)(json_object_get_double(v) * 1000.0);
	h->started_ms = now_ms;
	h->status = HEALTH_STARTING;
	h->dirty = true;
}

void health_disarm(struct health *h)
{
	if (!h->on)
		return;
	h->status = HEALTH_NONE;
	h->dirty = true;
}

enum health_change health_result(struct health *h, const struct shim_health *r, int64_t now_ms)
{
	bool passed_before = h->status == HEALTH_HEALTHY;

	if (!h->on || h->status == HEALTH_NONE)
		return HEALTH_SAME;
	h->last = *r;
	h->has_last = true;
	h->checks++;
	h->dirty = true;
	if (r->ok) {
		h->failures = 0;
		h->status = HEALTH_HEALTHY;
		return passed_before ? HEALTH_SAME : HEALTH_BECAME_HEALTHY;
	}
	/* warming up: a failure before the first pass within start_period does not count */
	if (h->status == HEALTH_STARTING && now_ms - h->started_ms < h->start_period_ms)
		return HEALTH_SAME;
	h->failures++;
	if (h->failures < h->retries || h->status == HEALTH_UNHEALTHY)
		return HEALTH_SAME;
	h->status = HEALTH_UNHEALTHY;
	return HEALTH_BECAME_UNHEALTHY;
}

const char *health_status_name(enum health_status s)
{
	static const char *const names[] = {"none", "starting", "healthy", "unhealthy"};

	return (unsigned)s < 4 ? names[s] : "none";
}

static struct json_object *last_json(const struct shim_health *r)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "at", json_object_new_int64(r->at));
	json_object_object_add(o, "ok", json_object_new_boolean(r->ok));
	json_object_object_add(o, "code", r->code >= 0 ? json_object_new_int(r->code) : NULL);
	json_object_object_add(o, "output", json_object_new_string(r->output));
	json_object_object_add(o, "duration_ms", json_object_new_int64(r->duration_ms));
	return o;
}

char *health_json(const struct health *h)
{
	struct json_object *o;
	char *text;

	if (!h->on && !h->has_last)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string(health_status_name(h->status)));
	json_object_object_add(o, "failures", json_object_new_int(h->failures));
	json_object_object_add(o, "checks", json_object_new_int64(h->checks));
	json_object_object_add(o, "last", h->has_last ? last_json(&h->last) : NULL);
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                                    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return text;
}
