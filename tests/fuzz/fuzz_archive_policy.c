/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the archive policy: arbitrary bytes go through
 * arc_detect and arc_inspect_mem (libarchive's readers, then every per-entry
 * check and cap), and through arc_entry_check as an entry name. It never
 * extracts: nothing is written to disk.
 */
#include "archive.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arc_limits lim;
	struct arc_info info;
	char err[256], norm[1100];
	char *name;
	size_t n = size < 1024 ? size : 1024;

	arc_limits_default(&lim);
	/* Small caps keep every run fast; the checks that trip are the same. */
	lim.max_entries = 2000;
	lim.max_bytes = 32ULL << 20;
	(void)arc_detect(data, size);
	(void)arc_inspect_mem(data, size, &lim, &info, err, sizeof(err));

	name = malloc(n + 1);
	if (name == NULL)
		return 0;
	memcpy(name, data, n);
	name[n] = '\0';
	struct arc_entry e = {.path = name, .type = S_IFLNK, .symlink = name + n / 2};
	(void)arc_entry_check(&e, &lim, norm, sizeof(norm), err, sizeof(err));
	e.type = S_IFREG;
	(void)arc_entry_check(&e, &lim, norm, sizeof(norm), err, sizeof(err));
	free(name);
	return 0;
}
