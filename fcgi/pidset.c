/* SPDX-License-Identifier: MIT */
/*
 * The pool's set of retiring workers. It grows without bound (doubling), so
 * that any number of reloads in a row still signals and reaps every old
 * worker; a fixed array lost track of those past its size.
 */
#include "pidset.h"

#include <stdlib.h>

int pidset_add(struct pidset *set, pid_t pid)
{
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 16;
		pid_t *v = realloc(set->pid, cap * sizeof(*v));

		if (v == NULL)
			return -1;
		set->pid = v;
		set->cap = cap;
	}
	set->pid[set->n++] = pid;
	return 0;
}

bool pidset_remove(struct pidset *set, pid_t pid)
{
	for (size_t i = 0; i < set->n; i++) {
		if (set->pid[i] == pid) {
			set->pid[i] = set->pid[--set->n];
			return true;
		}
	}
	return false;
}

void pidset_release(struct pidset *set)
{
	free(set->pid);
	set->pid = NULL;
	set->n = set->cap = 0;
}
