/* SPDX-License-Identifier: MIT */
/*
 * The pre-forked pool: a master that owns the listening socket, forks
 * fcgi_workers workers, respawns a crashed one with backoff, reloads on
 * SIGHUP (a new generation first, then the old one retires) and stops on
 * SIGTERM/SIGINT once every in-flight request is answered. Workers serve
 * one FastCGI connection at a time (worker.c).
 */
#ifndef HOSTAGENT_POOL_H
#define HOSTAGENT_POOL_H

struct config;

/*
 * Runs the master until a stop signal; cfg is copied (reload replaces the
 * copy), config_path is what config_load is given again on SIGHUP (may be
 * NULL). listen_fd is the listening socket (kept open, non-blocking).
 * Returns the process exit status.
 */
int pool_run(const struct config *cfg, const char *config_path, int listen_fd);

/*
 * A worker's whole life: serves requests from listen_fd until SIGTERM, then
 * exits the process. master is the parent's pid (the worker dies with it).
 */
void worker_run(const struct config *cfg, int listen_fd, int master) __attribute__((noreturn));

#endif
