/* SPDX-License-Identifier: MIT */
/*
 * The shim's reading of spec.json and the start of the job: everything the
 * child needs (argv, environment, exec candidates, user and groups, limits,
 * the cgroup.procs fd) is prepared before fork, so that after fork the
 * child makes only async-signal-safe calls. An exec failure comes back
 * through a CLOEXEC pipe; success is known when that pipe reads EOF.
 */
#ifndef HOSTAGENT_SHIM_EXEC_H
#define HOSTAGENT_SHIM_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * The rlimits to set, under spec.json's names (docs/architecture.md, "The
 * job directory"): memory is RLIMIT_AS, open_files RLIMIT_NOFILE,
 * processes RLIMIT_NPROC, cpu_seconds RLIMIT_CPU, file_size RLIMIT_FSIZE.
 * The runner lists only those that apply (a limit its cgroup enforces is
 * not there), so every one given is set. 0: not set.
 */
struct shim_limits {
	uint64_t memory, open_files, processes, cpu_seconds, file_size;
};

/* spec.json's hooks: argv arrays (NULL: none), run like the job, one at a time. */
struct shim_hooks {
	char **pre_start, **post_stop;
	int64_t timeout_ms;
};

enum shim_check_kind {
	SHIM_CHECK_NONE,
	SHIM_CHECK_COMMAND,
	SHIM_CHECK_TCP,
	SHIM_CHECK_HTTP,
	SHIM_CHECK_BROKEN /* spec.json has a check the shim cannot run (no port): each run fails */
};

/* spec.json's health check (the runner resolved the port name to its number). */
struct shim_check {
	enum shim_check_kind kind;
	char **argv; /* COMMAND */
	int port;    /* TCP, HTTP: on 127.0.0.1 */
	char *path;  /* HTTP */
	int64_t interval_ms, timeout_ms;
};

/* spec.json as the shim needs it; every pointer is owned by the struct. */
struct shim_spec {
	char **argv; /* NULL-terminated */
	char **env;  /* "K=V", NULL-terminated, PATH always present */
	char *cwd;
	char *user;
	char *cgroup; /* absolute cgroup directory, or NULL */
	struct shim_limits limits;
	int stop_signal;
	int64_t stop_timeout_ms;
	uint64_t log_max_bytes, log_segment_bytes;
	struct shim_hooks hooks;
	struct shim_check check;
	/*
	 * Set once cgroup.kill was written: a child cloned into the cgroup
	 * after that is killed at birth (measured on this kernel), so from
	 * then on children join it by writing cgroup.procs instead.
	 */
	bool cgroup_killed;
};

/* Parses spec.json text. 0, or -1 with a reason in err (struct cleared). */
int shim_spec_parse(const char *text, struct shim_spec *out, char *err, size_t errlen);
void shim_spec_clear(struct shim_spec *s);

/*
 * Forks and execs the job in its own session, in the cgroup, with the
 * limits and the user of spec, stdout/stderr on out_w/err_w (borrowed; the
 * caller closes them after the call). Returns 0 once exec has succeeded
 * (*pid set), or -1 with a reason in err (*pid set when a child was
 * forked and has already exited: the caller reaps it; else 0).
 */
int shim_exec_start(const struct shim_spec *spec, int out_w, int err_w, pid_t *pid, char *err,
                    size_t errlen);
/*
 * The same for another program run like the job (a hook, a health check):
 * argv instead of the spec's, same user, environment, directory, cgroup
 * and limits, in a process group of its own.
 */
int shim_exec_argv(const struct shim_spec *spec, char *const *argv, int out_w, int err_w,
                   pid_t *pid, char *err, size_t errlen);

#endif
