/* SPDX-License-Identifier: MIT */
/*
 * spec.json and the fork/exec of the job (see shim_exec.h). The child's
 * steps are numbered so that a failure report names the one that failed.
 */
#include "shim_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/sched.h>
#include <sys/syscall.h>

#include <json-c/json.h>

#include "json_get.h"
#include "util.h"

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
#define MAX_GROUPS   256

static char **str_array_new(size_t n)
{
	return calloc(n + 1, sizeof(char *));
}

static void str_array_free(char **a)
{
	for (size_t i = 0; a != NULL && a[i] != NULL; i++)
		free(a[i]);
	free(a);
}

void shim_spec_clear(struct shim_spec *s)
{
	str_array_free(s->argv);
	str_array_free(s->env);
	free(s->cwd);
	free(s->user);
	free(s->cgroup);
	str_array_free(s->hooks.pre_start);
	str_array_free(s->hooks.post_stop);
	str_array_free(s->check.argv);
	free(s->check.path);
	memset(s, 0, sizeof(*s));
}

static int parse_env(struct json_object *env, struct shim_spec *out)
{
	size_t n = env ? (size_t)json_object_object_length(env) : 0, i = 0;
	bool has_path = false;

	out->env = str_array_new(n + 1);
	if (out->env == NULL)
		return -1;
	if (env != NULL) {
		json_object_object_foreach(env, k, v)
		{
			if (asprintf(&out->env[i], "%s=%s", k, json_object_get_string(v)) < 0) {
				out->env[i] = NULL;
				return -1;
			}
			i++;
			has_path |= strcmp(k, "PATH") == 0;
		}
	}
	if (!has_path && (out->env[i] = strdup("PATH=" DEFAULT_PATH)) == NULL)
		return -1;
	return 0;
}

static void parse_limits(struct json_object *o, struct shim_limits *l)
{
	struct json_object *lim;

	if (!json_object_object_get_ex(o, "limits", &lim) ||
	    !json_object_is_type(lim, json_type_object))
		return;
	l->memory = (uint64_t)json_get_int(lim, "memory", 0);
	l->open_files = (uint64_t)json_get_int(lim, "open_files", 0);
	l->processes = (uint64_t)json_get_int(lim, "processes", 0);
	l->cpu_seconds = (uint64_t)json_get_int(lim, "cpu_seconds", 0);
	l->file_size = (uint64_t)json_get_int(lim, "file_size", 0);
}

/* A non-empty array of strings as a NULL-terminated copy; NULL for anything else. */
static char **argv_dup(struct json_object *a)
{
	size_t n;
	char **v;

	if (!json_object_is_type(a, json_type_array) || (n = json_object_array_length(a)) == 0)
		return NULL;
	v = str_array_new(n);
	for (size_t i = 0; v != NULL && i < n; i++)
		if ((v[i] = strdup(json_object_get_string(json_object_array_get_idx(a, i)))) == NULL)
			return str_array_free(v), NULL;
	return v;
}

static void parse_hooks(struct json_object *o, struct shim_hooks *h)
{
	struct json_object *hk, *v;

	if (!json_object_object_get_ex(o, "hooks", &hk) || !json_object_is_type(hk, json_type_object))
		return;
	if (json_object_object_get_ex(hk, "pre_start", &v))
		h->pre_start = argv_dup(v);
	if (json_object_object_get_ex(hk, "post_stop", &v))
		h->post_stop = argv_dup(v);
	h->timeout_ms = json_get_int(hk, "timeout_ms", 60000);
}

static void parse_check(struct json_object *o, struct shim_check *c)
{
	struct json_object *hc, *v;
	const char *path;

	if (!json_object_object_get_ex(o, "health", &hc) || !json_object_is_type(hc, json_type_object))
		return;
	c->interval_ms = json_get_int(hc, "interval_ms", 10000);
	c->timeout_ms = json_get_int(hc, "timeout_ms", 5000);
	c->port = (int)json_get_int(hc, "port", 0);
	path = json_get_str(hc, "http");
	if (json_object_object_get_ex(hc, "command", &v) && (c->argv = argv_dup(v)) != NULL)
		c->kind = SHIM_CHECK_COMMAND;
	else if (path != NULL && c->port > 0 && (c->path = strdup(path)) != NULL)
		c->kind = SHIM_CHECK_HTTP;
	else if (json_get_bool(hc, "tcp", false) && c->port > 0)
		c->kind = SHIM_CHECK_TCP;
	else
		c->kind = SHIM_CHECK_BROKEN; /* reported as failing, never silently not run */
}

