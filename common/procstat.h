/* SPDX-License-Identifier: MIT */
/*
 * Process-tree and host sampling from /proc: one scan of /proc per sample
 * (not one per job), per-tree sums of CPU ticks, RSS, threads, fds and
 * process counts, host CPU from /proc/stat deltas and the 1/5/15-minute
 * averages of those one-second samples. The parsers are pure and tested;
 * nothing here signals a process or touches the database.
 */
#ifndef HOSTAGENT_PROCSTAT_H
#define HOSTAGENT_PROCSTAT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The fields of /proc/<pid>/stat that sampling needs. */
struct procstat_proc {
	pid_t pid, ppid, pgrp, session;
	char state;            /* R, S, D, Z, T, ... */
	uint64_t utime, stime; /* clock ticks, this process only */
	uint64_t start_time;   /* ticks after boot: (pid, start_time) names a process */
	long threads;
	long rss_pages;
};

/*
 * Parses the text of /proc/<pid>/stat. The command name may hold spaces
 * and parentheses, so fields are counted from the LAST ')'. 0 or -1.
 */
int procstat_parse_stat(const char *buf, struct procstat_proc *out);
/* Reads and parses /proc/<pid>/stat. 0, or -1 (gone, or unreadable). */
int procstat_read(pid_t pid, struct procstat_proc *out);

/* Every process on the host at one instant; procs is owned by the snapshot. */
struct procstat_snap {
	struct procstat_proc *procs;
	size_t n, cap;
	int64_t mono_ms;
};
/* Fills snap from one pass over /proc (reusing its array). 0 or -1. */
int procstat_snap_take(struct procstat_snap *snap);
void procstat_snap_release(struct procstat_snap *snap);
/* The entry for pid, or NULL (binary search: procs are sorted by pid). */
const struct procstat_proc *procstat_snap_find(const struct procstat_snap *snap, pid_t pid);

/* Sums over one job's process tree. */
struct procstat_tree {
	int procs;
	long threads;
	int fds; /* -1 when no /proc/<pid>/fd could be read */
	uint64_t rss_bytes;
	uint64_t ticks; /* utime + stime of the live processes */
};
/*
 * Sums the tree of a job: with cgroup_procs (the path of a cgroup.procs
 * file) its members; otherwise every process whose session is sid (jobs
 * run in their own session, sid == the job's pid). 0, or -1 when nothing
 * was found.
 */
int procstat_tree_sum(const struct procstat_snap *snap, pid_t sid, const char *cgroup_procs,
                      struct procstat_tree *out);
/* CPU % (100 = one core) from two tick counts taken dt_ms apart; never negative. */
double procstat_cpu_pct(uint64_t ticks0, uint64_t ticks1, int64_t dt_ms, long hz);

/* Host CPU time from the "cpu " line of /proc/stat. */
struct procstat_cpu {
	uint64_t busy, total; /* jiffies; idle + iowait count as idle */
};
/* Parses the text of /proc/stat. 0 or -1. */
int procstat_parse_cpu(const char *buf, struct procstat_cpu *out);
int procstat_read_cpu(struct procstat_cpu *out);
/* Busy % of all cores (0..100) between two readings; 0 when nothing elapsed. */
double procstat_host_pct(const struct procstat_cpu *a, const struct procstat_cpu *b);

/*
 * Averages over the last 60, 300 and 900 one-second samples (fewer until
 * that many exist). A fixed ring of floats: 3.6 KB, no allocation.
 */
#define PROCSTAT_AVG_N 900
struct procstat_avg {
	float ring[PROCSTAT_AVG_N];
	size_t head, count;
};
void procstat_avg_add(struct procstat_avg *a, double v);
/* Mean of the last `window` samples (1..PROCSTAT_AVG_N); 0 when empty. */
double procstat_avg_mean(const struct procstat_avg *a, size_t window);

/* Resident set of the calling process in bytes (from /proc/self/statm), or 0. */
uint64_t procstat_self_rss(void);

#endif
