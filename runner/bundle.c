/* SPDX-License-Identifier: MIT */
/*
 * Writes log bundles with libarchive: streamed files and in-memory entries
 * into a tar, tar.gz or zip, made visible by one rename. It reads only the
 * files it is given (never following a symlink in their last component)
 * and knows nothing about jobs, runs or where bundles are served from.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "bundle.h"

#include "archive.h" /* ours (arc_entry_check), and it passes on to libarchive's */
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* Reads of log files: big enough that a 200 MB log costs a few hundred syscalls. */
#define BUNDLE_BUF (1024 * 1024)
/* Output blocks: larger than tar's 10 KiB default, fewer writes; the last one is not padded. */
#define BUNDLE_BLOCK (64 * 1024)

static void bundle_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void bundle_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int bundle_format_parse(const char *s, enum bundle_format *out)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "tar") == 0)
		*out = BUNDLE_TAR;
	else if (strcmp(s, "tar.gz") == 0)
		*out = BUNDLE_TAR_GZ;
	else if (strcmp(s, "zip") == 0)
		*out = BUNDLE_ZIP;
	else
		return -1;
	return 0;
}

const char *bundle_format_ext(enum bundle_format f)
{
	switch (f) {
	case BUNDLE_TAR_GZ:
		return ".tar.gz";
	case BUNDLE_ZIP:
		return ".zip";
	default:
		return ".tar";
	}
}

static struct archive *bundle_writer_new(enum bundle_format fmt)
{
	struct archive *a = archive_write_new();
	int r;

	if (a == NULL)
		return NULL;
	if (fmt == BUNDLE_ZIP) {
		r = archive_write_set_format_zip(a);
		/* Level 1, as for gzip below; libarchive before 3.6 lacks the option. */
		if (r == ARCHIVE_OK && archive_write_set_format_option(
		                           a, "zip", "compression-level", "1") != ARCHIVE_OK)
			log_debug("bundle: zip compression-level not supported, using the default");
	} else {
		/* ustar where it fits, pax headers only for long names and big files. */
		r = archive_write_set_format_pax_restricted(a);
	}
	/*
	 * Logs are text and compress 5-10x even at level 1, which is 2.4-3x
	 * faster than the default level 6 for a few percent more bytes: a
	 * bundle is made on demand while a client waits (docs/platform-notes.md, libarchive).
	 */
	if (r == ARCHIVE_OK && fmt == BUNDLE_TAR_GZ &&
	    ((r = archive_write_add_filter_gzip(a)) == ARCHIVE_OK))
		r = archive_write_set_filter_option(a, "gzip", "compression-level", "1");
	/*
	 * An uncompressed tar is written unblocked: each 1 MiB read goes to the
	 * file as it is, with no copy into libarchive's block buffer (as fast as
	 * tar cf; tests/bench/bundle.sh). A compressor's output is blocked.
	 */
	if (r == ARCHIVE_OK)
		r = archive_write_set_bytes_per_block(a, fmt == BUNDLE_TAR ? 0 : BUNDLE_BLOCK);
	if (r == ARCHIVE_OK)
		r = archive_write_set_bytes_in_last_block(a, 1);
	if (r != ARCHIVE_OK) {
		archive_write_free(a);
		return NULL;
	}
	return a;
}

/* Every entry looks the same whoever ran the job: 0644, root-owned, named "hostagent". */
static int bundle_header(struct archive *a, const char *name, int64_t size, struct timespec mtime,
                         char *err, size_t errlen)
{
	struct archive_entry *ae = archive_entry_new();
	int r;

	if (ae == NULL) {
		bundle_seterr(err, errlen, "entry '%s': out of memory", name);
		return -1;
	}
	archive_entry_set_pathname(ae, name);
	archive_entry_set_filetype(ae, AE_IFREG);
	archive_entry_set_perm(ae, 0644);
	archive_entry_set_size(ae, size);
	archive_entry_set_mtime(ae, mtime.tv_sec, mtime.tv_nsec);
	archive_entry_set_uid(ae, 0);
	archive_entry_set_gid(ae, 0);
	archive_entry_set_uname(ae, "hostagent");
	archive_entry_set_gname(ae, "hostagent");
	r = archive_write_header(a, ae);
	archive_entry_free(ae);
	if (r != ARCHIVE_OK) {
		bundle_seterr(err, errlen, "entry '%s': %s", name, archive_error_string(a));
		return -1;
	}
	return 0;
}

static int bundle_add_mem(struct archive *a, const char *name, const struct bundle_entry *e,
                          char *err, size_t errlen)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	if (e->data == NULL && e->len > 0) {
		bundle_seterr(err, errlen, "entry '%s': no path and no data", name);
		return -1;
	}
	if (bundle_header(a, name, (int64_t)e->len, now, err, errlen) < 0)
		return -1;
	if (e->len > 0 && archive_write_data(a, e->data, e->len) != (la_ssize_t)e->len) {
		bundle_seterr(err, errlen, "entry '%s': %s", name, archive_error_string(a));
		return -1;
	}
	return 0;
}

/*
 * The file's first size bytes straight from its pages, with no copy into a
 * buffer first: 1 if done, 0 if the file cannot be mapped (the caller
 * reads it instead), -1 on a write error. Log files only grow or are
 * replaced by rename, never truncated in place, so the mapping stays whole
 * (a truncation would end this helper child, not the runner).
 */
