/* SPDX-License-Identifier: MIT */
/*
 * The API's JSON objects of stored rows (artifacts, projects, tokens),
 * built from the store's named fields. The store returns plain structs and
 * never JSON; every object a GET shows is shaped here.
 */
#ifndef HOSTAGENT_JSON_OUT_H
#define HOSTAGENT_JSON_OUT_H

#include <stddef.h>

#include "store_artifacts.h"
#include "store_projects.h"
#include "store_queue.h"
#include "store_tokens.h"

struct json_object;

/*
 * Each returns a new object (array) the caller owns (json_object_put);
 * the inputs stay the caller's.
 */
/* {sha256, size, format, entries, unpacked, created_at, used_by:{projects, tasks, releases}} */
struct json_object *json_out_artifact(const struct store_artifact_info *a);
struct json_object *json_out_artifacts(const struct store_artifact_info *arr, size_t n);
/*
 * {name, spec, state, state_reason, desired, release, task_id, pid, uptime_s,
 * restarts, backoff_until, cpu_pct, rss_bytes, latest_release, created_at,
 * updated_at, ports}; pid, uptime, CPU and memory only while the current
 * task runs or is paused.
 */
struct json_object *json_out_project(const struct store_project_info *p);
struct json_object *json_out_projects(const struct store_project_info *arr, size_t n);
/* {id, name, scopes[], created_at, last_used_at} (never the hash). */
/* A queued task: its fields, its run's end, every attempt, and the tasks it waits for. */
struct json_object *json_out_task(const struct store_task_info *t);
struct json_object *json_out_tasks(const struct store_task_info *arr, size_t n);

struct json_object *json_out_token(const struct store_token *t);
struct json_object *json_out_tokens(const struct store_token *arr, size_t n);

#endif
