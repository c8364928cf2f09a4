/* SPDX-License-Identifier: MIT */
/*
 * Configuration both daemons read: built-in defaults, then a "key = value"
 * file, then environment overrides (HOSTAGENT_<KEY> and the Task Executor's
 * DATABASE_URL, NUM_INTERNAL_WORKERS, ...). Parsing is pure and unit-tested;
 * nothing here opens sockets or the database.
 */
#ifndef HOSTAGENT_CONFIG_H
#define HOSTAGENT_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_USERS 16

struct config {
	char path[PATH_MAX];          /* the file read, "" when none */
	char data_dir[PATH_MAX];      /* everything the agent keeps */
	char database[PATH_MAX];      /* SQLite file */
	char fcgi_socket[PATH_MAX];   /* unix socket nginx connects to */
	char fcgi_socket_group[64];   /* group owning it ("" = primary group) */
	char runner_socket[PATH_MAX]; /* wake-up datagram socket of the runner */
	int fcgi_workers;             /* pre-forked handler processes */
	char log_level[16];
	/* Task Executor compatibility (docs/operations.md, Configuration) */
	int num_internal_workers;
	bool auto_start_workers;
	int default_timeout_minutes;
	int default_max_steps;
	/* jobs */
	char run_user[64]; /* default user jobs run as */
	char allowed_users[CONFIG_MAX_USERS][64];
	size_t n_allowed_users;
	int port_min, port_max;     /* range for allocated ports */
	uint64_t log_max_bytes;     /* per job and stream, all segments */
	uint64_t log_segment_bytes; /* rotation size */
	char cgroup[16];            /* "auto", "off" */
	char cgroup_root[PATH_MAX]; /* "" = detect under our own cgroup */
	int keep_releases;          /* releases kept per project */
	int restart_backoff_ms;     /* first restart delay, doubled each time */
	int restart_backoff_max_ms; /* cap of that delay */
	int crashloop_after;        /* consecutive fast failures → crashloop */
	int fast_failure_ms;        /* a run shorter than this is a fast failure */
	int stop_timeout_default_s; /* stop_signal → SIGKILL when the spec says nothing */
	/* limits */
	uint64_t upload_max_bytes;
	bool upload_follow; /* inspect uploads while nginx writes them (fcgi/inspector.c) */
	uint64_t json_max_bytes;
	uint64_t extract_max_entries;
	uint64_t extract_max_bytes;
	uint64_t extract_max_ratio;
	/* runner timing */
	int runner_poll_ms;       /* fallback poll when no wake-up arrives */
	int heartbeat_ms;         /* liveness write interval */
	int runner_dead_after_ms; /* handlers call the runner dead after this */
	/* readiness watermarks */
	uint64_t min_free_disk;
	uint64_t min_free_memory;
	bool metrics_auth; /* /metrics needs a read token */
};

/* Fills every field with its built-in default, data paths under data_dir. */
void config_defaults(struct config *c, const char *data_dir);
/*
 * Applies one "key = value" line (comments and blank lines are accepted and
 * ignored). 0, or -1 with a reason in err (unknown key, bad value).
 */
int config_apply_line(struct config *c, const char *line, char *err, size_t errlen);
/* Applies key=value; the same validation as a file line. */
int config_set(struct config *c, const char *key, const char *value, char *err, size_t errlen);
/*
 * The whole load: defaults, the file (path, or $HOSTAGENT_CONFIG, or the
 * installed default when it exists; a path given explicitly must exist),
 * then the environment. 0 or -1 with the reason (file:line: ...) in err.
 */
int config_load(struct config *c, const char *path, char *err, size_t errlen);
/* Creates data_dir and its subdirectories with the right modes. 0 or -1. */
int config_make_dirs(const struct config *c);
/* "<data_dir>/<sub>" into buf; -1 if it does not fit. */
int config_path(const struct config *c, const char *sub, char *buf, size_t len);

#endif
