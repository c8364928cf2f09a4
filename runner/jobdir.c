/* SPDX-License-Identifier: MIT */
/*
 * Writing a run's job directory before its shim starts (see jobdir.h):
 * spec.json, the effective launch spec with the environment a job gets and
 * the rlimits that apply, parameters.json and output/, under the
 * directory's lock; and the limits the job's cgroup enforces. It reads the
 * normalized project spec the handlers stored; it starts nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cgroup_fs.h"
#include "log.h"
#include "jobdir.h"
#include "json_get.h"
#include "job_limits.h"
#include "runner.h"
#include "store_ports.h"
#include "store_projects.h"
#include "store_tasks.h"
#include "store_usage.h"
#include "util.h"

static void env_set(struct json_object *env, const char *k, const char *v)
{
	json_object_object_add(env, k, json_object_new_string(v));
}

/* The spec's env, then what every job gets; the agent's names win over the spec's. */
static struct json_object *env_json(struct runner *r, struct json_object *spec,
                                    const struct store_task *t, const struct store_release *rel,
                                    const char *dir)
{
	struct json_object *env = json_object_new_object(),
	                   *src = json_object_object_get(spec, "env");
	struct store_port ports[STORE_PORTS_MAX];
	size_t n;
	char buf[PATH_MAX + 32];

	if (src != NULL && json_object_is_type(src, json_type_object)) {
		json_object_object_foreach(src, k, v) if (json_object_is_type(v, json_type_string))
		    env_set(env, k, json_object_get_string(v));
	}
	env_set(env, "HOSTAGENT_TASK_ID", t->id);
	if (t->project[0] != '\0') { /* an artifact's task has neither */
		env_set(env, "HOSTAGENT_PROJECT", t->project);
		snprintf(buf, sizeof(buf), "%d", rel->seq);
		env_set(env, "HOSTAGENT_RELEASE", buf);
	}
	snprintf(buf, sizeof(buf), "%s/parameters.json", dir);
	env_set(env, "HOSTAGENT_PARAMETERS", buf);
	snprintf(buf, sizeof(buf), "%s/output", dir);
	env_set(env, "HOSTAGENT_OUTPUT_DIR", buf);
	snprintf(buf, sizeof(buf), "%d",
	         t->max_steps > 0 ? t->max_steps : r->cfg.default_max_steps);
	env_set(env, "HOSTAGENT_MAX_STEPS", buf);
	snprintf(buf, sizeof(buf), "%s/config.json", dir);
	env_set(env, "HOSTAGENT_CONFIG_FILE", buf);
	snprintf(buf, sizeof(buf), "%s/result/result.json", dir);
	env_set(env, "HOSTAGENT_RESULT_FILE", buf);
	if (store_ports_of(r->store, t->project, ports, STORE_PORTS_MAX, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			char key[64], val[16];
			size_t k = snprintf(key, sizeof(key), "PORT_%s", ports[i].name);
			for (size_t c = 5; c < k && c < sizeof(key); c++)
				key[c] =
				    (char)((key[c] >= 'a' && key[c] <= 'z') ? key[c] - 32 : key[c]);
			snprintf(val, sizeof(val), "%d", ports[i].port);
			env_set(env, key, val);
		}
	}
	return env;
}

static int stop_signal_of(struct json_object *spec)
{
	struct json_object *v = json_object_object_get(spec, "stop_signal");
	int sig = SIGTERM;

	if (v != NULL && json_object_is_type(v, json_type_string))
		sig = util_signal_parse(json_object_get_string(v));
	else if (v != NULL && json_object_is_type(v, json_type_int))
		sig = json_object_get_int(v);
	return sig > 0 && sig < NSIG ? sig : SIGTERM;
}

static int64_t stop_timeout_ms_of(struct runner *r, struct json_object *spec)
{
	struct json_object *v = json_object_object_get(spec, "stop_timeout");

	if (v == NULL || json_object_is_type(v, json_type_null))
		return (int64_t)r->cfg.stop_timeout_default_s * 1000;
	return (int64_t)(json_object_get_double(v) * 1000.0);
}

static int64_t ms_of(struct json_object *o, const char *key, double dflt_s)
{
	struct json_object *v = json_object_object_get(o, key);

	return (int64_t)((v != NULL && !json_object_is_type(v, json_type_null)
	                      ? json_object_get_double(v)
	                      : dflt_s) *
	                 1000.0);
}

/* The hooks as the shim runs them: argv arrays and one timeout; NULL when none. */
static struct json_object *hooks_json(struct json_object *spec)
{
	struct json_object *h = json_object_object_get(spec, "hooks"), *o;

