/* SPDX-License-Identifier: MIT */
/*
 * logs.bundle and agent.logs: choosing the files and writing manifest.json.
 * The database is read on the loop (the helper child must not use the
 * connection); the files are read and the archive written in a helper
 * child by bundle_write. Bundles live ten minutes in <data>/bundles.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bundle.h"
#include "log.h"
#include "bundle_logs.h"
#include "helper.h"
#include "json_get.h"
#include "runner.h"
#include "settle.h"
#include "store.h"
#include "store_projects.h"
#include "store_tasks.h"
#include "store_usage.h"
#include "util.h"

#define BUNDLE_TTL_MS    (10 * 60 * 1000)
#define BUNDLE_MAX_FILES 4096

struct bundle_job {
	int64_t cmd_id;
	enum bundle_format fmt;
	char data_dir[PATH_MAX];
	char out[PATH_MAX];
	char file[64];
	bool agent;                   /* agent.logs: every <data>/log/NAME.log */
	struct json_object *manifest; /* built on the loop, completed in the child */
};

/* Child: the files of one stream of one run, oldest segment first. */
static void add_stream(struct bundle_entry *e, size_t *n, char (*paths)[PATH_MAX], const char *dir,
                       const char *run, const char *stream, struct json_object *state,
                       struct json_object *logs)
{
	struct json_object *st = json_object_object_get(state, stream), *segs;
	struct json_object *info = json_object_new_object();
	char def[16];
	size_t count;

	snprintf(def, sizeof(def), "%s.log", stream);
	segs = json_object_object_get(st, "segments");
	count = segs ? json_object_array_length(segs) : 1;
	for (size_t i = 0; i < count && *n < BUNDLE_MAX_FILES; i++) {
		const char *seg =
		    segs ? json_object_get_string(json_object_array_get_idx(segs, i)) : def;
		char *p = paths[*n], name[PATH_MAX];
		util_fmt(p, PATH_MAX, "%s/%s", dir, seg);
		if (access(p, R_OK) < 0) /* compressed since logstate.json was written */
			util_fmt(p, PATH_MAX, "%s/%s.gz", dir, seg);
		if (access(p, R_OK) < 0)
			continue;
		snprintf(name, sizeof(name), "runs/%s/%s", run, strrchr(p, '/') + 1);
		e[*n].path = p;
		e[*n].name = strdup(name);
		(*n)++;
	}
	if (st != NULL) {
		json_object_object_add(info, "bytes",
		                       json_object_get(json_object_object_get(st, "bytes")));
		json_object_object_add(info, "dropped",
		                       json_object_get(json_object_object_get(st, "dropped")));
	} else {
		/* a run that never rotated has no logstate.json yet: its one segment says it all */
		struct stat sb;
		char p[PATH_MAX];
		util_fmt(p, sizeof(p), "%s/%s", dir, def);
		json_object_object_add(info, "bytes",
		                       json_object_new_int64(stat(p, &sb) == 0 ? sb.st_size : 0));
		json_object_object_add(info, "dropped", json_object_new_int64(0));
	}
	json_object_object_add(logs, stream, info);
}

static void add_run(struct bundle_job *b, struct json_object *run, struct bundle_entry *e,
                    size_t *n, char (*paths)[PATH_MAX])
{
	const char *id = json_get_str(run, "task_id");
	char dir[PATH_MAX], sp[PATH_MAX + 16], *text = NULL;
	struct json_object *state = NULL, *logs = json_object_new_object();

	util_fmt(dir, sizeof(dir), "%s/jobs/%s", b->data_dir, id);
	snprintf(sp, sizeof(sp), "%s/logstate.json", dir);
	if (util_read_file(sp, 1 << 20, &text, NULL) == 0)
		state = json_tokener_parse(text);
	free(text);
	add_stream(e, n, paths, dir, id, "stdout", state, logs);
	add_stream(e, n, paths, dir, id, "stderr", state, logs);
	json_object_object_add(run, "logs", logs);
	json_object_put(state);
}

