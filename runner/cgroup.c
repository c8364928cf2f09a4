/* SPDX-License-Identifier: MIT */
/*
 * Kill-mode detection and job cgroups. cgroup v2 is used when this process
 * can create and remove a child group that has cgroup.kill (kernel 5.14+):
 * only a cgroup catches a job's child that called setsid. Otherwise jobs are
 * reached through their process group (docs/architecture.md, "Kill mode").
 * In cgroup mode it also finds which of the memory, pids and cpu
 * controllers job groups get, for their limits (runner/job_limits.c).
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
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

/* The root must exist (or be made) and have cgroup.kill. */
static int probe_root(const char *root, char *why, size_t len)
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
	return 0;
}

/*
 * The controllers job groups get: each of memory, pids and cpu that the
 * root's cgroup.controllers offers is enabled in its subtree_control with
 * a write of its own (one refusal must not cost the others), and what
 * subtree_control then lists is what jobs get. What cgroup.controllers
 * offers is the parent's decision (docs/operations.md, "Limits").
 */
static unsigned enable_controllers(const char *root)
{
	int avail = cgfs_controllers(root, "cgroup.controllers"), on;
	char plus[16];

	if (avail < 0) {
		log_info("job limits: %s/cgroup.controllers: %s", root, strerror(errno));
		return 0;
	}
	for (unsigned bit = 1; bit <= CGFS_CTRL_CPU; bit <<= 1) {
		const char *name = cgfs_ctrl_name(bit);
		if (!(avail & (int)bit)) {
			log_info("job limits: no %s controller (%s/cgroup.controllers lacks it)",
			         name, root);
			continue;
		}
		snprintf(plus, sizeof(plus), "+%s", name);
		if (cgfs_write(root, "cgroup.subtree_control", plus) < 0)
			log_info(
			    "job limits: no %s controller (%s in %s/cgroup.subtree_control: %s)",
			    name, plus, root, strerror(errno));
	}
	on = cgfs_controllers(root, "cgroup.subtree_control");
	return on < 0 ? 0 : (unsigned)on & CGFS_CTRL_ALL;
}

/* True when <dir>/<file> exists. */
static bool has_file(const char *dir, const char *file)
{
	char p[PATH_MAX];

	return util_fmt(p, sizeof(p), "%s/%s", dir, file) >= 0 && access(p, F_OK) == 0;
}

/*
 * A child group must come and go. It also shows which limit files a job's
 * group will have: a controller whose file is missing is dropped from ctrl.
 */
static int probe_child(const char *root, unsigned *ctrl, bool *swap, char *why, size_t len)
{
	static const struct {
		unsigned bit;
		const char *file;
	} files[] = {{CGFS_CTRL_MEMORY, "memory.max"},
	             {CGFS_CTRL_PIDS, "pids.max"},
	             {CGFS_CTRL_CPU, "cpu.max"}};
	char p[PATH_MAX];

	util_fmt(p, sizeof(p), "%s/probe-%d", root, (int)getpid());
	if (mkdir(p, 0755) < 0 && errno != EEXIST) {
		snprintf(why, len, "cannot create a child group in %s: %s", root, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		if ((*ctrl & files[i].bit) && !has_file(p, files[i].file))
			*ctrl &= ~files[i].bit;
	*swap = (*ctrl & CGFS_CTRL_MEMORY) && has_file(p, "memory.swap.max");
	if (rmdir(p) < 0) {
		snprintf(why, len, "cannot remove the child group %s: %s", p, strerror(errno));
		return -1;
	}
	return 0;
}

/* "memory pids cpu" or "none", for the start-up log. */
static const char *ctrl_list(unsigned ctrl, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (unsigned bit = 1; bit <= CGFS_CTRL_CPU; bit <<= 1)
		if ((ctrl & bit) && o < len)
			o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? " " : "",
			                      cgfs_ctrl_name(bit));
	return o ? buf : "none";
}

void cgroup_detect(struct runner *r)
{
	char mnt[PATH_MAX], own[PATH_MAX], root[PATH_MAX], list[32],
	    why[PATH_MAX + 128] = "disabled by configuration";
	unsigned ctrl;

	snprintf(r->kill_mode, sizeof(r->kill_mode), "process-group");
	r->cgroup_root[0] = '\0';
	r->cg_ctrl = 0;
	r->cg_swap = false;
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
	if (probe_root(root, why, sizeof(why)) < 0)
		goto fallback;
	ctrl = enable_controllers(root);
	if (probe_child(root, &ctrl, &r->cg_swap, why, sizeof(why)) < 0)
		goto fallback;
	snprintf(r->kill_mode, sizeof(r->kill_mode), "cgroup");
	snprintf(r->cgroup_root, sizeof(r->cgroup_root), "%s", root);
	r->cg_ctrl = ctrl;
	log_info("kill mode: cgroup v2 under %s; controllers for job limits: %s", root,
	         ctrl_list(ctrl, list, sizeof(list)));
	return;
fallback:
	r->cg_swap = false;
	log_info("kill mode: process group (%s); job limits are rlimits only", why);
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
