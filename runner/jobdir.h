/* SPDX-License-Identifier: MIT */
/*
 * A run's job directory, <data>/jobs/<task-id>/ (docs/architecture.md,
 * "The job directory"): writing it before its shim starts (spec.json with
 * the environment a job gets, parameters.json, output/), and its lock,
 * which the shim holds for its whole life so that a job has one shim.
 */
#ifndef HOSTAGENT_JOBDIR_H
#define HOSTAGENT_JOBDIR_H

#include <stddef.h>

struct runner;
struct store_task;
struct store_release;

#define JOBDIR_BUSY 1

/* <data>/jobs/<task_id>. 0, or -1 if it does not fit. */
int jobdir_path(const struct runner *r, const char *task_id, char *buf, size_t len);

/*
 * Takes the directory's lock, writes the spec's cgroup limits into cgroup
 * (the run's group, or "" / NULL for none; runner/job_limits.c decides what
 * goes there and what becomes an rlimit in spec.json) and writes its files
 * (a leftover of a spawn that failed before its shim ran is cleared
 * first). Returns 0 with *lock_fd set (owned by the caller: hand it to the
 * shim as fd 4, then close it); JOBDIR_BUSY when a live shim holds the
 * lock (this run was spawned before: adopt it, never spawn a second shim;
 * nothing is written); -1 for an error worth a retry (a cgroup that
 * refused a limit, or a run without the cgroup its limits need, included);
 * -2 when the spec cannot be run (no command, or a limit that nothing on
 * this host would enforce). Reason in err.
 */
int jobdir_prepare(struct runner *r, const struct store_task *t, const struct store_release *rel,
                   const char *cgroup, int *lock_fd, char *err, size_t errlen);

/* 1 when a shim holds dir's lock, 0 when none does or dir is gone, -1 on error (errno). */
int jobdir_locked(const char *dir);

#endif
