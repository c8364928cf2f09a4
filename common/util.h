/* SPDX-License-Identifier: MIT */
/*
 * Small helpers both daemons use: clocks, RFC 3339 times, atomic files,
 * directories, hex and SHA-256, random bytes. Nothing here knows about
 * the database, HTTP or jobs.
 */
#ifndef HOSTAGENT_UTIL_H
#define HOSTAGENT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Wall clock in milliseconds since the epoch (CLOCK_REALTIME). */
int64_t util_now_ms(void);
/* Monotonic clock in milliseconds (CLOCK_MONOTONIC), for deadlines. */
int64_t util_mono_ms(void);

/*
 * Formats ms-since-epoch as RFC 3339 UTC with milliseconds,
 * "2026-11-22T23:07:35.123Z", into buf (UTIL_TIME_LEN bytes). Returns buf.
 */
#define UTIL_TIME_LEN 32
char *util_time_fmt(int64_t ms, char *buf);
/* Parses the same format (also without fraction, and with +00:00); -1 on error. */
int util_time_parse(const char *s, int64_t *ms);

/* mkdir -p with mode for every created component. 0 or -1 (errno set). */
int util_mkdir_p(const char *path, mode_t mode);
/*
 * Writes len bytes to path atomically: path.tmp, rename; readers never see
 * half a file. durable adds fsync of the file before the rename and of the
 * directory after it, for files whose loss on power failure matters (an
 * exit status); files rewritten from memory anyway skip the milliseconds.
 * 0 or -1 (errno set); the tmp file is removed on failure.
 */
int util_write_atomic(const char *path, const void *buf, size_t len, mode_t mode, bool durable);
/*
 * Reads a whole file (at most max bytes) into a NUL-terminated malloc'd
 * buffer the caller frees. *len gets the size without the NUL. 0 or -1.
 */
int util_read_file(const char *path, size_t max, char **out, size_t *len);
/* Removes a directory tree (no symlink following). 0 or -1. */
int util_rm_rf(const char *path);
/* fsync a directory by path. 0 or -1. */
int util_fsync_dir(const char *path);

/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void util_hex(const unsigned char *in, size_t len, char *out);
/* SHA-256 of a buffer as 64 hex chars + NUL into out (65 bytes). */
void util_sha256_hex(const void *buf, size_t len, char out[65]);
/* Fills buf with len bytes from getrandom(2). 0 or -1. */
int util_random(void *buf, size_t len);
/* A random RFC 4122 version-4 UUID, 36 chars + NUL. 0 or -1. */
int util_uuid4(char out[37]);

/* snprintf that returns -1 when the output was truncated. */
int util_fmt(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Blocks every signal of the 0-terminated list block, and returns a
 * non-blocking CLOEXEC signalfd (owned by the caller) that reads those of
 * block that are not in the 0-terminated list quiet (NULL: none): blocked and
 * never read, such as SIGPIPE where every send uses MSG_NOSIGNAL. -1 on error.
 */
int util_signalfd(const int *block, const int *quiet);
/* Sets O_NONBLOCK / FD_CLOEXEC on fd. 0 or -1. */
int util_set_nonblock(int fd);
int util_set_cloexec(int fd);

/* Parses a size with optional k/m/g suffix (powers of 1024). 0 or -1. */
int util_parse_size(const char *s, uint64_t *out);
/* Parses a signal name ("TERM", "SIGTERM") or number; -1 if unknown. */
int util_signal_parse(const char *s);
/* The name without "SIG" for a signal number, or NULL. */
const char *util_signal_name(int sig);
/*
 * Fault injection for the end-to-end tests: when HOSTAGENT_FAULT names
 * this point, the process SIGKILLs itself here (a crash at the worst
 * moment, on purpose). Without the variable it does nothing.
 */
void util_fault_point(const char *name);

#endif
