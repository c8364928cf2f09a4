/* SPDX-License-Identifier: MIT */
/*
 * Releases on disk (see deploy.h): extraction in a helper child through
 * the archive policy of common/archive.c, the release's state, and the
 * pruning of old releases. It never starts or stops a project.
 */
#include "deploy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "archive.h"
#include "helper.h"
#include "log.h"
#include "runner.h"
#include "store_projects.h"
#include "store_tasks.h"
#include "store_usage.h"
#include "util.h"

struct extraction {
	int64_t release_id;
	int seq;
	char project[64], task_id[40];
	char artifact[PATH_MAX], dest[PATH_MAX];
	struct arc_limits lim;
	deploy_done_fn *done;
	void *arg;
};

/* In the helper child. A release directory that exists is complete: arc_extract renames it in last.
 */
static int extract_work(void *arg, struct json_object **result, char *err, size_t errlen)
{
	struct extraction *x = arg;
	struct stat st;
	char parent[PATH_MAX];
	enum arc_err rc;

	if (stat(x->dest, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	snprintf(parent, sizeof(parent), "%s", x->dest);
	*strrchr(parent, '/') = '\0';
	if (util_mkdir_p(parent, 0755) < 0) {
		snprintf(err, errlen, "%s: %s", parent, strerror(errno));
		return -1;
	}
	rc = arc_extract(x->artifact, x->dest, &x->lim, err, errlen);
	*result = json_object_new_int(rc);
	return rc == ARC_OK ? 0 : -1;
}

static void extract_done(struct runner *r, void *arg, bool ok, struct json_object *result,
                         const char *err)
{
	struct extraction *x = arg;
	char why[700];
	struct store_event ev = {.type = "project.deploy_failed",
	                         .project = x->project,
	                         .level = "warn",
	                         .message = why};

	if (!err || !*err)
		err = "unknown error";
	if (x->release_id == 0) { /* a task's tree: no release row to record */
		snprintf(why, sizeof(why), "artifact %.12s: extraction failed: %s",
		         strrchr(x->artifact, '/') + 1, err);
		x->done(r, x->arg, ok, ok ? NULL : why);
		free(x);
		return;
	}
	snprintf(why, sizeof(why), "release %d: extraction failed: %s", x->seq, err);
	ev.task_id = x->task_id[0] ? x->task_id : NULL;
	if (store_release_set_state(r->store, x->release_id, ok ? "ready" : "failed",
	                            ok ? NULL : err, ok ? NULL : &ev) < 0)
		log_error("release %lld: cannot record its state", (long long)x->release_id);
	if (!ok)
		log_warn("project %s: %s", x->project, why);
	x->done(r, x->arg, ok, ok ? NULL : why);
	free(x);
}

int deploy_extract(struct runner *r, const struct store_release *rel, const char *task_id,
                   deploy_done_fn *done, void *arg)
{
	struct extraction *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return -1;
	x->release_id = rel->id;
	x->seq = rel->seq;
	x->done = done;
	x->arg = arg;
	snprintf(x->project, sizeof(x->project), "%s", rel->project);
	snprintf(x->task_id, sizeof(x->task_id), "%s", task_id ? task_id : "");
	arc_limits_config(&x->lim, &r->cfg);
	if (util_fmt(x->artifact, sizeof(x->artifact), "%s/artifacts/%s", r->cfg.data_dir,
	             rel->artifact) < 0 ||
	    util_fmt(x->dest, sizeof(x->dest), "%s/releases/%s/%d", r->cfg.data_dir, rel->project,
	             rel->seq) < 0 ||
	    store_release_set_state(r->store, rel->id, "extracting", NULL, NULL) < 0 ||
	    helper_start(r, extract_work, extract_done, x) < 0) {
		free(x);
		return -1;
	}
	return 0;
}

int deploy_tree_path(const struct runner *r, const char *sha256, char *buf, size_t len)
{
	return util_fmt(buf, len, "%s/trees/%s", r->cfg.data_dir, sha256) < 0 ? -1 : 0;
}

int deploy_extract_tree(struct runner *r, const char *sha256, deploy_done_fn *done, void *arg)
{
	struct extraction *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return -1;
	x->done = done;
	x->arg = arg;
	arc_limits_config(&x->lim, &r->cfg);
	if (util_fmt(x->artifact, sizeof(x->artifact), "%s/artifacts/%s", r->cfg.data_dir,
	             sha256) < 0 ||
	    deploy_tree_path(r, sha256, x->dest, sizeof(x->dest)) < 0 ||
	    helper_start(r, extract_work, extract_done, x) < 0) {
		free(x);
		return -1;
	}
	return 0;
}

void deploy_prune(struct runner *r, const char *project, int64_t keep_id, int64_t running_id)
{
	char path[PATH_MAX];
	int *seqs;
	size_t n;

	if (store_releases_prune(r->store, project, r->cfg.keep_releases, keep_id, running_id,
	                         &seqs, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (util_fmt(path, sizeof(path), "%s/releases/%s/%d", r->cfg.data_dir, project,
		             seqs[i]) >= 0)
			helper_remove_tree(r, path);
	free(seqs);
}
