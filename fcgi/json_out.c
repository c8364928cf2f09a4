/* SPDX-License-Identifier: MIT */
/*
 * The API's JSON of stored rows (see json_out.h). Key order and null
 * handling are part of the contract: clients and the Idempotency-Key
 * replays see exactly these bytes.
 */
#include "json_out.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "util.h"

static struct json_object *time_or_null(int64_t ms, bool present)
{
	char ts[UTIL_TIME_LEN];

	return present ? json_object_new_string(util_time_fmt(ms, ts)) : NULL;
}

static struct json_object *str_or_null(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

static struct json_object *strv(char *const *v, size_t n)
{
	struct json_object *arr = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, json_object_new_string(v[i]));
	return arr;
}

struct json_object *json_out_artifact(const struct store_artifact_info *a)
{
	struct json_object *o = json_object_new_object(), *u = json_object_new_object();

	json_object_object_add(o, "sha256", json_object_new_string(a->a.sha256));
	json_object_object_add(o, "size", json_object_new_int64(a->a.size));
	json_object_object_add(o, "format", json_object_new_string(a->a.format));
	json_object_object_add(o, "entries", json_object_new_int64(a->a.entries));
	json_object_object_add(o, "unpacked", json_object_new_int64(a->a.unpacked));
	json_object_object_add(o, "created_at", time_or_null(a->a.created_at, true));
	json_object_object_add(u, "projects", strv(a->projects, a->nprojects));
	json_object_object_add(u, "tasks", strv(a->tasks, a->ntasks));
	json_object_object_add(u, "releases", json_object_new_int64(a->releases));
	json_object_object_add(o, "used_by", u);
	return o;
}

struct json_object *json_out_artifacts(const struct store_artifact_info *arr, size_t n)
{
	struct json_object *out = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(out, json_out_artifact(&arr[i]));
	return out;
}

/* The release that runs; a dangling release_id still shows its id. */
static struct json_object *release_obj(const struct store_release_ref *r)
{
	struct json_object *o;

	if (!r->present)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(r->id));
	json_object_object_add(o, "seq", r->found ? json_object_new_int64(r->seq) : NULL);
	json_object_object_add(o, "artifact",
	                       r->found ? json_object_new_string(r->artifact) : NULL);
	json_object_object_add(o, "state", r->found ? json_object_new_string(r->state) : NULL);
	return o;
}

/*
 * The newest deploy, which may not be the release that runs: a deploy still
 * extracting, or one that failed (with its reason) while the previous
 * release goes on. The 202 of a deploy points here, so it must show.
 */
static struct json_object *latest_obj(const struct store_release_ref *r)
{
	struct json_object *o;

	if (!r->present)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(r->id));
	json_object_object_add(o, "seq", json_object_new_int64(r->seq));
	json_object_object_add(o, "state", json_object_new_string(r->state));
	json_object_object_add(o, "reason", str_or_null(r->reason));
	return o;
}

/* The current run's figures: only while its task is running or paused. */
static void project_run(const struct store_project_info *p, struct json_object *o)
{
	bool live = strcmp(p->task_state, "running") == 0 || strcmp(p->task_state, "paused") == 0;

	json_object_object_add(o, "release", release_obj(&p->release));
	json_object_object_add(o, "task_id",
	                       p->task_id[0] ? json_object_new_string(p->task_id) : NULL);
	json_object_object_add(o, "pid", live && p->has_pid ? json_object_new_int64(p->pid) : NULL);
	json_object_object_add(
	    o, "uptime_s",
	    live && p->has_started
	        ? json_object_new_int64((util_now_ms() - p->task_started_at) / 1000)
	        : NULL);
	json_object_object_add(o, "restarts", json_object_new_int64(p->restarts));
	json_object_object_add(o, "backoff_until",
	                       time_or_null(p->backoff_until, p->backoff_until != 0));
	json_object_object_add(o, "cpu_pct",
	                       live && p->has_cpu ? json_object_new_double(p->cpu_pct) : NULL);
	json_object_object_add(o, "rss_bytes",
	                       live && p->has_rss ? json_object_new_int64(p->rss_bytes) : NULL);
}

/* Stored JSON text as an object, or null. */
static struct json_object *json_or_null(const char *text)
{
	return text ? json_tokener_parse(text) : NULL;
}

/*
 * The runner's health record with its time in RFC 3339: {status, failures,
 * checks, last: {at, ok, code, output, duration_ms}}; null without a check.
 */
static struct json_object *health_obj(const char *text)
{
	struct json_object *o = json_or_null(text), *last, *at;

	if (o != NULL && json_object_object_get_ex(o, "last", &last) && last != NULL &&
	    json_object_object_get_ex(last, "at", &at) && json_object_is_type(at, json_type_int))
		json_object_object_add(last, "at", time_or_null(json_object_get_int64(at), true));
	return o;
}

struct json_object *json_out_project(const struct store_project_info *p)
{
	struct json_object *o = json_object_new_object(), *ports = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "spec", json_or_null(p->spec));
	json_object_object_add(o, "state", json_object_new_string(p->state));
	json_object_object_add(o, "state_reason", str_or_null(p->state_reason));
	json_object_object_add(o, "desired", json_object_new_string(p->desired));
	project_run(p, o);
	json_object_object_add(o, "health", health_obj(p->health));
	json_object_object_add(o, "latest_release", latest_obj(&p->latest));
	json_object_object_add(o, "created_at", time_or_null(p->created_at, true));
	json_object_object_add(o, "updated_at", time_or_null(p->updated_at, true));
	for (size_t i = 0; i < p->nports; i++)
		json_object_object_add(ports, p->ports[i].name,
		                       json_object_new_int64(p->ports[i].port));
	json_object_object_add(o, "ports", ports);
	return o;
}

