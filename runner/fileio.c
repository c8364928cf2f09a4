/* SPDX-License-Identifier: MIT */
/*
 * See fileio.h. The durable case is util_write_atomic; this adds the cheap
 * one (no fsync) with the same temp-and-rename shape.
 */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "util.h"

int fileio_replace(const char *path, const void *buf, size_t len, mode_t mode, bool durable)
{
	char tmp[PATH_MAX];
	const char *p = buf;
	int fd, saved;

	if (durable)
		return util_write_atomic(path, buf, len, mode);
	if (util_fmt(tmp, sizeof(tmp), "%s.tmp", path) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		p += n;
		len -= (size_t)n;
	}
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	if (rename(tmp, path) == 0)
		return 0;
	fd = -1;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}
