/* SPDX-License-Identifier: MIT */
/*
 * The few cgroup v2 files the runner and the shim touch, on a job's cgroup
 * directory: cgroup.kill, cgroup.freeze and cgroup.events, memory.events,
 * the limit files (memory.max, memory.swap.max, pids.max, cpu.max), the
 * controller lists, and removing a job's subtree. No detection and no
 * policy (runner/cgroup.c decides whether jobs get cgroups and which
 * controllers, runner/job_limits.c which limit goes where). The functions work
 * on any directory laid out like cgroupfs, which is how the unit test
 * drives them.
 */
#ifndef HOSTAGENT_CGROUP_FS_H
#define HOSTAGENT_CGROUP_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The controllers job limits use, as bits of a mask. */
enum cgfs_ctrl {
	CGFS_CTRL_MEMORY = 1 << 0,
	CGFS_CTRL_PIDS = 1 << 1,
	CGFS_CTRL_CPU = 1 << 2,
};
#define CGFS_CTRL_ALL (CGFS_CTRL_MEMORY | CGFS_CTRL_PIDS | CGFS_CTRL_CPU)
/* cpu.max's period: quota = cores * period (the kernel's default period). */
#define CGFS_CPU_PERIOD_US 100000

/* What cgfs_set_limits writes; a 0 field leaves its file as it is ("max"). */
struct cgfs_limits {
	uint64_t memory; /* bytes: memory.max, and memory.swap.max = 0 */
	uint64_t pids;   /* pids.max */
	double cpu;      /* cores: cpu.max */
};

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
/* "memory", "pids" or "cpu" for one CGFS_CTRL_* bit; NULL for anything else. */
const char *cgfs_ctrl_name(unsigned bit);
/*
 * The CGFS_CTRL_* bits among the space-separated names of <dir>/<file>
 * (cgroup.controllers or cgroup.subtree_control; other names are ignored).
 * -1 (errno set) when the file cannot be read.
 */
int cgfs_controllers(const char *dir, const char *file);
/* cpu.max's text for cores: "<cores * period> <period>". 0, or -1 if it does not fit. */
int cgfs_cpu_max(double cores, char *buf, size_t len);
/*
 * Writes the set fields of l into the cgroup dir: memory.max, then
 * memory.swap.max "0" when that file exists (without it memory.max would
 * only push the job into swap), pids.max, cpu.max. 0, or -1 with errno
 * set and *failed naming the file whose write failed (static storage).
 */
int cgfs_set_limits(const char *dir, const struct cgfs_limits *l, const char **failed);
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