static int bundle_copy_mapped(struct archive *a, int fd, const char *name, off_t size, char *err,
                              size_t errlen)
{
	unsigned char *map;
	off_t done = 0;

	if (size <= 0)
		return 0;
	map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	if (map == MAP_FAILED)
		return 0;
	madvise(map, (size_t)size, MADV_SEQUENTIAL);
	while (done < size) {
		size_t n = (size_t)(size - done) < BUNDLE_BUF ? (size_t)(size - done) : BUNDLE_BUF;
		if (archive_write_data(a, map + done, n) != (la_ssize_t)n) {
			bundle_seterr(err, errlen, "entry '%s': %s", name, archive_error_string(a));
			munmap(map, (size_t)size);
			return -1;
		}
		done += (off_t)n;
	}
	munmap(map, (size_t)size);
	return 1;
}

/* Copies exactly the size stat'ed at open: a live log is cut there, never padded. */
static int bundle_copy(struct archive *a, int fd, const char *name, off_t size, unsigned char *buf,
                       char *err, size_t errlen)
{
	off_t done = 0;
	int mapped = bundle_copy_mapped(a, fd, name, size, err, errlen);

	if (mapped != 0)
		return mapped > 0 ? 0 : -1;

	while (done < size) {
		size_t want =
		    (size_t)(size - done) < BUNDLE_BUF ? (size_t)(size - done) : BUNDLE_BUF;
		ssize_t n = read(fd, buf, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			bundle_seterr(err, errlen, "entry '%s': read: %s", name, strerror(errno));
			return -1;
		}
		if (n == 0) {
			bundle_seterr(
			    err, errlen,
			    "entry '%s': file shrank while being read (%lld of %lld bytes)", name,
			    (long long)done, (long long)size);
			return -1;
		}
		if (archive_write_data(a, buf, (size_t)n) != n) {
			bundle_seterr(err, errlen, "entry '%s': %s", name, archive_error_string(a));
			return -1;
		}
		done += n;
	}
	return 0;
}

static int bundle_add_file(struct archive *a, const char *name, const struct bundle_entry *e,
                           unsigned char *buf, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc = -1;

	/* O_NONBLOCK: opening a FIFO put in our way must not hang the runner. */
	fd = open(e->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		bundle_seterr(err, errlen, "entry '%s': %s: %s", name, e->path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		bundle_seterr(err, errlen, "entry '%s': %s: not a regular file", name, e->path);
		goto fail;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (bundle_header(a, name, (int64_t)st.st_size, st.st_mtim, err, errlen) < 0)
		goto fail;
	rc = bundle_copy(a, fd, name, st.st_size, buf, err, errlen);
fail:
	close(fd);
	return rc;
}

/* Entries are checked with the extraction policy: a bundle must unpack anywhere safely. */
static int bundle_add(struct archive *a, const struct bundle_entry *e, unsigned char *buf,
                      char *err, size_t errlen)
{
	struct arc_limits lim;
	struct arc_entry ae = {.path = e->name, .type = S_IFREG};
	char norm[1025];

	arc_limits_default(&lim);
	lim.max_path = sizeof(norm) - 1;
	if (arc_entry_check(&ae, &lim, norm, sizeof(norm), err, errlen) != ARC_OK)
		return -1;
	if (e->path == NULL)
		return bundle_add_mem(a, norm, e, err, errlen);
	return bundle_add_file(a, norm, e, buf, err, errlen);
}

static int bundle_fill(int fd, enum bundle_format fmt, const struct bundle_entry *entries, size_t n,
                       char *err, size_t errlen)
{
	struct archive *a = bundle_writer_new(fmt);
	unsigned char *buf = malloc(BUNDLE_BUF);
	int rc = -1;

	if (a == NULL || buf == NULL) {
		bundle_seterr(err, errlen, "cannot set up the %s writer", bundle_format_ext(fmt));
		goto fail;
	}
	if (archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		bundle_seterr(err, errlen, "open: %s", archive_error_string(a));
		goto fail;
	}
	for (size_t i = 0; i < n; i++)
		if (bundle_add(a, &entries[i], buf, err, errlen) < 0)
			goto fail;
	if (archive_write_close(a) != ARCHIVE_OK) {
		bundle_seterr(err, errlen, "finishing the archive: %s", archive_error_string(a));
		goto fail;
	}
	rc = 0;
fail:
	if (a != NULL)
		archive_write_free(a);
	free(buf);
	return rc;
}

int bundle_write(const char *out_path, enum bundle_format fmt, const struct bundle_entry *entries,
                 size_t n, char *err, size_t errlen)
{
	char *tmp = NULL;
	int fd = -1, rc = -1;

	if (asprintf(&tmp, "%s.tmp", out_path) < 0) {
		tmp = NULL;
		bundle_seterr(err, errlen, "out of memory");
		goto fail;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		bundle_seterr(err, errlen, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	/*
	 * No fsync: a bundle is derived data, served once and deleted after ten
	 * minutes, and a runner that crashes before it is served builds it again
	 * (its command is taken up again). The rename still makes it appear whole.
	 */
	if (bundle_fill(fd, fmt, entries, n, err, errlen) < 0)
		goto fail;
	rc = close(fd);
	fd = -1;
	if (rc < 0) {
		bundle_seterr(err, errlen, "close %s: %s", tmp, strerror(errno));
		goto fail;
	}
	rc = -1;
	if (rename(tmp, out_path) < 0) {
		bundle_seterr(err, errlen, "rename to %s: %s", out_path, strerror(errno));
		goto fail;
	}
	rc = 0;
fail:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && tmp != NULL)
		unlink(tmp);
	free(tmp);
	return rc;
}
