/* SPDX-License-Identifier: MIT */
/*
 * Short-lived helper children for slow work (extraction, bundling,
 * removing trees), so that the loop never blocks: a kill arriving during a
 * 1 GB extraction is applied at once.
 */
#ifndef HOSTAGENT_HELPER_H
#define HOSTAGENT_HELPER_H

#include <stdbool.h>
#include <stddef.h>

struct runner;
struct json_object;

/*
 * Runs work(arg) in a forked child: the child writes
 * {"ok":bool,"result":...,"error":"..."} to a pipe and exits; done() runs
 * on the loop when the pipe reaches EOF (ok false with a reason if the
 * child died). The child must not use r->store. arg is owned by the
 * caller and must stay valid until done() is called.
 */
typedef int helper_work_fn(void *arg, struct json_object **result, char *err, size_t errlen);
typedef void helper_done_fn(struct runner *r, void *arg, bool ok, struct json_object *result,
                            const char *err);
int helper_start(struct runner *r, helper_work_fn *work, helper_done_fn *done, void *arg);
/* Removes a directory tree in a helper child: a large release never stalls the loop. */
void helper_remove_tree(struct runner *r, const char *path);

#endif
