/* SPDX-License-Identifier: MIT */
/*
 * Sending and draining the runner–shim control connection (see packet.h).
 */
#include "packet.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/types.h>

int packet_send(int fd, const char *txt, size_t len)
{
	ssize_t n = send(fd, txt, len, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0)
		return -1;
	if ((size_t)n != len) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

enum packet_drain packet_drain(int fd, int (*fn)(const char *pkt, void *arg), void *arg)
{
	char buf[PACKET_MAX];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return PACKET_DRAINED;
		if (n <= 0)
			return PACKET_PEER_GONE;
		buf[n] = '\0';
		if (fn(buf, arg) != 0)
			return PACKET_STOPPED;
	}
}
