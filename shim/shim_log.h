/* SPDX-License-Identifier: MIT */
/*
 * The shim's capture of one output stream of a job into the files of
 * docs/architecture.md ("The job directory"): the current segment
 * <name>.log, the line index <name>.idx, rotation at line boundaries,
 * compression of old segments in a short-lived child (never in the loop:
 * the job's pipe must keep draining), and the cap on the bytes kept.
 * Paths are relative: the shim's working directory is the job directory.
 */
#ifndef HOSTAGENT_SHIM_LOG_H
#define HOSTAGENT_SHIM_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SHIM_TAIL_MAX 256

struct shim_seg {
	unsigned seq;       /* NNNNNN of <name>.NNNNNN.log[.gz] */
	uint64_t len;       /* stream bytes it holds */
	uint64_t disk;      /* bytes on disk (compressed size once done) */
	pid_t zpid;         /* compressing child, 0 when done or not started */
	uint64_t idx_start; /* where its first index line is in <name>.idx */
	bool compressed;
	bool drop_when_done; /* dropped while its compressor ran */
};

struct shim_stream {
	char name[8];       /* "stdout" / "stderr" */
	int pipe_fd;        /* read end (owned; -1 once EOF was seen) */
	int seg_fd;         /* <name>.log (owned) */
	int idx_fd;         /* <name>.idx (owned) */
	uint64_t total;     /* stream offset: every byte ever read, dropped ones included */
	uint64_t seg_bytes; /* bytes in the current segment */
	uint64_t dropped;   /* bytes of deleted segments */
	uint64_t seg_max, total_max;
	bool at_line_start;
	bool state_dirty; /* segments changed since logstate.json was written */
	unsigned next_seq;
	struct shim_seg *segs; /* older segments, oldest first (owned) */
	size_t nsegs, capsegs;
	char idxbuf[2048]; /* pending index lines, flushed after each read batch */
	size_t idxlen;
	uint64_t idx_size;      /* bytes in <name>.idx */
	uint64_t cur_idx_start; /* where the current segment's index lines begin */
	char tail[SHIM_TAIL_MAX]; /* the last bytes read, for a failing hook's reason */
	size_t tail_len;
};

/*
 * Creates <name>.log and <name>.idx (truncating: a shim starts a run once)
 * and takes ownership of pipe_fd, which must be non-blocking. 0 or -1.
 */
int shim_log_open(struct shim_stream *s, const char *name, int pipe_fd, uint64_t seg_max,
                  uint64_t total_max);
/*
 * Reads what the pipe holds (a bounded number of reads, so that one chatty
 * stream cannot starve the other). 0: more may come; 1: EOF, and the
 * caller takes pipe_fd out of its event loop before it closes it (a
 * descriptor closed first can stay registered in epoll while any other
 * process holds the pipe); -1: a write to disk failed (the bytes are
 * counted as dropped and capture goes on).
 */
int shim_log_read(struct shim_stream *s);
/*
 * The last line or lines of what the stream captured since the tail was
 * last cleared (tail_len = 0), at most len - 1 bytes, on one line with
 * control bytes as spaces, into buf. Returns its length.
 */
size_t shim_log_tail(const struct shim_stream *s, char *buf, size_t len);
/* A compressing child was reaped: 1 when it was one of this stream's, else 0. */
int shim_log_reaped(struct shim_stream *s, pid_t pid, int status);
/* Waits for every compressor of the stream (at exit). */
void shim_log_wait(struct shim_stream *s);
/* Writes logstate.json for both streams atomically. 0 or -1. */
int shim_log_state_write(const struct shim_stream *out, const struct shim_stream *err);
/* Closes the files and frees the segment list. */
void shim_log_close(struct shim_stream *s);

#endif
