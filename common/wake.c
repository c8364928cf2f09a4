/* SPDX-License-Identifier: MIT */
/*
 * Wake-up datagrams from the handlers to the runner (see wake.h).
 */
#include "wake.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

int wake_listen(const char *path)
{
	struct sockaddr_un sa;
	int fd;
	mode_t old;

	if (fill_addr(&sa, path) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	unlink(path);
	/* group-writable: the handler pool may run as the web server's group */
	old = umask(007);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);
	return fd;
}

void wake_drain(int fd)
{
	char buf[64];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		;
}

int wake_send(const char *path)
{
	static int fd = -1;
	struct sockaddr_un sa;
	char one = 1;

	if (fill_addr(&sa, path) < 0)
		return -1;
	if (fd < 0) {
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
	}
	if (sendto(fd, &one, 1, MSG_DONTWAIT, (struct sockaddr *)&sa, sizeof(sa)) == 1)
		return 0;
	return errno == EAGAIN ? 0 : -1;
}
