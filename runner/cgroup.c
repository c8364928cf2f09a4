/* SPDX-License-Identifier: MIT */
/*
 * Kill-mode detection and job cgroups. cgroup v2 is used when this process
 * can create and remove a child group that has cgroup.kill (kernel 5.14+):
 * only a cgroup catches a job's child that called setsid. Otherwise jobs are
 * reached through their process group (docs/architecture.md, "Kill mode").
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "cgroup_fs.h"
#include "log.h"
#include "runner.h"
#include "util.h"

/* The cgroup2 mount point from /proc/self/mountinfo (field 5, fs type after " - "). */
static int cgroup2_mount(char *out, size_t len)
{
	char line[4096], mnt[PATH_MAX];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int rc = -1;

	if (f == NULL)
		return -1;
	while (rc < 0 && fgets(line, sizeof(line), f) != NULL) {
		const char *dash = strstr(line, " - ");
		if (dash == NULL || strncmp(dash + 3, "cgroup2 ", 8) != 0)
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1 &&
		    util_fmt(out, len, "%s", mnt) >= 0)
			rc = 0;
	}
	fclose(f);
	return rc;
}

/* Our own v2 path: the "0::" line of /proc/self/cgroup. */
static int own_path(char *out, size_t len)
{
	char line[4096];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int rc = -1;

	if (f == NULL)
		return -1;
	while (rc < 0 && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		rc = util_fmt(out, len, "%s", strcmp(line + 3, "/") == 0 ? "" : line + 3) < 0 ? -1
		                                                                              : 0;
	}
	fclose(f);
	return rc;
}

/* The root must have cgroup.kill, and a child group must come and go. */
static int probe(const char *root, char *why, size_t len)
{
	char p[PATH_MAX];

	if (util_mkdir_p(root, 0755) < 0) {
		snprintf(why, len, "cannot create %s: %s", root, strerror(errno));
		return -1;
	}
	util_fmt(p, sizeof(p), "%s/cgroup.kill", root);
	if (access(p, W_OK) < 0) {
		snprintf(why, len, "%s: %s (kernel older than 5.14?)", p, strerror(errno));
		return -1;
	}
	util_fmt(p, sizeof(p), "%s/probe-%d", root, (int)getpid());
	if (mkdir(p, 0755) < 0 || rmdir(p) < 0) {
		snprintf(why, len, "cannot create a child group in %s: %s", root, strerror(errno));
		rmdir(p);
		return -1;
	}
	/* a memory controller lets jobs get memory.max and OOM reports; optional */
	util_fmt(p, sizeof(p), "%s/cgroup.subtree_control", root);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "+memory", 7) < 0)
			log_debug("no memory controller for jobs: %s", strerror(errno));
		close(fd);
	}
	return 0;
}

void cgroup_detect(struct runner *r)
{
	char mnt[PATH_MAX], own[PATH_MAX], root[PATH_MAX],
	    why[PATH_MAX + 128] = "disabled by configuration";

	snprintf(r->kill_mode, sizeof(r->kill_mode), "process-group");
	r->cgroup_root[0] = '\0';
	if (strcmp(r->cfg.cgroup, "off") == 0)
		goto fallback;
	if (r->cfg.cgroup_root[0] != '\0') {
		snprintf(root, sizeof(root), "%s", r->cfg.cgroup_root);
	} else if (cgroup2_mount(mnt, sizeof(mnt)) < 0 || own_path(own, sizeof(own)) < 0) {
		snprintf(why, sizeof(why), "no cgroup2 mount or no v2 path in /proc/self/cgroup");
		goto fallback;
	} else if (util_fmt(root, sizeof(root), "%s%s/hostagent", mnt, own) < 0) {
		snprintf(why, sizeof(why), "cgroup path too long");
		goto fallback;
	}
	if (probe(root, why, sizeof(why)) < 0)
		goto fallback;
	snprintf(r->kill_mode, sizeof(r->kill_mode), "cgroup");
	snprintf(r->cgroup_root, sizeof(r->cgroup_root), "%s", root);
	log_info("kill mode: cgroup v2 under %s", root);
	return;
fallback:
	log_info("kill mode: process group (%s)", why);
}

int cgroup_job_create(const struct runner *r, const char *task_id, char *out, size_t len)
{
	if (r->cgroup_root[0] == '\0')
		return -1;
	if (util_fmt(out, len, "%s/job-%s", r->cgroup_root, task_id) < 0)
		return -1;
	if (mkdir(out, 0755) < 0 && errno != EEXIST) {
		log_warn("cgroup %s: %s; the job runs in its process group only", out,
		         strerror(errno));
		out[0] = '\0';
		return -1;
	}
	return 0;
}

void cgroup_job_destroy(const char *path)
{
	if (path == NULL || path[0] == '\0')
		return;
	if (cgfs_kill(path) < 0 && errno != ENOENT)
		log_warn("%s/cgroup.kill: %s", path, strerror(errno));
	if (cgfs_remove_tree(path, 1000) < 0)
		log_warn("cgroup %s: cannot remove: %s", path, strerror(errno));
}

int cgroup_sweep(struct runner *r, bool (*in_use)(void *arg, const char *path), void *arg)
{
	char path[PATH_MAX];
	struct dirent *d;
	DIR *dp;
	int n = 0;

	if (r->cgroup_root[0] == '\0' || (dp = opendir(r->cgroup_root)) == NULL)
		return 0;
	while ((d = readdir(dp)) != NULL) {
		if (strncmp(d->d_name, "job-", 4) != 0 ||
		    util_fmt(path, sizeof(path), "%s/%s", r->cgroup_root, d->d_name) < 0 ||
		    in_use(arg, path))
			continue;
		/* a shim SIGKILLed with its runner, or a job's own subgroups: nobody removes it */
		cgroup_job_destroy(path);
		n++;
	}
	closedir(dp);
	if (n > 0)
		log_info("removed %d stale job cgroup(s) under %s", n, r->cgroup_root);
	return n;
}
