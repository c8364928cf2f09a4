/* SPDX-License-Identifier: MIT */
/*
 * The kill mode (cgroup v2 or process group) and the runner's side of job
 * cgroups: creating one per run, destroying what a vanished shim left,
 * and sweeping stale ones at start-up.
 */
#ifndef HOSTAGENT_CGROUP_H
#define HOSTAGENT_CGROUP_H

#include <stdbool.h>
#include <stddef.h>

struct runner;

/*
 * Decides the kill mode once; fills r->kill_mode and r->cgroup_root, and
 * r->cg_ctrl and r->cg_swap with the controllers job groups get.
 */
void cgroup_detect(struct runner *r);
/* Creates <root>/job-<task_id> into out. 0, or -1 (the job then runs without). */
int cgroup_job_create(const struct runner *r, const char *task_id, char *out, size_t len);
/* Kills whatever is left in a job cgroup and removes its subtree (a shim that vanished). */
void cgroup_job_destroy(const char *path);
/*
 * At start-up, after recovery: every job-* group under the root for which
 * in_use(arg, path) is false is killed and removed, deepest first (a shim
 * SIGKILLed with its runner leaves its group behind). Returns how many.
 */
int cgroup_sweep(struct runner *r, bool (*in_use)(void *arg, const char *path), void *arg);

#endif
