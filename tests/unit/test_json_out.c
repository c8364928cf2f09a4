/* SPDX-License-Identifier: MIT */
/*
 * fcgi/json_out.c: the API objects of stored rows, byte for byte (key
 * order and nulls are what clients and Idempotency-Key replays see).
 */
#include "json_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "util.h"

#include "unit.h"

/* 2026-01-02T03:04:05.678Z */
#define T0 1767323045678LL

static int same(struct json_object *o, const char *want)
{
	const char *got = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	int ok = strcmp(got, want) == 0;

	if (!ok)
		fprintf(stderr, "got:  %s\nwant: %s\n", got, want);
	json_object_put(o);
	return ok;
}

static void test_artifact(void)
{
	char *projects[] = {"api", "web"}, *tasks[] = {"t-1"};
	struct store_artifact_info a = {.a = {.sha256 = "ab12",
	                                      .format = "tar.gz",
	                                      .size = 10,
	                                      .entries = 2,
	                                      .unpacked = 30,
	                                      .created_at = T0},
	                                .projects = projects,
	                                .nprojects = 2,
	                                .tasks = tasks,
	                                .ntasks = 1,
	                                .releases = 3};

	CHECK(same(json_out_artifact(&a),
	           "{\"sha256\":\"ab12\",\"size\":10,\"format\":\"tar.gz\",\"entries\":2,"
	           "\"unpacked\":30,\"created_at\":\"2026-01-02T03:04:05.678Z\",\"used_by\":"
	           "{\"projects\":[\"api\",\"web\"],\"tasks\":[\"t-1\"],\"releases\":3}}"));
	a.nprojects = a.ntasks = 0;
	CHECK(same(json_out_artifacts(&a, 1),
	           "[{\"sha256\":\"ab12\",\"size\":10,\"format\":\"tar.gz\",\"entries\":2,"
	           "\"unpacked\":30,\"created_at\":\"2026-01-02T03:04:05.678Z\",\"used_by\":"
	           "{\"projects\":[],\"tasks\":[],\"releases\":3}}]"));
}

/* A project that was just created: nothing observed yet. */
static void test_project_new(void)
{
	struct store_project_info p = {.name = "web",
	                               .state = "stopped",
	                               .desired = "running",
	                               .created_at = T0,
	                               .updated_at = T0};

	p.spec = "{\"name\":\"web\"}";
	p.latest = (struct store_release_ref){
	    .present = true, .found = true, .id = 7, .seq = 1, .state = "pending"};
	CHECK(same(json_out_project(&p),
	           "{\"name\":\"web\",\"spec\":{\"name\":\"web\"},\"state\":\"stopped\","
	           "\"state_reason\":null,\"desired\":\"running\",\"release\":null,"
	           "\"task_id\":null,\"pid\":null,\"uptime_s\":null,\"restarts\":0,"
	           "\"backoff_until\":null,\"cpu_pct\":null,\"rss_bytes\":null,\"health\":null,"
	           "\"latest_release\":{\"id\":7,\"seq\":1,\"state\":\"pending\",\"reason\":null},"
	           "\"created_at\":\"2026-01-02T03:04:05.678Z\","
	           "\"updated_at\":\"2026-01-02T03:04:05.678Z\",\"ports\":{}}"));
}

static void test_project_running(void)
{
	struct store_port ports[] = {{.name = "admin", .port = 20001},
	                             {.name = "http", .port = 20000}};
	struct store_project_info p = {.name = "web",
	                               .state = "running",
	                               .desired = "running",
	                               .task_id = "t-9",
	                               .task_state = "running",
	                               .has_pid = true,
	                               .pid = 4242,
	                               .has_started = true,
	                               .task_started_at = util_now_ms() - 5500,
	                               .has_cpu = true,
	                               .cpu_pct = 1.5,
	                               .has_rss = true,
	                               .rss_bytes = 4096,
	                               .restarts = 2,
	                               .backoff_until = T0,
	                               .created_at = T0,
	                               .updated_at = T0,
	                               .ports = ports,
	                               .nports = 2};

	p.state_reason = "started";
	p.release = (struct store_release_ref){.present = true,
	                                       .found = true,
	                                       .id = 6,
	                                       .seq = 2,
	                                       .artifact = "ab12",
	                                       .state = "ready"};
	p.latest = (struct store_release_ref){
	    .present = true, .found = true, .id = 7, .seq = 3, .state = "failed"};
	p.latest.reason = "bad archive";
	CHECK(same(json_out_project(&p),
	           "{\"name\":\"web\",\"spec\":null,\"state\":\"running\",\"state_reason\":"
	           "\"started\",\"desired\":\"running\",\"release\":{\"id\":6,\"seq\":2,"
	           "\"artifact\":\"ab12\",\"state\":\"ready\"},\"task_id\":\"t-9\",\"pid\":4242,"
	           "\"uptime_s\":5,\"restarts\":2,\"backoff_until\":\"2026-01-02T03:04:05.678Z\","
	           "\"cpu_pct\":1.5,\"rss_bytes\":4096,\"health\":null,\"latest_release\":{\"id\":7,\"seq\":3,"
	           "\"state\":\"failed\",\"reason\":\"bad archive\"},"
	           "\"created_at\":\"2026-01-02T03:04:05.678Z\","
	           "\"updated_at\":\"2026-01-02T03:04:05.678Z\","
	           "\"ports\":{\"admin\":20001,\"http\":20000}}"));
	/* an ended run shows no figures; a purged release keeps only its id */
	snprintf(p.task_state, sizeof(p.task_state), "completed");
	p.release.found = false;
	p.latest.present = false;
	p.nports = 0;
	CHECK(same(json_out_projects(&p, 1),
	           "[{\"name\":\"web\",\"spec\":null,\"state\":\"running\",\"state_reason\":"
	           "\"started\",\"desired\":\"running\",\"release\":{\"id\":6,\"seq\":null,"
	           "\"artifact\":null,\"state\":null},\"task_id\":\"t-9\",\"pid\":null,"
	           "\"uptime_s\":null,\"restarts\":2,\"backoff_until\":"
	           "\"2026-01-02T03:04:05.678Z\",\"cpu_pct\":null,\"rss_bytes\":null,"
	           "\"health\":null,\"latest_release\":null,\"created_at\":\"2026-01-02T03:04:05.678Z\","
	           "\"updated_at\":\"2026-01-02T03:04:05.678Z\",\"ports\":{}}]"));
}

static void test_token(void)
{
	struct store_token t = {
	    .id = "tok_0123456789ab", .name = "ci", .scopes = "read,operate", .created_at = T0};

	CHECK(same(json_out_token(&t),
	           "{\"id\":\"tok_0123456789ab\",\"name\":\"ci\",\"scopes\":[\"read\",\"operate\"],"
	           "\"created_at\":\"2026-01-02T03:04:05.678Z\",\"last_used_at\":null}"));
	t.last_used_at = T0;
	CHECK(
	    same(json_out_tokens(&t, 1),
	         "[{\"id\":\"tok_0123456789ab\",\"name\":\"ci\",\"scopes\":[\"read\",\"operate\"],"
	         "\"created_at\":\"2026-01-02T03:04:05.678Z\","
	         "\"last_used_at\":\"2026-01-02T03:04:05.678Z\"}]"));
}

int main(void)
{
	test_artifact();
	test_project_new();
	test_project_running();
	test_token();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
