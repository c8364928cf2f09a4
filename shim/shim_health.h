/* SPDX-License-Identifier: MIT */
/*
 * The job's health check, run by its shim: a command (run like the job:
 * same user, environment, directory and cgroup), a TCP connect or an HTTP
 * GET on 127.0.0.1. One check at a time, never blocking the shim's loop: a
 * command's output and the sockets are read from the loop, and a check
 * still running at its timeout is killed (its whole process group) and
 * counts as a failure. Every outcome goes to report(); the runner counts
 * failures in a row and decides what they mean (docs/api.md, "Health").
 */
#ifndef HOSTAGENT_SHIM_HEALTH_H
#define HOSTAGENT_SHIM_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shim_exec.h"
#include "shim_proto.h"

struct loop;

typedef void shim_health_fn(const struct shim_health *h, void *arg);

struct shim_prober {
	struct loop *loop;
	const struct shim_spec *spec; /* borrowed: spec->check says what to run */
	shim_health_fn *report;
	void *arg;
	uint64_t timer;       /* the next run, or the running check's deadline; 0: none */
	pid_t pid;            /* a command check running, 0 when none */
	int fd;               /* its output pipe, or the TCP/HTTP socket; -1 when none */
	bool running, timed_out, sent, paused;
	int64_t at, t0;       /* when the running check started: epoch ms, monotonic ms */
	char buf[1024];       /* what it said (a command's tail, an HTTP status line) */
	size_t len;
};

/* Arms the first check (after min(interval, 1 s)); nothing when spec has no check. */
void shim_health_start(struct shim_prober *p, struct loop *l, const struct shim_spec *spec,
                       shim_health_fn *report, void *arg);
/* No more checks: the timer is cancelled and a running check killed (its result dropped). */
void shim_health_stop(struct shim_prober *p);
/* A paused job is not checked: a running check is killed (no result), none starts until resumed. */
void shim_health_pause(struct shim_prober *p, bool on);
/*
 * pid has exited and is not reaped yet: when it is the command check, what
 * it left in its process group is killed (its zombie holds the group), it
 * is reaped and its outcome reported, and 1 is returned; else 0.
 */
int shim_health_exited(struct shim_prober *p, pid_t pid);

#endif