static void add_agent_logs(struct bundle_job *b, struct bundle_entry *e, size_t *n,
                           char (*paths)[PATH_MAX])
{
	char dir[PATH_MAX + 8];
	struct json_object *files = json_object_new_array();
	DIR *d;
	struct dirent *de;

	snprintf(dir, sizeof(dir), "%s/log", b->data_dir);
	d = opendir(dir);
	while (d != NULL && (de = readdir(d)) != NULL && *n < BUNDLE_MAX_FILES) {
		size_t len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 4, ".log") != 0)
			continue;
		if (util_fmt(paths[*n], PATH_MAX, "%s/%s", dir, de->d_name) < 0)
			continue;
		e[*n].path = paths[*n];
		e[*n].name = strdup(de->d_name);
		json_object_array_add(files, json_object_new_string(de->d_name));
		(*n)++;
	}
	if (d != NULL)
		closedir(d);
	json_object_object_add(b->manifest, "files", files);
}

/* In the helper child. */
static int bundle_work(void *arg, struct json_object **result, char *err, size_t errlen)
{
	struct bundle_job *b = arg;
	struct bundle_entry *e = calloc(BUNDLE_MAX_FILES + 1, sizeof(*e));
	char(*paths)[PATH_MAX] = calloc(BUNDLE_MAX_FILES, PATH_MAX);
	struct json_object *runs = json_object_object_get(b->manifest, "runs");
	size_t n = 0;
	const char *txt;

	if (e == NULL || paths == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (b->agent)
		add_agent_logs(b, e, &n, paths);
	for (size_t i = 0; runs != NULL && i < json_object_array_length(runs); i++)
		add_run(b, json_object_array_get_idx(runs, i), e, &n, paths);
	/* for people: "/" as it is, like the API's documents */
	txt = json_object_to_json_string_ext(b->manifest, JSON_C_TO_STRING_PRETTY |
	                                                      JSON_C_TO_STRING_NOSLASHESCAPE);
	e[n].name = "manifest.json";
	e[n].data = txt;
	e[n].len = strlen(txt);
	n++;
	if (bundle_write(b->out, b->fmt, e, n, err, errlen) < 0)
		return -1;
	*result = json_object_new_object();
	json_object_object_add(*result, "file", json_object_new_string(b->file));
	return 0; /* the child exits: nothing to free */
}

static void bundle_done(struct runner *r, void *arg, bool ok, struct json_object *result,
                        const char *err)
{
	struct bundle_job *b = arg;

	settle_command(r->store, b->cmd_id, ok,
	               ok ? json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN) : NULL,
	               ok ? NULL : (err && *err ? err : "bundle failed"));
	json_object_put(b->manifest);
	free(b);
}

/* A time for people, as the API writes it (RFC 3339 UTC with milliseconds); 0 is null. */
static struct json_object *time_json(int64_t ms)
{
	char buf[UTIL_TIME_LEN];

	return ms > 0 ? json_object_new_string(util_time_fmt(ms, buf)) : NULL;
}

static struct bundle_job *bundle_new(struct runner *r, int64_t cmd_id, struct json_object *pl)
{
	struct bundle_job *b = calloc(1, sizeof(*b));
	const char *fmt = json_get_str(pl, "format");

	if (b == NULL)
		return NULL;
	b->cmd_id = cmd_id;
	if (bundle_format_parse(fmt ? fmt : "tar", &b->fmt) < 0)
		b->fmt = BUNDLE_TAR;
	snprintf(b->data_dir, sizeof(b->data_dir), "%s", r->cfg.data_dir);
	snprintf(b->file, sizeof(b->file), "%lld%s", (long long)cmd_id, bundle_format_ext(b->fmt));
	util_fmt(b->out, sizeof(b->out), "%s/bundles/%s", r->cfg.data_dir, b->file);
	b->manifest = json_object_new_object();
	json_object_object_add(b->manifest, "generated_at", time_json(util_now_ms()));
	return b;
}

