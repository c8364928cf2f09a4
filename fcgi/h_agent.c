/* SPDX-License-Identifier: MIT */
/*
 * GET /, /ping, /health and /ready: identity, liveness, health and
 * readiness. /ping never touches the database; /health times a real read.
 */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "config.h"
#include "store_queue.h"
#include "util.h"

#ifndef HOSTAGENT_VERSION
#define HOSTAGENT_VERSION "unknown"
#endif

static struct json_object *str_or_null(const char *s)
{
	return (s != NULL && *s != '\0') ? json_object_new_string(s) : NULL;
}

/* The runner row's limits (what enforces each limit on this host), or null. */
static struct json_object *limits_or_null(const struct store_runner *run)
{
	return run->limits[0] != '\0' ? json_tokener_parse(run->limits) : NULL;
}

int h_root(struct request *req, struct response *resp)
{
	struct json_object *o = json_object_new_object();
	struct store_runner run;
	char host[256] = "";
	bool seen;

	gethostname(host, sizeof(host) - 1);
	json_object_object_add(o, "name", json_object_new_string("hostagent"));
	json_object_object_add(o, "version", json_object_new_string(HOSTAGENT_VERSION));
	json_object_object_add(o, "hostname", json_object_new_string(host));
	json_object_object_add(o, "api", json_object_new_string("/api/v1"));
	/* the runner decides cgroup or process-group, and what enforces each limit, at start */
	seen = req->store && store_runner_get(req->store, &run) == 1;
	json_object_object_add(o, "kill_mode", seen ? str_or_null(run.kill_mode) : NULL);
	json_object_object_add(o, "limits", seen ? limits_or_null(&run) : NULL);
	resp_ok(resp, 200, o);
	return 0;
}

int h_ping(struct request *req, struct response *resp)
{
	(void)req;
	resp_ok(resp, 200, json_object_new_string("pong"));
	return 0;
}

/* A double printed with 3 decimals, not json-c's 17 significant digits. */
static struct json_object *ms3(double v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.3f", v);
	return json_object_new_double_s(v, buf);
}

/* The database block of /health: connected and a real round trip's latency. */
static bool db_check(struct request *req, struct json_object *o)
{
	struct json_object *db = json_object_new_object();
	struct timespec a, b;
	bool ok;

	clock_gettime(CLOCK_MONOTONIC, &a);
	ok = req->store != NULL && store_ping(req->store) == 0;
	clock_gettime(CLOCK_MONOTONIC, &b);
	json_object_object_add(db, "connected", json_object_new_boolean(ok));
	json_object_object_add(
	    db, "latency_ms",
	    ok ? ms3((double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6)
	       : NULL);
	json_object_object_add(o, "database", db);
	return ok;
}

static bool runner_check(struct request *req, struct json_object *o)
{
	struct json_object *r = json_object_new_object();
	struct store_runner run;
	char ts[UTIL_TIME_LEN];
	int rc = req->store ? h_runner_alive(req, &run) : -1;
	bool seen = rc >= 0 && req->store && store_runner_get(req->store, &run) == 1;

	json_object_object_add(r, "alive", json_object_new_boolean(rc == 1));
	json_object_object_add(r, "pid", seen ? json_object_new_int(run.pid) : NULL);
	json_object_object_add(r, "last_loop",
	                       seen ? json_object_new_string(util_time_fmt(run.heartbeat_at, ts))
	                            : NULL);
	json_object_object_add(r, "lag_ms", seen ? ms3(run.loop_lag_ms) : NULL);
	json_object_object_add(r, "kill_mode", seen ? str_or_null(run.kill_mode) : NULL);
	json_object_object_add(r, "limits", seen ? limits_or_null(&run) : NULL);
	json_object_object_add(o, "runner", r);
	return rc == 1;
}

/* This host's slots among the workers: how many, and how many run a task. */
static void slots_in(struct request *req, struct store_counts *c)
{
	struct store_slots dflt = {req->cfg->auto_start_workers, req->cfg->num_internal_workers}, sw;
	struct store_slot_task *busy = NULL;
	size_t n = 0;
	int64_t count, used = 0;

	store_slots_get(req->store, &dflt, &sw);
	count = sw.count;
	if (store_slot_tasks(req->store, &busy, &n) == 0)
		for (size_t i = 0; i < n; i++)
			used += atoll(busy[i].worker_id + strlen("internal-")) <= count;
	free(busy);
	c->workers_total += count;
	c->workers_busy += used;
	c->workers_idle += count - used;
}

static void counts_add(struct request *req, struct json_object *o)
{
	struct store_counts c;
	struct json_object *w = NULL, *q = NULL;

	if (req->store != NULL && store_counts(req->store, &c) == 0) {
		slots_in(req, &c);
		w = json_object_new_object();
		json_object_object_add(w, "total", json_object_new_int64(c.workers_total));
		json_object_object_add(w, "idle", json_object_new_int64(c.workers_idle));
		json_object_object_add(w, "busy", json_object_new_int64(c.workers_busy));
		json_object_object_add(w, "offline", json_object_new_int64(c.workers_offline));
		q = json_object_new_object();
		json_object_object_add(q, "pending", json_object_new_int64(c.pending));
		json_object_object_add(q, "running", json_object_new_int64(c.running));
		json_object_object_add(q, "completed", json_object_new_int64(c.completed));
	}
	json_object_object_add(o, "workers", w);
	json_object_object_add(o, "queue", q);
}

int h_health(struct request *req, struct response *resp)
{
	struct json_object *o = json_object_new_object();
	char ts[UTIL_TIME_LEN];
	bool db, runner;
	const char *status;

	json_object_object_add(o, "status", NULL);
	json_object_object_add(o, "version", json_object_new_string(HOSTAGENT_VERSION));
	json_object_object_add(o, "timestamp",
	                       json_object_new_string(util_time_fmt(util_now_ms(), ts)));
	db = db_check(req, o);
	runner = runner_check(req, o);
	counts_add(req, o);
	status = !db ? "unhealthy" : !runner ? "degraded" : "healthy";
	json_object_object_add(o, "status", json_object_new_string(status));
	/* a report, not an error: the body stays a result even with 503 */
	resp_ok(resp, db ? 200 : 503, o);
	return 0;
}

/* MemAvailable from /proc/meminfo in bytes; -1 when unknown. */
static int64_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	long long kb = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : (int64_t)kb * 1024;
}