	if (h == NULL || !json_object_is_type(h, json_type_object))
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "pre_start",
	                       json_object_get(json_object_object_get(h, "pre_start")));
	json_object_object_add(o, "post_stop",
	                       json_object_get(json_object_object_get(h, "post_stop")));
	json_object_object_add(o, "timeout_ms", json_object_new_int64(ms_of(h, "timeout", 60)));
	return o;
}

/* The health check as the shim runs it, its port name resolved through the job's PORT_<NAME>. */
static struct json_object *health_json(struct json_object *spec, struct json_object *env)
{
	struct json_object *h = json_object_object_get(spec, "health"), *o, *cmd;
	const char *port = json_get_str(h, "tcp") ?: json_get_str(h, "port"), *num;
	char key[64];
	size_t k;

	if (h == NULL || !json_object_is_type(h, json_type_object))
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "interval_ms", json_object_new_int64(ms_of(h, "interval", 10)));
	json_object_object_add(o, "timeout_ms", json_object_new_int64(ms_of(h, "timeout", 5)));
	if (json_object_object_get_ex(h, "command", &cmd)) {
		json_object_object_add(o, "command", json_object_get(cmd));
		return o;
	}
	k = (size_t)snprintf(key, sizeof(key), "PORT_%s", port ? port : "");
	for (size_t c = 5; c < k && c < sizeof(key); c++)
		key[c] = (char)((key[c] >= 'a' && key[c] <= 'z') ? key[c] - 32 : key[c]);
	num = json_get_str(env, key);
	json_object_object_add(o, "port", json_object_new_int(num ? atoi(num) : 0));
	if (json_get_str(h, "http") != NULL)
		json_object_object_add(o, "http", json_object_new_string(json_get_str(h, "http")));
	else
		json_object_object_add(o, "tcp", json_object_new_boolean(1));
	return o;
}

/* The effective launch spec; NULL when the project spec has no command. */
static struct json_object *spec_json(struct runner *r, const struct store_task *t,
                                     const struct store_release *rel, const char *dir,
                                     const char *cgroup, struct json_object *spec)
{
	struct json_object *o, *env, *argv = json_object_object_get(spec, "command");
	const char *workdir = json_get_str(spec, "workdir"), *user = json_get_str(spec, "user");
	char cwd[PATH_MAX];

	if (argv == NULL || !json_object_is_type(argv, json_type_array) ||
	    json_object_array_length(argv) == 0)
		return NULL;
	/* the release of a project's run, or the shared tree of an artifact's task */
	if ((t->project[0] != '\0'
	         ? util_fmt(cwd, sizeof(cwd), "%s/releases/%s/%d/%s", r->cfg.data_dir, t->project,
	                    rel->seq, workdir && *workdir ? workdir : ".")
	         : util_fmt(cwd, sizeof(cwd), "%s/trees/%s/%s", r->cfg.data_dir, rel->artifact,
	                    workdir && *workdir ? workdir : ".")) < 0)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "task_id", json_object_new_string(t->id));
	json_object_object_add(o, "argv", json_object_get(argv));
	env = env_json(r, spec, t, rel, dir);
	json_object_object_add(o, "env", env);
	json_object_object_add(o, "hooks", hooks_json(spec));
	json_object_object_add(o, "health", health_json(spec, env));
	json_object_object_add(o, "cwd", json_object_new_string(cwd));
	json_object_object_add(o, "user",
	                       json_object_new_string(user && *user ? user : r->cfg.run_user));
	json_object_object_add(o, "stop_signal", json_object_new_int(stop_signal_of(spec)));
	json_object_object_add(o, "stop_timeout_ms",
	                       json_object_new_int64(stop_timeout_ms_of(r, spec)));
	json_object_object_add(o, "control",
	                       json_object_new_string(json_get_str(spec, "control") ?: "signals"));
	json_object_object_add(o, "cgroup",
	                       cgroup && *cgroup ? json_object_new_string(cgroup) : NULL);
	json_object_object_add(o, "log_max_bytes",
	                       json_object_new_int64((int64_t)r->cfg.log_max_bytes));
	json_object_object_add(o, "log_segment_bytes",
	                       json_object_new_int64((int64_t)r->cfg.log_segment_bytes));
	return o;
}

static int write_text(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];

	if (util_fmt(path, sizeof(path), "%s/%s", dir, name) < 0)
		return -1;
	return util_write_atomic(path, text, strlen(text), 0644, false);
}

/* output/ belongs to the run user so that the job can write its results. */
/* The directories the job writes: output/ (its outputs) and result/ (its result file). */
static int make_output(const char *dir, const char *user)
{
	static const char *const subs[] = {"output", "result"};
	char path[PATH_MAX];
	struct passwd *pw = getpwnam(user);

	for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
		if (util_fmt(path, sizeof(path), "%s/%s", dir, subs[i]) < 0 || mkdir(path, 0755) < 0)
			return -1;
		if (pw != NULL && geteuid() == 0 && chown(path, pw->pw_uid, pw->pw_gid) < 0)
			return -1;
	}
	return 0;
}

