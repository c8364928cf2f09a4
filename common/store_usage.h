/* SPDX-License-Identifier: MIT */
/*
 * The runner's one-second samples (task_usage, host_usage): written here,
 * read by the API's project and host views.
 */
#ifndef HOSTAGENT_STORE_USAGE_H
#define HOSTAGENT_STORE_USAGE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct store_usage {
	const char *task_id;
	double cpu_pct;
	uint64_t rss_bytes;
	long threads;
	int fds, procs;
};
/* One transaction: every task sample and the host row. 0 or -1. */
int store_usage_write(struct store *s, const struct store_usage *u, size_t n, double host_pct,
                      double avg1, double avg5, double avg15);

#endif