/* accepting: not draining, and above both watermarks. Reasons appended to why. */
static bool accepting_check(struct request *req, struct json_object *checks, char *why, size_t len)
{
	struct statvfs vfs;
	char v[16] = "";
	bool draining = req->store && store_agent_get(req->store, "draining", v, sizeof(v)) == 1 &&
	                strcmp(v, "1") == 0;
	int64_t disk = statvfs(req->cfg->data_dir, &vfs) == 0
	                   ? (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize
	                   : -1;
	int64_t mem = mem_available();
	bool disk_ok = disk < 0 || (uint64_t)disk >= req->cfg->min_free_disk;
	bool mem_ok = mem < 0 || (uint64_t)mem >= req->cfg->min_free_memory;
	size_t o = strlen(why);

	if (draining)
		o += (size_t)snprintf(why + o, len - o, "%sdraining", o ? ", " : "");
	if (!disk_ok && o < len)
		o += (size_t)snprintf(why + o, len - o, "%sfree disk %lld below min_free_disk %llu",
		                      o ? ", " : "", (long long)disk,
		                      (unsigned long long)req->cfg->min_free_disk);
	if (!mem_ok && o < len)
		snprintf(why + o, len - o, "%sMemAvailable %lld below min_free_memory %llu",
		         o ? ", " : "", (long long)mem,
		         (unsigned long long)req->cfg->min_free_memory);
	json_object_object_add(checks, "draining", json_object_new_boolean(draining));
	json_object_object_add(checks, "disk_free", disk < 0 ? NULL : json_object_new_int64(disk));
	json_object_object_add(checks, "memory_available",
	                       mem < 0 ? NULL : json_object_new_int64(mem));
	return !draining && disk_ok && mem_ok;
}

int h_ready(struct request *req, struct response *resp)
{
	struct json_object *c = json_object_new_object();
	struct store_runner run;
	char why[512] = "";
	bool db = req->store != NULL && store_ping(req->store) == 0;
	bool runner = db && h_runner_alive(req, &run) == 1;
	bool acc;

	if (!db)
		snprintf(why, sizeof(why), "database unavailable");
	if (db && !runner)
		snprintf(why, sizeof(why), "runner not alive");
	acc = accepting_check(req, c, why, sizeof(why));
	json_object_object_add(c, "ready", json_object_new_boolean(db && runner && acc));
	json_object_object_add(c, "database", json_object_new_boolean(db));
	json_object_object_add(c, "runner", json_object_new_boolean(runner));
	json_object_object_add(c, "accepting", json_object_new_boolean(acc));
	if (db && runner && acc) {
		resp_ok(resp, 200, c);
		return 0;
	}
	resp_error(resp, 503, "unavailable", "not ready: %s", why);
	resp_error_add(resp, "checks", c);
	return 0;
}