int shim_spec_parse(const char *text, struct shim_spec *out, char *err, size_t errlen)
{
	struct json_object *o = json_tokener_parse(text), *argv, *env = NULL;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (o == NULL || !json_object_object_get_ex(o, "argv", &argv) ||
	    !json_object_is_type(argv, json_type_array) ||
	    (n = json_object_array_length(argv)) == 0 || json_get_str(o, "cwd") == NULL) {
		snprintf(err, errlen, "spec.json: argv (non-empty) and cwd are required");
		goto fail;
	}
	out->argv = str_array_new(n);
	for (size_t i = 0; out->argv != NULL && i < n; i++)
		out->argv[i] = strdup(json_object_get_string(json_object_array_get_idx(argv, i)));
	json_object_object_get_ex(o, "env", &env);
	if (out->argv == NULL ||
	    parse_env(json_object_is_type(env, json_type_object) ? env : NULL, out) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	out->cwd = strdup(json_get_str(o, "cwd"));
	out->user = json_get_str(o, "user") ? strdup(json_get_str(o, "user")) : NULL;
	out->cgroup = json_get_str(o, "cgroup") ? strdup(json_get_str(o, "cgroup")) : NULL;
	parse_limits(o, &out->limits);
	parse_hooks(o, &out->hooks);
	parse_check(o, &out->check);
	out->stop_signal = (int)json_get_int(o, "stop_signal", SIGTERM);
	out->stop_timeout_ms = json_get_int(o, "stop_timeout_ms", 10000);
	out->log_max_bytes = (uint64_t)json_get_int(o, "log_max_bytes", 64LL << 20);
	out->log_segment_bytes = (uint64_t)json_get_int(o, "log_segment_bytes", 8LL << 20);
	json_object_put(o);
	return 0;
fail:
	json_object_put(o);
	shim_spec_clear(out);
	return -1;
}

/* What the child needs, prepared before fork. */
struct plan {
	char **cands; /* exec candidates, NULL-terminated */
	bool change_user;
	uid_t uid;
	gid_t gid;
	gid_t groups[MAX_GROUPS];
	int ngroups;
	struct {
		int res;
		rlim_t v;
	} rl[5];
	int nrl;
	int cg_fd;     /* cgroup.procs, for a child that must join by writing it */
	int cg_dir_fd; /* the cgroup itself, for clone3(CLONE_INTO_CGROUP) */
	bool joined;   /* the child was born in the cgroup: nothing to write */
	bool no_clone_into; /* the cgroup was killed once: join by writing (see shim_spec) */
};

enum step {
	ST_SETSID = 1,
	ST_CGROUP,
	ST_FDS,
	ST_RLIMIT,
	ST_GROUPS,
	ST_GID,
	ST_UID,
	ST_CHDIR,
	ST_EXEC
};
static const char *const step_names[] = {"",         "setsid",    "joining the cgroup",
                                         "fd setup", "setrlimit", "setgroups",
                                         "setgid",   "setuid",    "chdir",
                                         "exec"};

static const char *env_path(char **env)
{
	for (size_t i = 0; env[i] != NULL; i++)
		if (strncmp(env[i], "PATH=", 5) == 0)
			return env[i] + 5;
	return DEFAULT_PATH;
}

/* execvpe searches the shim's PATH, not the job's: build the list ourselves. */
static char **exec_candidates(const char *file, const char *path)
{
	char **c;
	size_t n = 1, i = 0;
	const char *p = path, *colon;

	if (strchr(file, '/') != NULL) {
		c = str_array_new(1);
		if (c != NULL && (c[0] = strdup(file)) == NULL)
			c = (free(c), NULL);
		return c;
	}
	for (const char *q = path; *q; q++)
		n += *q == ':';
	c = str_array_new(n);
	for (; c != NULL && i < n; p = colon + 1) {
		colon = strchr(p, ':');
		if (colon == NULL)
			colon = p + strlen(p);
		if (asprintf(&c[i], "%.*s/%s", (int)(colon - p), colon == p ? "." : p, file) < 0)
			break;
		if (colon == p)
			c[i][1] = '/'; /* an empty PATH element is the current directory */
		i++;
		if (*colon == '\0')
			break;
	}
	return c;
}

static int plan_user(const struct shim_spec *spec, struct plan *pl, char *err, size_t errlen)
{
	char buf[4096];
	struct passwd pw, *res = NULL;
	const char *user = spec->user;

	if (user == NULL || *user == '\0')
		return 0; /* the runner always names one; a hand-made spec runs as the shim */
	if (getpwnam_r(user, &pw, buf, sizeof(buf), &res) != 0 || res == NULL) {
		snprintf(err, errlen, "unknown user '%s'", user);
		return -1;
	}
	if (pw.pw_uid == 0 && strcmp(user, "root") != 0) {
		snprintf(err, errlen, "user '%s' has uid 0: refused (name \"root\" explicitly)",
		         user);
		return -1;
	}
	if (geteuid() != 0) {
		if (pw.pw_uid != geteuid()) {
			snprintf(err, errlen, "cannot run as '%s': the agent is not root", user);
			return -1;
		}
		return 0;
	}
	pl->change_user = true;
	pl->uid = pw.pw_uid;
	pl->gid = pw.pw_gid;
	pl->ngroups = MAX_GROUPS;
	if (getgrouplist(user, pw.pw_gid, pl->groups, &pl->ngroups) < 0)
		pl->ngroups = 1, pl->groups[0] = pw.pw_gid;
	return 0;
}

static void plan_limits(const struct shim_limits *l, struct plan *pl)
{
	const struct {
		int res;
		uint64_t v;
	} want[] = {{RLIMIT_AS, l->memory},
	            {RLIMIT_NOFILE, l->open_files},
	            {RLIMIT_NPROC, l->processes},
	            {RLIMIT_CPU, l->cpu_seconds},
	            {RLIMIT_FSIZE, l->file_size}};

	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		if (want[i].v == 0)
			continue;
		pl->rl[pl->nrl].res = want[i].res;
		pl->rl[pl->nrl].v = (rlim_t)want[i].v;
		pl->nrl++;
	}
}

