/* SPDX-License-Identifier: MIT */
/*
 * /proc sampling (see procstat.h). One directory pass per snapshot keeps the
 * runner's per-second cost flat in the number of jobs; fds are counted only
 * for the processes of a job.
 */
#include "procstat.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

int procstat_parse_stat(const char *buf, struct procstat_proc *out)
{
	const char *rp = strrchr(buf, ')');
	unsigned long long ut, st, start;
	long thr, rss;
	int pid, ppid, pgrp, sess;
	char state;

	if (rp == NULL || sscanf(buf, "%d", &pid) != 1)
		return -1;
	/*
	 * After ")": state(3) ppid(4) pgrp(5) session(6) tty(7) tpgid(8)
	 * flags(9) minflt..cmajflt(10-13) utime(14) stime(15) cutime(16)
	 * cstime(17) priority(18) nice(19) threads(20) itreal(21)
	 * starttime(22) vsize(23) rss(24).
	 */
	if (sscanf(rp + 1,
	           " %c %d %d %d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %ld %*d"
	           " %llu %*u %ld",
	           &state, &ppid, &pgrp, &sess, &ut, &st, &thr, &start, &rss) != 9)
		return -1;
	out->pid = pid;
	out->ppid = ppid;
	out->pgrp = pgrp;
	out->session = sess;
	out->state = state;
	out->utime = ut;
	out->stime = st;
	out->start_time = start;
	out->threads = thr;
	out->rss_pages = rss;
	return 0;
}

static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

int procstat_read(pid_t pid, struct procstat_proc *out)
{
	char path[64], buf[1024];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return -1;
	return procstat_parse_stat(buf, out);
}

static int cmp_pid(const void *a, const void *b)
{
	const struct procstat_proc *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

static int snap_push(struct procstat_snap *snap, const struct procstat_proc *p)
{
	if (snap->n == snap->cap) {
		size_t cap = snap->cap ? snap->cap * 2 : 256;
		struct procstat_proc *np = realloc(snap->procs, cap * sizeof(*np));
		if (np == NULL)
			return -1;
		snap->procs = np;
		snap->cap = cap;
	}
	snap->procs[snap->n++] = *p;
	return 0;
}

int procstat_snap_take(struct procstat_snap *snap)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	struct procstat_proc p;

	if (d == NULL)
		return -1;
	snap->n = 0;
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (procstat_read((pid_t)atoi(de->d_name), &p) < 0)
			continue; /* exited meanwhile */
		if (snap_push(snap, &p) < 0) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	qsort(snap->procs, snap->n, sizeof(*snap->procs), cmp_pid);
	snap->mono_ms = util_mono_ms();
	return 0;
}

void procstat_snap_release(struct procstat_snap *snap)
{
	free(snap->procs);
	memset(snap, 0, sizeof(*snap));
}

const struct procstat_proc *procstat_snap_find(const struct procstat_snap *snap, pid_t pid)
{
	struct procstat_proc key = {.pid = pid};

	if (snap->n == 0)
		return NULL;
	return bsearch(&key, snap->procs, snap->n, sizeof(*snap->procs), cmp_pid);
}

static int count_fds(pid_t pid)
{
	char path[64];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void tree_add(struct procstat_tree *t, const struct procstat_proc *p, long page)
{
	int fds = count_fds(p->pid);

	t->procs++;
	t->threads += p->threads;
	t->rss_bytes += (uint64_t)(p->rss_pages > 0 ? p->rss_pages : 0) * (uint64_t)page;
	t->ticks += p->utime + p->stime;
	if (fds >= 0)
		t->fds = (t->fds < 0 ? 0 : t->fds) + fds;
}

/* Members listed in a cgroup.procs file, looked up in the snapshot. */
static void tree_cgroup(const struct procstat_snap *snap, const char *procs_path,
                        struct procstat_tree *t, long page)
{
	FILE *f = fopen(procs_path, "re");
	int pid;

	if (f == NULL)
		return;
	while (fscanf(f, "%d", &pid) == 1) {
		const struct procstat_proc *p = procstat_snap_find(snap, pid);
		if (p != NULL)
			tree_add(t, p, page);
	}
	fclose(f);
}

int procstat_tree_sum(const struct procstat_snap *snap, pid_t sid, const char *cgroup_procs,
                      struct procstat_tree *out)
{
	long page = sysconf(_SC_PAGESIZE);

	memset(out, 0, sizeof(*out));
	out->fds = -1;
	if (cgroup_procs != NULL && cgroup_procs[0] != '\0') {
		tree_cgroup(snap, cgroup_procs, out, page);
	} else {
		for (size_t i = 0; i < snap->n; i++)
			if (snap->procs[i].session == sid && snap->procs[i].state != 'Z')
				tree_add(out, &snap->procs[i], page);
	}
	return out->procs > 0 ? 0 : -1;
}

double procstat_cpu_pct(uint64_t ticks0, uint64_t ticks1, int64_t dt_ms, long hz)
{
	if (dt_ms <= 0 || hz <= 0 || ticks1 <= ticks0)
		return 0.0;
	return (double)(ticks1 - ticks0) * 1000.0 * 100.0 / ((double)hz * (double)dt_ms);
}

int procstat_parse_cpu(const char *buf, struct procstat_cpu *out)
{
	unsigned long long v[10] = {0};
	int n;

	if (strncmp(buf, "cpu ", 4) != 0)
		return -1;
	/* user nice system idle iowait irq softirq steal guest guest_nice */
	n = sscanf(buf + 4, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
	           &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
	if (n < 4)
		return -1;
	/* guest time is already counted in user and nice */
	out->total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
	out->busy = out->total - v[3] - v[4];
	return 0;
}

int procstat_read_cpu(struct procstat_cpu *out)
{
	char buf[512];

	if (read_small("/proc/stat", buf, sizeof(buf)) < 0)
		return -1;
	return procstat_parse_cpu(buf, out);
}

double procstat_host_pct(const struct procstat_cpu *a, const struct procstat_cpu *b)
{
	if (b->total <= a->total || b->busy < a->busy)
		return 0.0;
	return (double)(b->busy - a->busy) * 100.0 / (double)(b->total - a->total);
}

void procstat_avg_add(struct procstat_avg *a, double v)
{
	a->ring[a->head] = (float)v;
	a->head = (a->head + 1) % PROCSTAT_AVG_N;
	if (a->count < PROCSTAT_AVG_N)
		a->count++;
}

double procstat_avg_mean(const struct procstat_avg *a, size_t window)
{
	double sum = 0;
	size_t n = window < a->count ? window : a->count;

	if (n == 0)
		return 0.0;
	for (size_t i = 1; i <= n; i++)
		sum += a->ring[(a->head + PROCSTAT_AVG_N - i) % PROCSTAT_AVG_N];
	return sum / (double)n;
}

uint64_t procstat_self_rss(void)
{
	char buf[128];
	unsigned long size, res;

	if (read_small("/proc/self/statm", buf, sizeof(buf)) < 0 ||
	    sscanf(buf, "%lu %lu", &size, &res) != 2)
		return 0;
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}