struct json_object *json_out_projects(const struct store_project_info *arr, size_t n)
{
	struct json_object *out = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(out, json_out_project(&arr[i]));
	return out;
}

struct json_object *json_out_token(const struct store_token *t)
{
	struct json_object *o = json_object_new_object(), *scopes = json_object_new_array();
	char buf[sizeof(t->scopes)], *save = NULL;

	json_object_object_add(o, "id", json_object_new_string(t->id));
	json_object_object_add(o, "name", json_object_new_string(t->name));
	snprintf(buf, sizeof(buf), "%s", t->scopes);
	for (char *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save))
		json_object_array_add(scopes, json_object_new_string(s));
	json_object_object_add(o, "scopes", scopes);
	json_object_object_add(o, "created_at", time_or_null(t->created_at, true));
	json_object_object_add(o, "last_used_at",
	                       time_or_null(t->last_used_at, t->last_used_at != 0));
	return o;
}

struct json_object *json_out_tokens(const struct store_token *arr, size_t n)
{
	struct json_object *out = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(out, json_out_token(&arr[i]));
	return out;
}

/* ---- tasks ---- */

static struct json_object *attempt_obj(const struct store_attempt *a)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "attempt", json_object_new_int(a->attempt));
	json_object_object_add(o, "worker_id", json_object_new_string(a->worker_id));
	json_object_object_add(o, "status", json_object_new_string(a->state));
	json_object_object_add(o, "reason", str_or_null(a->reason));
	json_object_object_add(o, "exit_code", a->has_code ? json_object_new_int(a->exit_code) : NULL);
	json_object_object_add(o, "signal", a->has_signal ? json_object_new_int(a->signal) : NULL);
	json_object_object_add(o, "claimed_at", time_or_null(a->claimed_at, true));
	json_object_object_add(o, "started_at", time_or_null(a->started_at, a->started_at != 0));
	json_object_object_add(o, "ended_at", time_or_null(a->ended_at, a->ended_at != 0));
	return o;
}

/* How the last run ended: null until one has. */
static struct json_object *task_end(const struct store_task_info *t)
{
	struct json_object *o;

	if (t->completed_at == 0)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "exit_code", t->has_code ? json_object_new_int(t->exit_code) : NULL);
	json_object_object_add(o, "signal", t->has_signal ? json_object_new_int(t->signal) : NULL);
	json_object_object_add(o, "killed", json_object_new_boolean(t->killed));
	json_object_object_add(o, "timed_out", json_object_new_boolean(t->timed_out));
	json_object_object_add(o, "oom", json_object_new_boolean(t->oom));
	return o;
}

struct json_object *json_out_task(const struct store_task_info *t)
{
	struct json_object *o = json_object_new_object(), *after = json_object_new_array(),
	                   *tries = json_object_new_array();

	json_object_object_add(o, "id", json_object_new_string(t->id));
	json_object_object_add(o, "status", json_object_new_string(t->state));
	json_object_object_add(o, "status_reason", str_or_null(t->reason));
	json_object_object_add(o, "project", str_or_null(t->project));
	json_object_object_add(o, "problem_id", str_or_null(t->problem_id));
	json_object_object_add(o, "worker", json_object_new_string(t->runs_on));
	json_object_object_add(o, "worker_id", str_or_null(t->worker_id));
	json_object_object_add(o, "priority", json_object_new_int(t->priority));
	json_object_object_add(o, "labels", t->labels ? json_or_null(t->labels)
	                                              : json_object_new_object());
	json_object_object_add(o, "parameters", json_or_null(t->parameters));
	json_object_object_add(o, "timeout", t->timeout_s ? json_object_new_int64(t->timeout_s)
	                                                  : NULL);
	json_object_object_add(o, "max_steps", t->max_steps ? json_object_new_int(t->max_steps)
	                                                    : NULL);
	json_object_object_add(o, "retries", json_object_new_int(t->retries));
	json_object_object_add(o, "attempt", json_object_new_int(t->attempts));
	for (size_t i = 0; i < t->nafter; i++)
		json_object_array_add(after, json_object_new_string(t->after[i]));
	json_object_object_add(o, "after", after);
	json_object_object_add(o, "spec", json_or_null(t->spec));
	json_object_object_add(o, "end", task_end(t));
	json_object_object_add(o, "result", json_or_null(t->result));
	json_object_object_add(o, "created_at", time_or_null(t->created_at, true));
	json_object_object_add(o, "started_at", time_or_null(t->started_at, t->started_at != 0));
	json_object_object_add(o, "completed_at",
	                       time_or_null(t->completed_at, t->completed_at != 0));
	json_object_object_add(o, "updated_at", time_or_null(t->updated_at, true));
	for (size_t i = 0; i < t->ntries; i++)
		json_object_array_add(tries, attempt_obj(&t->tries[i]));
	json_object_object_add(o, "attempts", tries);
	return o;
}

struct json_object *json_out_tasks(const struct store_task_info *arr, size_t n)
{
	struct json_object *out = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(out, json_out_task(&arr[i]));
	return out;
}
