/* SPDX-License-Identifier: MIT */
/*
 * The few lines every C unit test shares: a CHECK that counts instead of
 * aborting, so one run reports every failure, and the counters the closing
 * "N passed, N failed" line prints. Included once, by the test's main file.
 */
#ifndef HOSTAGENT_UNIT_H
#define HOSTAGENT_UNIT_H

#include <stdio.h>

static int passed, failed;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (cond) {                                                                        \
			passed++;                                                                  \
		} else {                                                                           \
			failed++;                                                                  \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);   \
		}                                                                                  \
	} while (0)

#endif
