/* SPDX-License-Identifier: MIT */
/*
 * An unordered, growable set of child pids: the pool's retiring workers
 * (older generations finishing their requests). Pure bookkeeping: it never
 * signals or reaps anything itself.
 */
#ifndef HOSTAGENT_PIDSET_H
#define HOSTAGENT_PIDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct pidset {
	pid_t *pid; /* owned: malloc'd array of cap entries, n in use; pidset_release frees it */
	size_t n, cap;
};

/* Adds pid (no duplicate check: a live pid is added once). 0, or -1 out of memory. */
int pidset_add(struct pidset *set, pid_t pid);
/* Removes pid: true when it was there. Order is not kept. */
bool pidset_remove(struct pidset *set, pid_t pid);
/* Frees the array; the set is empty and usable again. */
void pidset_release(struct pidset *set);

#endif
