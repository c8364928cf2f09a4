/* SPDX-License-Identifier: MIT */
/*
 * Output capture for the shim (see shim_log.h). Bytes are written exactly
 * as read; the index gets one "<offset> <ms>" line per line start. The
 * gzip of an old segment runs in a forked child at low priority so a
 * compression never delays a read of the job's pipe.
 */
#include "shim_log.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zlib.h>
#include <json-c/json.h>

#include "log.h"
#include "util.h"

#define READ_CHUNK      16384
#define READS_PER_EVENT 8

static int open_new(const char *path)
{
	return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
}

int shim_log_open(struct shim_stream *s, const char *name, int pipe_fd, uint64_t seg_max,
                  uint64_t total_max)
{
	char path[32];

	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->pipe_fd = pipe_fd;
	s->seg_max = seg_max ? seg_max : (8ULL << 20);
	s->total_max = total_max ? total_max : (64ULL << 20);
	s->at_line_start = true;
	s->next_seq = 1;
	snprintf(path, sizeof(path), "%s.log", name);
	s->seg_fd = open_new(path);
	snprintf(path, sizeof(path), "%s.idx", name);
	s->idx_fd = open_new(path);
	if (s->seg_fd < 0 || s->idx_fd < 0) {
		log_error("%s: cannot create log files: %s", name, strerror(errno));
		return -1;
	}
	return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void idx_flush(struct shim_stream *s)
{
	if (s->idxlen > 0 && write_all(s->idx_fd, s->idxbuf, s->idxlen) < 0)
		log_warn("%s.idx: write failed: %s", s->name, strerror(errno));
	else
		s->idx_size += s->idxlen;
	s->idxlen = 0;
}

static void idx_line(struct shim_stream *s, int64_t ms)
{
	char line[48];
	int n = snprintf(line, sizeof(line), "%llu %lld\n", (unsigned long long)s->total,
	                 (long long)ms);

	if (s->idxlen + (size_t)n > sizeof(s->idxbuf))
		idx_flush(s);
	memcpy(s->idxbuf + s->idxlen, line, (size_t)n);
	s->idxlen += (size_t)n;
}

static void seg_name(const struct shim_stream *s, const struct shim_seg *g, char *buf, size_t len,
                     bool gz)
{
	snprintf(buf, len, "%s.%06u.log%s", s->name, g->seq, gz ? ".gz" : "");
}

/*
 * In the child: plain file → file.gz.tmp → file.gz, then the plain file
 * goes. zlib directly (level 1: logs, speed over ratio), not libarchive:
 * every run has a shim, and libarchive would load libxml2, ICU and
 * libstdc++ into each of them for this one job.
 */
static int gzip_file(const char *in, const char *out)
{
	char tmp[64], buf[65536];
	int fd = open(in, O_RDONLY | O_CLOEXEC), ofd = -1, rc = -1;
	gzFile gz = NULL;
	ssize_t n = -1;

	snprintf(tmp, sizeof(tmp), "%s.tmp", out);
	if (fd < 0)
		goto done;
	ofd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (ofd < 0 || (gz = gzdopen(ofd, "wb1")) == NULL)
		goto done;
	ofd = -1; /* gzclose closes it */
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (gzwrite(gz, buf, (unsigned)n) != (int)n)
			goto done;
	if (n == 0) {
		int zrc = gzclose(gz);
		gz = NULL;
		if (zrc == Z_OK && rename(tmp, out) == 0 && unlink(in) == 0)
			rc = 0;
	}
done:
	if (gz != NULL)
		gzclose(gz);
	if (ofd >= 0)
		close(ofd);
	if (rc < 0)
		unlink(tmp);
	if (fd >= 0)
		close(fd);
	return rc;
}

static void compress_start(struct shim_stream *s, struct shim_seg *g)
{
	char in[48], out[48];
	pid_t pid;

	seg_name(s, g, in, sizeof(in), false);
	seg_name(s, g, out, sizeof(out), true);
	pid = fork();
	if (pid == 0) {
		/*
		 * single-threaded parent: the child may allocate freely. It keeps
		 * none of the shim's fds: a pipe held here would outlive the
		 * shim's close of it, and keep it registered in the shim's epoll.
		 */
		close_range(3, ~0U, 0);
		log_init("shim", LOG_LVL_ERROR, NULL); /* its fd number may be reused */
		setpriority(PRIO_PROCESS, 0, 10);
		_exit(gzip_file(in, out) == 0 ? 0 : 1);
	}
	if (pid < 0)
		log_warn("%s: cannot fork a compressor: %s (segment kept plain)", in,
		         strerror(errno));
	g->zpid = pid > 0 ? pid : 0;
}

static void seg_unlink(const struct shim_stream *s, const struct shim_seg *g)
{
	char p[48];

	seg_name(s, g, p, sizeof(p), false);
	unlink(p);
	seg_name(s, g, p, sizeof(p), true);
	unlink(p);
	strcat(p, ".tmp");
	unlink(p);
}

/*
 * The index covers what is kept, so it is bounded with the logs: its lines
 * before `cut` (those of deleted segments) are dropped by copying the rest
 * to a new file. Done once per deletion, never per line.
 */
static void idx_cut(struct shim_stream *s, uint64_t cut)
{
	char tmp[32], path[32], buf[16384];
	int in, out;
	ssize_t n;

	idx_flush(s);
	if (cut == 0 || cut > s->idx_size)
		return;
	snprintf(path, sizeof(path), "%s.idx", s->name);
	snprintf(tmp, sizeof(tmp), "%s.idx.tmp", s->name);
	in = open(path, O_RDONLY | O_CLOEXEC);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (in < 0 || out < 0 || lseek(in, (off_t)cut, SEEK_SET) < 0)
		goto fail;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write_all(out, buf, (size_t)n) < 0)
			goto fail;
	if (n < 0 || rename(tmp, path) < 0)
		goto fail;
	close(in);
	close(s->idx_fd);
	s->idx_fd = out;
	s->idx_size -= cut;
	s->cur_idx_start -= cut;
	for (size_t i = 0; i < s->nsegs; i++)
		s->segs[i].idx_start = s->segs[i].idx_start > cut ? s->segs[i].idx_start - cut : 0;
	return;
fail:
	log_warn("%s: cannot shorten: %s", path, strerror(errno));
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	unlink(tmp);
}