static void bundle_go(struct runner *r, struct bundle_job *b)
{
	if (helper_start(r, bundle_work, bundle_done, b) < 0)
		bundle_done(r, b, false, NULL, "cannot start the bundle helper");
}

static struct json_object *run_json(const struct store_task_summary *s)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "task_id", json_object_new_string(s->id));
	json_object_object_add(o, "state", json_object_new_string(s->state));
	json_object_object_add(o, "reason", json_object_new_string(s->reason));
	json_object_object_add(o, "release", json_object_new_int(s->release_seq));
	json_object_object_add(o, "artifact_sha256", json_object_new_string(s->artifact));
	json_object_object_add(o, "exit_code",
	                       s->has_code ? json_object_new_int(s->exit_code) : NULL);
	json_object_object_add(o, "signal", s->has_signal ? json_object_new_int(s->signal) : NULL);
	json_object_object_add(o, "killed", json_object_new_boolean(s->killed));
	json_object_object_add(o, "timed_out", json_object_new_boolean(s->timed_out));
	json_object_object_add(o, "oom", json_object_new_boolean(s->oom));
	json_object_object_add(o, "created_at", time_json(s->created_at));
	json_object_object_add(o, "started_at", time_json(s->started_at));
	json_object_object_add(o, "ended_at", time_json(s->completed_at));
	return o;
}

/* The project part of the manifest: spec and release of what runs now, restarts. */
static void project_json(struct runner *r, const char *name, struct json_object *m)
{
	struct store_project p;
	struct store_release rel;

	json_object_object_add(m, "project", json_object_new_string(name));
	if (store_project_row(r->store, name, &p) != 1)
		return;
	json_object_object_add(m, "restarts", json_object_new_int(p.restarts));
	json_object_object_add(m, "state", json_object_new_string(p.state));
	if (store_release_get(r->store, p.release_id, &rel) != 1)
		return;
	json_object_object_add(m, "release", json_object_new_int(rel.seq));
	json_object_object_add(m, "artifact_sha256", json_object_new_string(rel.artifact));
	json_object_object_add(m, "spec", rel.spec ? json_tokener_parse(rel.spec) : NULL);
	store_release_clear(&rel);
}

void bundle_logs_cmd(struct runner *r, int64_t cmd_id, const char *project, struct json_object *pl)
{
	struct bundle_job *b = bundle_new(r, cmd_id, pl);
	struct store_task_summary *runs;
	struct json_object *arr;
	size_t n;

	if (b == NULL || store_task_summaries(r->store, project, json_get_str(pl, "task"),
	                                      json_get_int(pl, "since", 0), &runs, &n) < 0) {
		settle_command(r->store, cmd_id, false, NULL, "cannot list the project's runs");
		if (b != NULL)
			json_object_put(b->manifest), free(b);
		return;
	}
	project_json(r, project, b->manifest);
	arr = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, run_json(&runs[i]));
	free(runs);
	json_object_object_add(b->manifest, "runs", arr);
	bundle_go(r, b);
}

void bundle_agent_logs_cmd(struct runner *r, int64_t cmd_id, struct json_object *pl)
{
	struct bundle_job *b = bundle_new(r, cmd_id, pl);

	if (b == NULL) {
		settle_command(r->store, cmd_id, false, NULL, "out of memory");
		return;
	}
	b->agent = true;
	bundle_go(r, b);
}

void bundle_cleanup(struct runner *r)
{
	char dir[PATH_MAX + 16], p[PATH_MAX * 2];
	struct dirent *de;
	struct stat st;
	int64_t now = util_now_ms();
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/bundles", r->cfg.data_dir);
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
		    now - ((int64_t)st.st_mtime * 1000) > BUNDLE_TTL_MS)
			unlink(p);
	}
	closedir(d);
}
