/* SPDX-License-Identifier: MIT */
/*
 * fcgi/pidset.c: the pool's retiring workers are tracked however many
 * reloads pile up (the fixed array stopped at 1,024), and each one is found
 * again exactly once when it is reaped.
 */
#include "pidset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#define MANY 5000

static void test_many(void)
{
	static pid_t order[MANY];
	static bool seen[MANY + 100];
	struct pidset set = {0};
	bool all = true;

	for (int i = 0; i < MANY; i++)
		all &= pidset_add(&set, (pid_t)(100 + i)) == 0;
	CHECK(all);
	CHECK(set.n == MANY && set.cap >= MANY);
	/* every one is there, once */
	for (size_t i = 0; i < set.n; i++)
		if (set.pid[i] >= 100 && set.pid[i] < 100 + MANY)
			seen[set.pid[i] - 100] = !seen[set.pid[i] - 100];
	all = true;
	for (int i = 0; i < MANY; i++)
		all &= seen[i];
	CHECK(all);
	/* reaped in any order: a pseudo-random permutation */
	for (int i = 0; i < MANY; i++)
		order[i] = (pid_t)(100 + i);
	srand(7);
	for (int i = MANY - 1; i > 0; i--) {
		int j = rand() % (i + 1);
		pid_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	all = true;
	for (int i = 0; i < MANY; i++)
		all &= pidset_remove(&set, order[i]);
	CHECK(all);
	CHECK(set.n == 0);
	CHECK(!pidset_remove(&set, 100));
	pidset_release(&set);
	CHECK(set.pid == NULL && set.n == 0 && set.cap == 0);
}

static void test_unknown_and_reuse(void)
{
	struct pidset set = {0};

	CHECK(!pidset_remove(&set, 1));
	CHECK(pidset_add(&set, 42) == 0 && pidset_add(&set, 43) == 0);
	CHECK(!pidset_remove(&set, 44));
	CHECK(pidset_remove(&set, 42) && set.n == 1 && set.pid[0] == 43);
	pidset_release(&set);
	CHECK(pidset_add(&set, 9) == 0 && set.n == 1);
	pidset_release(&set);
}

int main(void)
{
	test_many();
	test_unknown_and_reuse();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