/* Deletes the oldest segments while everything kept is over total_max. */
static void enforce_cap(struct shim_stream *s)
{
	uint64_t sum;
	size_t drop = 0;

	/* the index counts too: with short lines it outweighs compressed logs */
	idx_flush(s);
	sum = s->seg_bytes + s->idx_size;
	for (size_t i = 0; i < s->nsegs; i++)
		if (!s->segs[i].drop_when_done)
			sum += s->segs[i].disk;
	while (drop < s->nsegs && (s->segs[drop].drop_when_done || sum > s->total_max)) {
		struct shim_seg *g = &s->segs[drop++];
		if (g->drop_when_done)
			continue; /* dropped before, its killed compressor not reaped yet */
		sum -= g->disk;
		s->dropped += g->len;
		if (g->zpid > 0) {
			/* our own unreaped child: its pid cannot have been reused */
			kill(g->zpid, SIGKILL);
			g->drop_when_done = true;
		}
		seg_unlink(s, g);
	}
	if (drop == 0)
		return;
	idx_cut(s, drop < s->nsegs ? s->segs[drop].idx_start : s->cur_idx_start);
	/* killed compressors stay listed (hidden) until they are reaped */
	size_t keep = 0;
	for (size_t i = 0; i < s->nsegs; i++)
		if (i >= drop || s->segs[i].zpid > 0)
			s->segs[keep++] = s->segs[i];
	s->nsegs = keep;
}

static int rotate(struct shim_stream *s)
{
	char cur[32], old[48];
	struct shim_seg *g;

	if (s->nsegs == s->capsegs) {
		size_t cap = s->capsegs ? s->capsegs * 2 : 8;
		g = realloc(s->segs, cap * sizeof(*g));
		if (g == NULL)
			return -1;
		s->segs = g;
		s->capsegs = cap;
	}
	g = &s->segs[s->nsegs];
	memset(g, 0, sizeof(*g));
	g->seq = s->next_seq++;
	g->len = g->disk = s->seg_bytes;
	g->idx_start = s->cur_idx_start;
	idx_flush(s);
	s->cur_idx_start = s->idx_size;
	snprintf(cur, sizeof(cur), "%s.log", s->name);
	seg_name(s, g, old, sizeof(old), false);
	close(s->seg_fd);
	if (rename(cur, old) < 0)
		log_warn("rotate %s: %s", cur, strerror(errno));
	s->seg_fd = open_new(cur);
	s->seg_bytes = 0;
	s->nsegs++;
	compress_start(s, g);
	enforce_cap(s);
	return s->seg_fd < 0 ? -1 : 0;
}

/* Appends one read's bytes, splitting at line starts and rotation points. */
static int capture(struct shim_stream *s, const char *buf, size_t n, int64_t ms)
{
	size_t pos = 0;
	int rc = 0;

	while (pos < n) {
		const char *nl = memchr(buf + pos, '\n', n - pos);
		size_t end = nl ? (size_t)(nl - buf) + 1 : n;
		uint64_t room = 2 * s->seg_max - s->seg_bytes;
		size_t len = end - pos;
		bool forced = (uint64_t)len > room;

		if (s->at_line_start)
			idx_line(s, ms);
		s->at_line_start = false;
		if (forced)
			len = (size_t)room; /* a line that never ends: cut at 2x */
		if (write_all(s->seg_fd, buf + pos, len) < 0) {
			s->dropped += len;
			rc = -1;
		} else {
			s->seg_bytes += len;
		}
		s->total += len;
		pos += len;
		if (!forced && nl != NULL)
			s->at_line_start = true;
		if (forced || (s->at_line_start &&
		               (s->seg_bytes >= s->seg_max ||
		                s->idx_size + s->idxlen - s->cur_idx_start >= s->seg_max))) {
			if (rotate(s) < 0)
				rc = -1;
			s->state_dirty = true;
		}
	}
	return rc;
}

