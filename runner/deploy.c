/* SPDX-License-Identifier: MIT */
/*
 * project.deploy: the release is extracted in a helper child (so a kill
 * of another project is never queued behind a large extraction), then made
 * current and started through project_switch. A deploy that failed leaves
 * the running release alone. Old releases beyond keep_releases are pruned.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "archive.h"
#include "log.h"
#include "runner.h"
#include "store.h"
#include "store_run.h"
#include "util.h"

struct deploy {
	int64_t cmd_id, release_id;
	char name[64];
	int seq;
	char task_id[40];
	bool start;
	uint64_t gen;
	char artifact[PATH_MAX], dest[PATH_MAX];
	struct arc_limits lim;
};

/* In the helper child. A release directory that exists is complete: arc_extract renames it in last.
 */
static int extract_work(void *arg, struct json_object **result, char *err, size_t errlen)
{
	struct deploy *d = arg;
	struct stat st;
	char parent[PATH_MAX];
	enum arc_err rc;

	if (stat(d->dest, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	snprintf(parent, sizeof(parent), "%s", d->dest);
	*strrchr(parent, '/') = '\0';
	if (util_mkdir_p(parent, 0755) < 0) {
		snprintf(err, errlen, "%s: %s", parent, strerror(errno));
		return -1;
	}
	rc = arc_extract(d->artifact, d->dest, &d->lim, err, errlen);
	*result = json_object_new_int(rc);
	return rc == ARC_OK ? 0 : -1;
}

static void end_task(struct runner *r, const char *task_id, const char *state, const char *why)
{
	struct run_end end = {.state = state, .reason = why, .ended_at = util_now_ms()};

	if (task_id[0] == '\0')
		return;
	store_run_task_ended(r->store, task_id, &end);
	store_event_add(r->store, "task.exited", task_id, NULL, "info", why, NULL);
}

static void prune(struct runner *r, struct project *p, int64_t keep_id)
{
	struct job *j = p->job;
	struct run_task t;
	int64_t running = 0;
	int *seqs;
	size_t n;
	char path[PATH_MAX];

	if (j != NULL && store_run_task_get(r->store, j->task_id, &t) == 1) {
		running = t.release_id;
		run_task_clear(&t);
	}
	if (store_run_releases_prune(r->store, p->name, r->cfg.keep_releases, keep_id, running,
	                             &seqs, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (util_fmt(path, sizeof(path), "%s/releases/%s/%d", r->cfg.data_dir, p->name,
		             seqs[i]) >= 0)
			helper_remove_tree(r, path);
	free(seqs);
}

/*
 * The handler made the new release current when it accepted the deploy; a
 * failed one gives that back to the release of the run the project keeps.
 */
static void restore_release(struct runner *r, const char *name, int64_t failed)
{
	struct project *p = project_find(r, name, true);
	struct run_task t;

	if (p == NULL || p->task_id[0] == '\0' || store_run_task_get(r->store, p->task_id, &t) != 1)
		return;
	if (t.release_id != 0 && t.release_id != failed) {
		p->release_id = t.release_id;
		store_run_project_release(r->store, name, t.release_id);
	}
	run_task_clear(&t);
}

static void deploy_failed(struct runner *r, struct deploy *d, const char *err)
{
	char why[700];

	snprintf(why, sizeof(why), "release %d: extraction failed: %s", d->seq, err);
	store_run_release_set(r->store, d->release_id, "failed", err);
	end_task(r, d->task_id, "failed", why);
	store_event_add(r->store, "project.deploy_failed", d->task_id[0] ? d->task_id : NULL,
	                d->name, "warn", why, NULL);
	log_warn("project %s: %s", d->name, why);
	restore_release(r, d->name, d->release_id);
	commands_done(r, d->cmd_id, false, NULL, why);
}

static void deploy_ready(struct runner *r, struct deploy *d)
{
	struct project *p = project_find(r, d->name, true);

	store_run_release_set(r->store, d->release_id, "ready", NULL);
	if (p == NULL) {
		end_task(r, d->task_id, "cancelled", "the project was deleted");
		commands_done(r, d->cmd_id, false, NULL, "the project was deleted");
		return;
	}
	if (p->gen != d->gen) {
		end_task(r, d->task_id, "cancelled", "superseded by a later command");
		commands_done(r, d->cmd_id, true, "{\"superseded\":true}", NULL);
	} else if (!d->start) {
		p->release_id = d->release_id;
		store_run_project_release(r->store, p->name, d->release_id);
		end_task(r, d->task_id, "cancelled", "deployed with start=false");
		commands_done(r, d->cmd_id, true, "{\"started\":false}", NULL);
	} else {
		project_switch(r, p, d->release_id, d->task_id, d->cmd_id);
	}
	prune(r, p, d->release_id);
}

static void extract_done(struct runner *r, void *arg, bool ok, struct json_object *result,
                         const char *err)
{
	struct deploy *d = arg;

	if (ok)
		deploy_ready(r, d);
	else
		deploy_failed(r, d, err && *err ? err : "unknown error");
	free(d);
}

static struct deploy *deploy_new(struct runner *r, int64_t cmd_id, struct project *p,
                                 const struct run_release *rel, struct json_object *payload)
{
	struct deploy *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	d->cmd_id = cmd_id;
	d->release_id = rel->id;
	d->seq = rel->seq;
	d->gen = p->gen;
	d->start = json_object_object_get(payload, "start") == NULL ||
	           json_object_get_boolean(json_object_object_get(payload, "start"));
	snprintf(d->name, sizeof(d->name), "%s", p->name);
	snprintf(d->task_id, sizeof(d->task_id), "%s", json_str(payload, "task_id") ?: "");
	if (util_fmt(d->artifact, sizeof(d->artifact), "%s/artifacts/%s", r->cfg.data_dir,
	             rel->artifact) < 0 ||
	    util_fmt(d->dest, sizeof(d->dest), "%s/releases/%s/%d", r->cfg.data_dir, p->name,
	             rel->seq) < 0) {
		free(d);
		return NULL;
	}
	arc_limits_config(&d->lim, &r->cfg);
	return d;
}

void project_deploy_cmd(struct runner *r, int64_t cmd_id, const char *name,
                        struct json_object *payload)
{
	struct project *p = project_for_cmd(r, cmd_id, name);
	struct run_release rel;
	struct deploy *d;

	if (p == NULL)
		return;
	if (store_run_release_get(r->store, json_int(payload, "release_id", 0), &rel) != 1 ||
	    strcmp(rel.project, name) != 0) {
		commands_done(r, cmd_id, false, NULL, "no such release of this project");
		return;
	}
	p->gen++;
	d = deploy_new(r, cmd_id, p, &rel, payload);
	if (d == NULL || strcmp(rel.state, "failed") == 0 || strcmp(rel.state, "removed") == 0) {
		commands_done(r, cmd_id, false, NULL,
		              d ? "the release failed or was removed" : "out of memory");
		free(d);
	} else if (strcmp(rel.state, "ready") == 0) {
		deploy_ready(r, d); /* a re-applied command after a runner restart */
		free(d);
	} else {
		store_run_release_set(r->store, rel.id, "extracting", NULL);
		if (helper_start(r, extract_work, extract_done, d) < 0)
			extract_done(r, d, false, NULL, "cannot start the extraction helper");
	}
	run_release_clear(&rel);
}
