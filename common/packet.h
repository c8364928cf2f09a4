/* SPDX-License-Identifier: MIT */
/*
 * The runner–shim control connection carries one JSON object per
 * SOCK_SEQPACKET packet (docs/architecture.md). Both ends send and drain it
 * the same way, here; what a packet means is each end's business.
 */
#ifndef HOSTAGENT_PACKET_H
#define HOSTAGENT_PACKET_H

#include <stddef.h>

#define PACKET_MAX 16384

/*
 * Sends len bytes as one packet without blocking and without SIGPIPE.
 * 0, or -1 (errno set; a short send counts as a failure).
 */
int packet_send(int fd, const char *txt, size_t len);

enum packet_drain { PACKET_DRAINED, PACKET_PEER_GONE, PACKET_STOPPED };
/*
 * Reads every queued packet of the non-blocking fd and hands each, as a
 * NUL-terminated text, to fn. fn returns nonzero to stop at once (it may
 * have freed its arg). PACKET_PEER_GONE means EOF or a read error: the
 * caller takes fd out of its loop and closes it.
 */
enum packet_drain packet_drain(int fd, int (*fn)(const char *pkt, void *arg), void *arg);

#endif
