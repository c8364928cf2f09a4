/* SPDX-License-Identifier: MIT */
/*
 * One way to start a program from the runner (git's run-command shape).
 * The caller fills argv (borrowed) and the fds to hand over (borrowed:
 * dup'ed onto fd 3 and fd 4 in the child, -1 for none); stdin, stdout and
 * stderr are /dev/null, and nothing else is inherited. After fork the
 * child resets every signal disposition and the mask and makes only
 * async-signal-safe calls; an exec failure comes back through a CLOEXEC
 * pipe. The child is reaped by the runner's SIGCHLD loop.
 */
#ifndef HOSTAGENT_SPAWN_H
#define HOSTAGENT_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

struct spawn {
	const char *const *argv;
	int fd3, fd4;
	pid_t pid; /* set by spawn_start */
};

/* 0 once the program has exec'd, or -1 with a reason in err. */
int spawn_start(struct spawn *sp, char *err, size_t errlen);
/*
 * The soft RLIMIT_NOFILE children get back (the runner raises its own to
 * hold a connection per shim; shims and jobs keep the usual one). 0: none.
 */
void spawn_set_child_nofile(unsigned long soft);

#endif
