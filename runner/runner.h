/* SPDX-License-Identifier: MIT */
/*
 * The runner daemon's context: configuration, the database, the event
 * loop, the kill mode and the lists its modules own. Every module takes
 * it; what each module offers is in its own header (jobs.h, project.h,
 * commands.h, ...). Single-threaded: every function runs on the loop.
 */
#ifndef HOSTAGENT_RUNNER_H
#define HOSTAGENT_RUNNER_H

#include <limits.h>
#include <stdbool.h>

#include "../common/config.h" /* not autoconf's config.h, which -I. finds first */
#include "procstat.h"

struct loop;
struct store;
struct job;
struct project;

struct runner {
	struct config cfg;
	const char *cfg_path; /* -c, or NULL */
	struct store *store;
	struct loop *loop;
	int wake_fd, sig_fd;
	char kill_mode[16]; /* "cgroup" or "process-group" */
	char cgroup_root[PATH_MAX];
	unsigned cg_ctrl; /* CGFS_CTRL_* that job cgroups get (cgroup.c); 0 without cgroups */
	bool cg_swap;     /* ...and they have memory.swap.max */
	char shim_path[PATH_MAX];
	struct job *jobs;         /* owned by jobs.c */
	struct project *projects; /* owned by project.c */
	bool commands_due;
	uint64_t health_flush; /* project.c: the timer that writes health results, 0 when none */
	struct slot_run *slots; /* queue.c: the tasks the internal slots run */
	struct tree_wait *tree_waits; /* queue.c: artifact trees being extracted, and who waits */
	bool queue_due;         /* a slot may take a task: claim before the loop sleeps */
	bool recovered; /* start-up recovery is over: no run is unknown any more */
	/* sampling (sample.c) */
	struct procstat_snap snap;
	struct procstat_cpu cpu_prev;
	struct procstat_avg cpu_avg;
};

#endif
