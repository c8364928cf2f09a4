/* SPDX-License-Identifier: MIT */
/*
 * cgroup v2 file access for job cgroups (see cgroup_fs.h). Waits are short
 * polls: the kernel moves a group to frozen, or lets its dying members go,
 * within milliseconds, and neither comes with an fd to wait on that both
 * callers' loops could use.
 */
#include "cgroup_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define POLL_US 1000

int cgfs_write(const char *dir, const char *file, const char *val)
{
	char path[PATH_MAX];
	size_t len = strlen(val);
	ssize_t n;
	int fd, e;

	if (util_fmt(path, sizeof(path), "%s/%s", dir, file) < 0)
		return -1;
	/* O_TRUNC as a shell's ">" does: cgroupfs ignores it, a plain file (the unit test's) needs
	 * it */
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = write(fd, val, len);
	e = errno;
	close(fd);
	errno = e;
	return n == (ssize_t)len ? 0 : -1;
}

int cgfs_kill(const char *dir)
{
	return cgfs_write(dir, "cgroup.kill", "1");
}

/* The value of "key N" in a flat-keyed file such as cgroup.events; -1 when absent. */
static long long keyed_value(const char *dir, const char *file, const char *key)
{
	char path[PATH_MAX], k[64];
	long long v, found = -1;
	FILE *f;

	if (util_fmt(path, sizeof(path), "%s/%s", dir, file) < 0 || (f = fopen(path, "re")) == NULL)
		return -1;
	while (fscanf(f, "%63s %lld", k, &v) == 2)
		if (strcmp(k, key) == 0)
			found = v;
	fclose(f);
	return found;
}

int cgfs_frozen(const char *dir)
{
	long long v = keyed_value(dir, "cgroup.events", "frozen");

	return v < 0 ? -1 : v > 0;
}

int cgfs_freeze(const char *dir, bool on, int wait_ms)
{
	if (cgfs_write(dir, "cgroup.freeze", on ? "1" : "0") < 0)
		return -1;
	for (int waited = 0;; waited++) {
		if (cgfs_frozen(dir) == (on ? 1 : 0))
			return 0;
		if (waited * POLL_US >= wait_ms * 1000)
			return -1;
		usleep(POLL_US);
	}
}

const char *cgfs_ctrl_name(unsigned bit)
{
	switch (bit) {
	case CGFS_CTRL_MEMORY:
		return "memory";
	case CGFS_CTRL_PIDS:
		return "pids";
	case CGFS_CTRL_CPU:
		return "cpu";
	default:
		return NULL;
	}
}

int cgfs_controllers(const char *dir, const char *file)
{
	char path[PATH_MAX], name[64];
	int mask = 0;
	FILE *f;

	if (util_fmt(path, sizeof(path), "%s/%s", dir, file) < 0 || (f = fopen(path, "re")) == NULL)
		return -1;
	while (fscanf(f, "%63s", name) == 1)
		for (unsigned bit = 1; bit <= CGFS_CTRL_CPU; bit <<= 1)
			if (strcmp(name, cgfs_ctrl_name(bit)) == 0)
				mask |= (int)bit;
	fclose(f);
	return mask;
}

int cgfs_cpu_max(double cores, char *buf, size_t len)
{
	/* rounded to the microsecond; cores is positive (the validator's range) */
	long long quota = (long long)(cores * CGFS_CPU_PERIOD_US + 0.5);

	return util_fmt(buf, len, "%lld %d", quota, CGFS_CPU_PERIOD_US) < 0 ? -1 : 0;
}

/* One limit file; *failed names it when the write fails. */
static int set_one(const char *dir, const char *file, const char *val, const char **failed)
{
	if (cgfs_write(dir, file, val) == 0)
		return 0;
	*failed = file;
	return -1;
}

int cgfs_set_limits(const char *dir, const struct cgfs_limits *l, const char **failed)
{
	char v[64], swap[PATH_MAX];

	*failed = NULL;
	if (l->memory > 0) {
		snprintf(v, sizeof(v), "%" PRIu64, l->memory);
		if (set_one(dir, "memory.max", v, failed) < 0)
			return -1;
		/* absent when the kernel has no swap accounting: nothing to limit then */
		if (util_fmt(swap, sizeof(swap), "%s/memory.swap.max", dir) >= 0 &&
		    access(swap, F_OK) == 0 && set_one(dir, "memory.swap.max", "0", failed) < 0)
			return -1;
	}
	if (l->pids > 0) {
		snprintf(v, sizeof(v), "%" PRIu64, l->pids);
		if (set_one(dir, "pids.max", v, failed) < 0)
			return -1;
	}
	if (l->cpu > 0) {
		if (cgfs_cpu_max(l->cpu, v, sizeof(v)) < 0) {
			errno = ERANGE;
			*failed = "cpu.max";
			return -1;
		}
		if (set_one(dir, "cpu.max", v, failed) < 0)
			return -1;
	}
	return 0;
}

bool cgfs_oom_killed(const char *dir)
{
	return keyed_value(dir, "memory.events", "oom_kill") > 0;
}

int64_t cgfs_oom_kills(const char *dir)
{
	int64_t n = keyed_value(dir, "memory.events", "oom_kill");

	return n > 0 ? n : 0;
}

/* rmdir with retries while the deadline allows. */
static int rmdir_wait(const char *dir, int64_t deadline)
{
	for (;;) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY || util_mono_ms() >= deadline)
			return -1;
		usleep(POLL_US);
	}
}

static int remove_below(const char *dir, int64_t deadline, int depth)
{
	char sub[PATH_MAX];
	struct dirent *d;
	DIR *dp;
	int rc = 0;

	if (depth > 64) {
		errno = ELOOP;
		return -1;
	}
	dp = opendir(dir);
	if (dp == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((d = readdir(dp)) != NULL) {
		struct stat st;
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0 ||
		    util_fmt(sub, sizeof(sub), "%s/%s", dir, d->d_name) < 0 ||
		    lstat(sub, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (remove_below(sub, deadline, depth + 1) < 0 || rmdir_wait(sub, deadline) < 0)
			rc = -1;
	}
	closedir(dp);
	return rc;
}

int cgfs_remove_tree(const char *dir, int wait_ms)
{
	int64_t deadline = util_mono_ms() + wait_ms;

	if (remove_below(dir, deadline, 0) < 0)
		return -1;
	return rmdir_wait(dir, deadline);
}
