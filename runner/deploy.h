/* SPDX-License-Identifier: MIT */
/*
 * Releases on disk: extracting one in a helper child (so a kill of another
 * project is never queued behind a large extraction) and pruning old
 * ones. It records the release's state and, on failure, the
 * project.deploy_failed event; what the deploy means for the project is
 * the caller's (project.c), told through the done callback.
 */
#ifndef HOSTAGENT_DEPLOY_H
#define HOSTAGENT_DEPLOY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct runner;
struct store_release;

/* ok: the release is ready. err: why not (borrowed for the call). */
typedef void deploy_done_fn(struct runner *r, void *arg, bool ok, const char *err);

/*
 * Extracts rel into <data>/releases/<project>/<seq> unless it is there
 * already, marks it 'ready' or 'failed' (with its event, naming task_id),
 * then calls done(r, arg, ...) on the loop. 0 started (done comes later),
 * -1 it could not start (done is not called).
 */
int deploy_extract(struct runner *r, const struct store_release *rel, const char *task_id,
                   deploy_done_fn *done, void *arg);

/* Ready releases beyond keep_releases are removed, never keep_id nor running_id. */
/*
 * An artifact's tree for the tasks that run it: <data>/trees/<sha256>,
 * extracted once (by the same policy as a release, in a helper) and shared
 * by every task of that artifact; read-only to jobs. done as above.
 */
int deploy_extract_tree(struct runner *r, const char *sha256, deploy_done_fn *done, void *arg);
/* <data>/trees/<sha256> into buf. 0 or -1. */
int deploy_tree_path(const struct runner *r, const char *sha256, char *buf, size_t len);

void deploy_prune(struct runner *r, const char *project, int64_t keep_id, int64_t running_id);

#endif
