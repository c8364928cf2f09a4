/* SPDX-License-Identifier: MIT */
/*
 * The few cgroup v2 files the runner and the shim touch, on a job's cgroup
 * directory: cgroup.kill, cgroup.freeze and cgroup.events, memory.events,
 * and removing a job's subtree. No detection and no policy (runner/cgroup.c
 * decides whether jobs get cgroups at all). The functions work on any
 * directory laid out like cgroupfs, which is how the unit test drives them.
 */
#ifndef HOSTAGENT_CGROUP_FS_H
#define HOSTAGENT_CGROUP_FS_H

#include <stdbool.h>
#include <stdint.h>

/* Writes val to <dir>/<file>. 0 or -1 (errno set). */
int cgfs_write(const char *dir, const char *file, const char *val);
/* SIGKILL to every member of the subtree (cgroup.kill, kernel 5.14+). 0 or -1. */
int cgfs_kill(const char *dir);
/*
 * Freezes (on) or thaws the subtree and waits up to wait_ms for
 * cgroup.events to say so ("frozen 1" / "frozen 0"). 0 once it does, -1
 * when the write failed or the state did not come within the wait.
 */
int cgfs_freeze(const char *dir, bool on, int wait_ms);
/* 1 when cgroup.events says "frozen 1", 0 when not, -1 unreadable. */
int cgfs_frozen(const char *dir);
/* memory.events counted an oom_kill (false when there is no such file). */
bool cgfs_oom_killed(const char *dir);
/* memory.events' oom_kill count: 0 when there is no such file. */
int64_t cgfs_oom_kills(const char *dir);
/*
 * Removes dir and every cgroup below it, deepest first (a job may have
 * made groups of its own, and a group with children cannot be removed).
 * A group whose members are still dying is EBUSY: retried for up to
 * wait_ms in all. 0 when dir is gone (or never was), -1 (errno set) else.
 */
int cgfs_remove_tree(const char *dir, int wait_ms);

#endif
