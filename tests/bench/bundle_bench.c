/* SPDX-License-Identifier: MIT */
/*
 * Benchmark driver for bundle_write: "bundle_bench FORMAT OUT FILE..."
 * bundles the files (named by their base names) into OUT, as the runner
 * does for logs. tests/bench/bundle.sh times it against GNU tar; this file
 * measures nothing itself.
 */
#include "bundle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	enum bundle_format fmt;
	struct bundle_entry *ents;
	char err[512];
	int rc;

	if (argc < 4 || bundle_format_parse(argv[1], &fmt) < 0) {
		fprintf(stderr, "usage: bundle_bench tar|tar.gz|zip OUT FILE...\n");
		return 2;
	}
	ents = calloc((size_t)argc - 3, sizeof(*ents));
	if (ents == NULL)
		return 1;
	for (int i = 3; i < argc; i++) {
		const char *slash = strrchr(argv[i], '/');
		ents[i - 3].path = argv[i];
		ents[i - 3].name = slash ? slash + 1 : argv[i];
	}
	rc = bundle_write(argv[2], fmt, ents, (size_t)argc - 3, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "bundle_bench: %s\n", err);
	free(ents);
	return rc < 0 ? 1 : 0;
}