static void tail_keep(struct shim_stream *s, const char *buf, size_t n)
{
	if (n >= sizeof(s->tail)) {
		memcpy(s->tail, buf + n - sizeof(s->tail), sizeof(s->tail));
		s->tail_len = sizeof(s->tail);
		return;
	}
	if (s->tail_len + n > sizeof(s->tail)) {
		size_t drop = s->tail_len + n - sizeof(s->tail);
		memmove(s->tail, s->tail + drop, s->tail_len - drop);
		s->tail_len -= drop;
	}
	memcpy(s->tail + s->tail_len, buf, n);
	s->tail_len += n;
}

size_t shim_log_tail(const struct shim_stream *s, char *buf, size_t len)
{
	size_t a = 0, b = s->tail_len, o = 0;

	while (b > 0 && (s->tail[b - 1] == '\n' || s->tail[b - 1] == ' '))
		b--;
	if (len == 0)
		return 0;
	if (b - a > len - 1)
		a = b - (len - 1);
	for (size_t i = a; i < b; i++)
		buf[o++] = (unsigned char)s->tail[i] < 0x20 ? ' ' : s->tail[i];
	buf[o] = '\0';
	return o;
}

int shim_log_read(struct shim_stream *s)
{
	char buf[READ_CHUNK];
	int rc = 0;

	bool eof = false;

	for (int i = 0; i < READS_PER_EVENT && s->pipe_fd >= 0; i++) {
		ssize_t n = read(s->pipe_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break; /* EAGAIN: drained for now */
		if (n == 0) {
			eof = true;
			break;
		}
		if (capture(s, buf, (size_t)n, util_now_ms()) < 0)
			rc = -1;
		tail_keep(s, buf, (size_t)n);
	}
	idx_flush(s);
	return eof ? 1 : rc;
}

int shim_log_reaped(struct shim_stream *s, pid_t pid, int status)
{
	for (size_t i = 0; i < s->nsegs; i++) {
		struct shim_seg *g = &s->segs[i];
		char p[48];
		struct stat st;
		if (g->zpid != pid)
			continue;
		g->zpid = 0;
		s->state_dirty = true;
		g->compressed = WIFEXITED(status) && WEXITSTATUS(status) == 0;
		seg_name(s, g, p, sizeof(p), g->compressed);
		if (g->compressed && stat(p, &st) == 0)
			g->disk = (uint64_t)st.st_size;
		if (g->drop_when_done) {
			seg_unlink(s, g);
			memmove(g, g + 1, (s->nsegs - i - 1) * sizeof(*g));
			s->nsegs--;
		}
		return 1;
	}
	return 0;
}

void shim_log_wait(struct shim_stream *s)
{
	for (size_t i = 0; i < s->nsegs; i++) {
		int status;
		pid_t pid = s->segs[i].zpid;
		if (pid > 0 && waitpid(pid, &status, 0) == pid) {
			shim_log_reaped(s, pid, status);
			i = (size_t)-1; /* the list may have shrunk */
		}
	}
}

static struct json_object *stream_json(const struct shim_stream *s)
{
	struct json_object *o = json_object_new_object(), *segs = json_object_new_array();
	char p[48];

	for (size_t i = 0; i < s->nsegs; i++) {
		if (s->segs[i].drop_when_done)
			continue;
		seg_name(s, &s->segs[i], p, sizeof(p), s->segs[i].compressed);
		json_object_array_add(segs, json_object_new_string(p));
	}
	snprintf(p, sizeof(p), "%s.log", s->name);
	json_object_array_add(segs, json_object_new_string(p));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)s->total));
	json_object_object_add(o, "dropped", json_object_new_int64((int64_t)s->dropped));
	json_object_object_add(o, "segments", segs);
	return o;
}

int shim_log_state_write(const struct shim_stream *out, const struct shim_stream *err)
{
	struct json_object *o = json_object_new_object();
	const char *txt;
	int rc;

	json_object_object_add(o, "stdout", stream_json(out));
	json_object_object_add(o, "stderr", stream_json(err));
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                            JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = util_write_atomic("logstate.json", txt, strlen(txt), 0644, false);
	json_object_put(o);
	return rc;
}

void shim_log_close(struct shim_stream *s)
{
	idx_flush(s);
	if (s->pipe_fd >= 0)
		close(s->pipe_fd);
	if (s->seg_fd >= 0)
		close(s->seg_fd);
	if (s->idx_fd >= 0)
		close(s->idx_fd);
	free(s->segs);
	s->segs = NULL;
	s->pipe_fd = s->seg_fd = s->idx_fd = -1;
}
