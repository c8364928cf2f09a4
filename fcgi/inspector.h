/* SPDX-License-Identifier: MIT */
/*
 * The upload inspector: reads artifact uploads while nginx is still writing
 * them, so that when the handler gets the request their SHA-256 and the
 * archive policy are already done and their pages are on the way to disk.
 * The design and its limits are in docs/architecture.md ("Uploads").
 */
#ifndef HOSTAGENT_INSPECTOR_H
#define HOSTAGENT_INSPECTOR_H

#include <stdint.h>
#include <sys/types.h>

struct arc_info;
struct config;

/*
 * The inspector process's whole life (forked by the pool master when
 * upload_follow is on): watches <data>/tmp/upload and forks a follower for
 * every body file nginx creates there. Exits on SIGTERM or with the master.
 */
void inspector_run(const struct config *cfg, pid_t master) __attribute__((noreturn));

/*
 * Asks the follower of fd (a body file nginx wrote, size bytes) for its
 * verdict. 1: info holds a pass for exactly those bytes (digest, format,
 * entry count); 0: there is none (no follower, a refusal, a mismatch, a
 * timeout), and the caller inspects the file itself.
 */
int inspector_ask(const struct config *cfg, int fd, uint64_t size, struct arc_info *info);

#endif
