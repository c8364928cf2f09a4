/* SPDX-License-Identifier: MIT */
/*
 * Log bundles: tar, tar.gz or zip files of logs and small in-memory files
 * (manifest.json), written atomically so that nginx never serves half of
 * one. It does not choose what goes in a bundle, nor walk directories.
 */
#ifndef HOSTAGENT_BUNDLE_H
#define HOSTAGENT_BUNDLE_H

#include <stddef.h>

enum bundle_format { BUNDLE_TAR, BUNDLE_TAR_GZ, BUNDLE_ZIP };

/* "tar", "tar.gz", "zip" into *out; 0, or -1 for anything else (out untouched). */
int bundle_format_parse(const char *s, enum bundle_format *out);
/* ".tar", ".tar.gz", ".zip": a static string. */
const char *bundle_format_ext(enum bundle_format f);

/* All pointers are borrowed for the duration of bundle_write. */
struct bundle_entry {
	const char *path; /* file on disk (its last component must not be a symlink), or NULL */
	const char *name; /* name inside the archive: relative, no "..", no backslash */
	const void *data; /* content when path is NULL */
	size_t len;
};

/*
 * Writes the n entries to out_path atomically (out_path.tmp, then rename; no
 * fsync: a bundle is derived data, built again after a crash). Every entry is a regular file, mode
 * 0644, owner 0/0 named "hostagent"; files keep their mtime, in-memory entries get the current
 * time. A file is copied with the size it had when opened: one that grows (a live log) is cut
 * there; one that shrinks fails the bundle with an error naming it. 0, or -1 with a one-line reason
 * in err; on failure out_path is untouched and out_path.tmp removed. Not for concurrent calls on
 * one out_path: they share the .tmp name.
 */
int bundle_write(const char *out_path, enum bundle_format fmt, const struct bundle_entry *entries,
                 size_t n, char *err, size_t errlen);

#endif