static int plan_make(const struct shim_spec *spec, char *const *argv, struct plan *pl, char *err,
                     size_t errlen)
{
	char path[4200];

	memset(pl, 0, sizeof(*pl));
	pl->cg_fd = pl->cg_dir_fd = -1;
	pl->no_clone_into = spec->cgroup_killed;
	if (plan_user(spec, pl, err, errlen) < 0)
		return -1;
	plan_limits(&spec->limits, pl);
	pl->cands = exec_candidates(argv[0], env_path(spec->env));
	if (pl->cands == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (spec->cgroup != NULL) {
		snprintf(path, sizeof(path), "%s/cgroup.procs", spec->cgroup);
		pl->cg_fd = open(path, O_WRONLY | O_CLOEXEC);
		pl->cg_dir_fd = open(spec->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pl->cg_fd < 0 || pl->cg_dir_fd < 0) {
			snprintf(err, errlen, "cgroup %s: %s", spec->cgroup, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* The child after fork: async-signal-safe calls only, then exec or report. */
static void child(const struct shim_spec *spec, char *const *argv, const struct plan *pl,
                  int out_w, int err_w, int report)
{
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigset_t none;
	int e[2] = {0, 0}, nul;

	/* a handler or a blocked signal inherited here would swallow an early stop */
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() < 0 && (e[0] = ST_SETSID))
		goto fail;
	if (pl->cg_fd >= 0 && !pl->joined && write(pl->cg_fd, "0", 1) != 1 && (e[0] = ST_CGROUP))
		goto fail;
	nul = open("/dev/null", O_RDONLY);
	if ((nul < 0 || dup2(nul, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0) &&
	    (e[0] = ST_FDS))
		goto fail;
	/* nothing of the shim's but 0-2 reaches the job; the report pipe closes at exec */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	for (int i = 0; i < pl->nrl; i++) {
		struct rlimit r = {pl->rl[i].v, pl->rl[i].v};
		/* CPU: SIGXCPU at the limit (a job may catch it and leave), SIGKILL a second later */
		if (pl->rl[i].res == RLIMIT_CPU)
			r.rlim_max = r.rlim_cur + 1;
		if (setrlimit(pl->rl[i].res, &r) < 0 && (e[0] = ST_RLIMIT))
			goto fail;
	}
	if (pl->change_user) {
		if (setgroups((size_t)pl->ngroups, pl->groups) < 0 && (e[0] = ST_GROUPS))
			goto fail;
		if (setgid(pl->gid) < 0 && (e[0] = ST_GID))
			goto fail;
		if (setuid(pl->uid) < 0 && (e[0] = ST_UID))
			goto fail;
	}
	if (chdir(spec->cwd) < 0 && (e[0] = ST_CHDIR))
		goto fail;
	e[0] = ST_EXEC;
	e[1] = ENOENT;
	for (size_t i = 0; pl->cands[i] != NULL; i++) {
		execve(pl->cands[i], argv, spec->env);
		if (errno != ENOENT && errno != ENOTDIR)
			e[1] = errno; /* like execvp: EACCES beats ENOENT */
	}
	goto report;
fail:
	e[1] = errno;
report:
	if (write(report, e, sizeof(e)) < 0)
		_exit(126);
	_exit(127);
}

static int wait_report(int rfd, pid_t pid, char *err, size_t errlen)
{
	int e[2];
	ssize_t n;

	do
		n = read(rfd, e, sizeof(e));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0; /* EOF: the CLOEXEC end closed at a successful exec */
	if (n != (ssize_t)sizeof(e) || e[0] < 1 || e[0] > ST_EXEC)
		snprintf(err, errlen, "the job's child failed before exec");
	else
		snprintf(err, errlen, "%s failed: %s", step_names[e[0]], strerror(e[1]));
	waitpid(pid, NULL, 0);
	return -1;
}

/*
 * fork(), born inside the cgroup when there is one: clone3 with
 * CLONE_INTO_CGROUP (Linux 5.7) puts the child there at birth, where a
 * write of cgroup.procs after fork would migrate it, which waits for an RCU
 * grace period (measured: 10-12 ms a process, most of a task's start).
 * Without clone3, or where it refuses, the child joins by writing
 * cgroup.procs as before. The child returns 0 as from fork (no new stack).
 */
static pid_t fork_into(struct plan *pl)
{
	if (pl->cg_dir_fd >= 0 && !pl->no_clone_into) {
		struct clone_args a = {.flags = CLONE_INTO_CGROUP,
		                       .exit_signal = SIGCHLD,
		                       .cgroup = (uint64_t)pl->cg_dir_fd};
		long pid = syscall(SYS_clone3, &a, sizeof(a));
		if (pid >= 0) {
			pl->joined = true; /* in the child as in the parent */
			return (pid_t)pid;
		}
	}
	pl->joined = false;
	return fork();
}

int shim_exec_start(const struct shim_spec *spec, int out_w, int err_w, pid_t *pid, char *err,
                    size_t errlen)
{
	return shim_exec_argv(spec, spec->argv, out_w, err_w, pid, err, errlen);
}

int shim_exec_argv(const struct shim_spec *spec, char *const *argv, int out_w, int err_w,
                   pid_t *pid, char *err, size_t errlen)
{
	struct plan pl;
	int rp[2] = {-1, -1}, rc = -1;

	*pid = 0;
	if (plan_make(spec, argv, &pl, err, errlen) < 0)
		goto done;
	if (pipe2(rp, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto done;
	}
	*pid = fork_into(&pl);
	if (*pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		*pid = 0;
		goto done;
	}
	if (*pid == 0)
		child(spec, argv, &pl, out_w, err_w, rp[1]);
	close(rp[1]);
	rp[1] = -1;
	rc = wait_report(rp[0], *pid, err, errlen);
done:
	if (rp[0] >= 0)
		close(rp[0]);
	if (rp[1] >= 0)
		close(rp[1]);
	if (pl.cg_fd >= 0)
		close(pl.cg_fd);
	if (pl.cg_dir_fd >= 0)
		close(pl.cg_dir_fd);
	str_array_free(pl.cands);
	return rc;
}
