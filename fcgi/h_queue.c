/* SPDX-License-Identifier: MIT */
/*
 * The queue and this host's slots (docs/api.md, "The queue and the
 * slots"): what they are doing, and the switches users set. The handlers
 * write the switches (agent_state: internal.running, internal.slots) with
 * their event; the runner reads them before each
 * claim. Stopping takes no task from a slot: running tasks go on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "envelope.h"
#include "handlers.h"
#include "request.h"
#include "store.h"
#include "store_queue.h"
#include "util.h"

/* The slots' switches as the runner reads them. */
static struct store_slots slots_now(struct request *req)
{
	struct store_slots dflt = {req->cfg->auto_start_workers, req->cfg->num_internal_workers}, sw;

	store_slots_get(req->store, &dflt, &sw);
	return sw;
}

/* GET /api/v1/workers/internal/status, and part of GET /api/v1/queue. */
static struct json_object *slots_obj(struct request *req)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	struct store_slot_task *busy = NULL;
	size_t n = 0, used = 0;
	struct store_slots sw = slots_now(req);
	int count = sw.count;

	if (store_slot_tasks(req->store, &busy, &n) < 0) {
		json_object_put(arr);
		json_object_put(o);
		return NULL;
	}
	for (int i = 1; i <= count; i++) {
		struct json_object *sl = json_object_new_object();
		char id[32];
		const char *task = NULL;
		snprintf(id, sizeof(id), "internal-%d", i);
		for (size_t k = 0; k < n && task == NULL; k++)
			if (strcmp(busy[k].worker_id, id) == 0)
				task = busy[k].task_id;
		used += task != NULL;
		json_object_object_add(sl, "id", json_object_new_string(id));
		json_object_object_add(sl, "task_id", task ? json_object_new_string(task) : NULL);
		json_object_array_add(arr, sl);
	}
	json_object_object_add(o, "count", json_object_new_int(count));
	json_object_object_add(o, "running", json_object_new_boolean(sw.running));
	json_object_object_add(o, "busy", json_object_new_int64((int64_t)used));
	json_object_object_add(o, "idle", json_object_new_int64(count - (int64_t)used));
	/* slots removed by a scale-down finish their task: busy beyond the count */
	json_object_object_add(o, "draining", json_object_new_int64((int64_t)(n - used)));
	json_object_object_add(o, "slots", arr);
	free(busy);
	return o;
}

static struct json_object *queue_obj(struct request *req)
{
	struct json_object *o = json_object_new_object(), *slots, *counts, *v;
	struct store_counts c;

	if (store_counts(req->store, &c) < 0 || (slots = slots_obj(req)) == NULL) {
		json_object_put(o);
		return NULL;
	}
	/* accepting: false only while the agent drains (not in this version) */
	json_object_object_add(o, "accepting", json_object_new_boolean(1));
	json_object_object_get_ex(slots, "running", &v);
	json_object_object_add(o, "claiming", json_object_get(v));
	counts = json_object_new_object();
	json_object_object_add(counts, "pending", json_object_new_int64(c.pending));
	json_object_object_add(counts, "running", json_object_new_int64(c.running));
	json_object_object_add(counts, "paused", json_object_new_int64(c.paused));
	json_object_object_add(counts, "completed", json_object_new_int64(c.completed));
	json_object_object_add(counts, "failed", json_object_new_int64(c.failed));
	json_object_object_add(o, "counts", counts);
	json_object_object_add(o, "internal", slots);
	return o;
}

int h_queue_get(struct request *req, struct response *resp)
{
	struct json_object *o;

	if (h_need_store(req, resp) < 0)
		return -1;
	if ((o = queue_obj(req)) == NULL)
		return h_db_error(req, resp, "reading the queue");
	resp_ok(resp, 200, o);
	return 0;
}

int h_workers_internal_status(struct request *req, struct response *resp)
{
	struct json_object *o;

	if (h_need_store(req, resp) < 0)
		return -1;
	if ((o = slots_obj(req)) == NULL)
		return h_db_error(req, resp, "reading the slots");
	resp_ok(resp, 200, o);
	return 0;
}

/* One switch and its event in one transaction, then the new picture. */
static int set_switch(struct request *req, struct response *resp, const char *key,
                      const char *value, const char *event, const char *message,
                      struct json_object *(*picture)(struct request *))
{
	struct json_object *o;

	if (h_need_store(req, resp) < 0 || h_body_object(req, resp, true) < 0)
		return -1;
	if (store_begin(req->store) < 0 || store_agent_set(req->store, key, value) < 0 ||
	    store_event_add(req->store, event, NULL, NULL, "info", message, NULL) < 0)
		return h_db_error(req, resp, "setting the switch");
	if ((o = picture(req)) == NULL)
		return h_db_error(req, resp, "reading the queue");
	resp_ok(resp, 200, o);
	if (h_commit(req, resp) < 0)
		return -1;
	h_wake(req);
	return 0;
}

/* The queue's stop and start are the internal slots' (SPEC 3.5): the same switch. */
int h_queue_stop(struct request *req, struct response *resp)
{
	return set_switch(req, resp, "internal.running", "false", "queue.stopped",
	                  "the queue stopped: no task is claimed; running ones go on", queue_obj);
}

int h_queue_start(struct request *req, struct response *resp)
{
	return set_switch(req, resp, "internal.running", "true", "queue.started",
	                  "the queue started", queue_obj);
}

int h_workers_internal_stop(struct request *req, struct response *resp)
{
	return set_switch(req, resp, "internal.running", "false", "workers.stopped",
	                  "the internal slots stopped taking tasks", slots_obj);
}

int h_workers_internal_start(struct request *req, struct response *resp)
{
	return set_switch(req, resp, "internal.running", "true", "workers.started",
	                  "the internal slots take tasks again", slots_obj);
}

int h_workers_internal_scale(struct request *req, struct response *resp)
{
	static const char *const allowed[] = {"count", NULL};
	struct json_object *v;
	char value[16], msg[64];
	int64_t n;

	if (h_need_store(req, resp) < 0 || h_body_object(req, resp, false) < 0 ||
	    h_no_unknown(resp, req->json, allowed) < 0)
		return -1;
	if (!json_object_object_get_ex(req->json, "count", &v) ||
	    !json_object_is_type(v, json_type_int) || (n = json_object_get_int64(v)) < 0 ||
	    n > STORE_SLOTS_MAX) {
		resp_error(resp, 422, "validation_error", "count: an integer from 0 to %d",
		           STORE_SLOTS_MAX);
		return -1;
	}
	snprintf(value, sizeof(value), "%lld", (long long)n);
	snprintf(msg, sizeof(msg), "internal slots: %lld", (long long)n);
	return set_switch(req, resp, "internal.slots", value, "workers.scaled", msg, slots_obj);
}
