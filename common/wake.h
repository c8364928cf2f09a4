/* SPDX-License-Identifier: MIT */
/*
 * The runner's wake-up: a unix datagram socket the runner binds, to which a
 * handler sends one byte after each COMMIT. Datagrams are reliable and
 * ordered on unix sockets; a full queue just means the runner is already due
 * to wake, so senders never block.
 */
#ifndef HOSTAGENT_WAKE_H
#define HOSTAGENT_WAKE_H

/*
 * Runner side: binds path (replacing a stale socket file), non-blocking and
 * CLOEXEC. Returns the fd (owned by the caller) or -1.
 */
int wake_listen(const char *path);
/* Reads and discards every queued datagram. */
void wake_drain(int fd);
/*
 * Handler side: one byte to path with MSG_DONTWAIT. 0 sent (or the queue was
 * full), -1 when nobody is bound there (the runner is down): callers may
 * use that as a liveness hint, never as an error for the request.
 */
int wake_send(const char *path);

#endif
