/* SPDX-License-Identifier: MIT */
/*
 * The one-second sample: each running job's process tree (CPU %, RSS,
 * threads, fds, process count) and the host's CPU with its 1/5/15-minute
 * averages, written in one transaction so that reads never wait for a
 * second sample. One /proc scan serves every job.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "jobs.h"
#include "runner.h"
#include "sample.h"
#include "store_projects.h"
#include "store_tasks.h"
#include "store_usage.h"
#include "util.h"

static void sample_job(struct runner *r, struct job *j, struct store_usage *u, int64_t now)
{
	char procs[PATH_MAX + 16];
	struct procstat_tree t;

	if (j->cgroup[0] != '\0')
		util_fmt(procs, sizeof(procs), "%s/cgroup.procs", j->cgroup);
	if (procstat_tree_sum(&r->snap, j->pid, j->cgroup[0] ? procs : NULL, &t) < 0)
		t.procs = 0, t.ticks = j->prev_ticks, t.fds = 0;
	u->task_id = j->task_id;
	u->cpu_pct = j->prev_ms > 0 ? procstat_cpu_pct(j->prev_ticks, t.ticks, now - j->prev_ms,
	                                               sysconf(_SC_CLK_TCK))
	                            : 0.0;
	u->rss_bytes = t.rss_bytes;
	u->threads = t.threads;
	u->fds = t.fds;
	u->procs = t.procs;
	j->prev_ticks = t.ticks;
	j->prev_ms = now;
}

/*
 * A pid is sampled only while it is still the job's: after a runner
 * restart the database's pid may have been reused, so the start time the
 * shim reported must match the snapshot's (0: not reported yet).
 */
static bool is_the_job(const struct runner *r, const struct job *j)
{
	const struct procstat_proc *p;

	if (!j->started || j->pid <= 0 || j->start_time == 0)
		return false;
	p = procstat_snap_find(&r->snap, j->pid);
	return p != NULL && p->start_time == j->start_time;
}

void sample_tick(struct runner *r)
{
	struct procstat_cpu cpu;
	struct store_usage *u;
	size_t n = 0, cap = 0;
	double pct = 0;

	for (struct job *j = r->jobs; j != NULL; j = j->next)
		cap++;
	u = calloc(cap ? cap : 1, sizeof(*u));
	if (u == NULL || procstat_snap_take(&r->snap) < 0) {
		free(u);
		return;
	}
	for (struct job *j = r->jobs; j != NULL; j = j->next)
		if (is_the_job(r, j))
			sample_job(r, j, &u[n++], r->snap.mono_ms);
	if (procstat_read_cpu(&cpu) == 0) {
		if (r->cpu_prev.total > 0) {
			pct = procstat_host_pct(&r->cpu_prev, &cpu);
			procstat_avg_add(&r->cpu_avg, pct);
		}
		r->cpu_prev = cpu;
	}
	if (store_usage_write(r->store, u, n, pct, procstat_avg_mean(&r->cpu_avg, 60),
	                      procstat_avg_mean(&r->cpu_avg, 300),
	                      procstat_avg_mean(&r->cpu_avg, 900)) < 0)
		log_warn("usage sample not written");
	free(u);
}