int jobdir_path(const struct runner *r, const char *task_id, char *buf, size_t len)
{
	return util_fmt(buf, len, "%s/jobs/%s", r->cfg.data_dir, task_id) < 0 ? -1 : 0;
}

int jobdir_locked(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		rc = errno == EWOULDBLOCK ? 1 : -1;
	close(fd); /* releases the lock if we took it */
	return rc;
}

/* Creates dir if need be and takes its lock: 0 (*fd set), JOBDIR_BUSY, or -1. */
static int lock_dir(const char *dir, int *fd)
{
	if (util_mkdir_p(dir, 0755) < 0)
		return -1;
	*fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0)
		return -1;
	if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	close(*fd);
	*fd = -1;
	return errno == EWOULDBLOCK ? JOBDIR_BUSY : -1;
}

/* A leftover of a spawn that failed before its shim ran: its files go, the locked directory stays.
 */
static int clear_dir(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *d;
	DIR *dp = opendir(dir);
	int rc = 0;

	if (dp == NULL)
		return -1;
	while ((d = readdir(dp)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		if (util_fmt(path, sizeof(path), "%s/%s", dir, d->d_name) < 0 ||
		    util_rm_rf(path) < 0)
			rc = -1;
	}
	closedir(dp);
	return rc;
}

/*
 * Splits the spec's limits between the job's cgroup (written here) and the
 * rlimits spec.json hands the shim (o's "limits"). -2 when a limit would
 * not be acted on on this host; -1 when only this run lacks what it needs
 * (its cgroup could not be made, though job groups have the controller) or
 * the cgroup refused a value. Reason in err.
 */
static int apply_limits(struct runner *r, struct json_object *spec, struct json_object *o,
                        const char *cgroup, char *err, size_t errlen)
{
	struct job_limits want, rl;
	struct cgfs_limits cg;
	bool has_cg = cgroup != NULL && cgroup[0] != '\0';
	const char *user = json_get_str(o, "user"), *file;
	bool root = user != NULL && strcmp(user, "root") == 0;
	char why[256];

	job_limits_from_spec(spec, &want);
	if (job_limits_plan(&want, has_cg ? r->cg_ctrl : 0, root, &cg, &rl, err, errlen) < 0)
		return !has_cg && job_limits_plan(&want, r->cg_ctrl, root, &cg, &rl, why,
		                                  sizeof(why)) == 0
		           ? -1
		           : -2;
	if (has_cg && cgfs_set_limits(cgroup, &cg, &file) < 0) {
		snprintf(err, errlen, "cgroup %s/%s: %s", cgroup, file, strerror(errno));
		return -1;
	}
	json_object_object_add(o, "limits", job_limits_rlimits_json(&rl));
	return 0;
}

int jobdir_prepare(struct runner *r, const struct store_task *t, const struct store_release *rel,
                   const char *cgroup, int *lock_fd, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	/* a queued task's spec is its own (the project's with the task's fields over it) */
	const char *text = strcmp(t->kind, "task") == 0 && t->spec ? t->spec : rel->spec;
	struct json_object *spec = json_tokener_parse(text ? text : ""), *o = NULL;
	int rc = -1;

	*lock_fd = -1;
	if (jobdir_path(r, t->id, dir, sizeof(dir)) < 0 || spec == NULL) {
		snprintf(err, errlen,
		         spec ? "job directory path too long" : "release spec unreadable");
		rc = -2;
		goto done;
	}
	o = spec_json(r, t, rel, dir, cgroup, spec);
	if (o == NULL) {
		snprintf(err, errlen, "the spec has no command (or its path is too long)");
		rc = -2;
		goto done;
	}
	rc = lock_dir(dir, lock_fd);
	if (rc == JOBDIR_BUSY) {
		snprintf(err, errlen, "a shim already runs this task");
		goto done;
	}
	/* after the lock: a live shim's run is adopted whatever its limits say now */
	if (rc == 0 && (rc = apply_limits(r, spec, o, cgroup, err, errlen)) < 0)
		goto done;
	if (rc < 0 || clear_dir(dir) < 0 || make_output(dir, json_get_str(o, "user")) < 0 ||
	    write_text(dir, "parameters.json", t->parameters ? t->parameters : "null") < 0 ||
	    write_text(dir, "spec.json",
	               json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                                     JSON_C_TO_STRING_NOSLASHESCAPE)) < 0) {
		snprintf(err, errlen, "job directory %s: %s", dir, strerror(errno));
		rc = -1;
		goto done;
	}
	rc = 0;
done:
	if (rc != 0 && *lock_fd >= 0) {
		close(*lock_fd);
		*lock_fd = -1;
	}
	json_object_put(o);
	json_object_put(spec);
	return rc;
}
