/* SPDX-License-Identifier: MIT */
/*
 * Artifact inspection and safe extraction. libarchive only parses: every
 * policy decision is made here, per entry, and every file is created by us
 * with openat(O_NOFOLLOW) below a directory fd of the release (docs/platform-notes.md,
 * libarchive: its SECURE_* flags leave hardlinks, set-uid bits,
 * FIFOs and sizes unchecked). Not here: where releases live, or the HTTP codes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "config.h"
#include "log.h"
#include "util.h"

_Static_assert(AE_IFREG == S_IFREG && AE_IFDIR == S_IFDIR && AE_IFLNK == S_IFLNK,
               "libarchive file types are the kernel's");

/* Reads of the archive and of entry data; large enough that syscalls do not show. */
#define ARC_BUF (256 * 1024)
/* Zip directory signatures allowed per allowed entry: see arc_zip_prescan. */
#define ARC_ZIP_SIG_FACTOR 8
/* libarchive reports "unrecognized format" with this errno on Linux. */
#define ARC_ERRNO_FILE_FORMAT EILSEQ

enum arc_kind { ARC_K_DIR = 1, ARC_K_FILE, ARC_K_LINK };

/* One path of the release, as the archive has built it so far. */
struct arc_node {
	char *path;         /* "path\0target\0", malloc'd; NULL: a free slot */
	const char *target; /* inside path's allocation, for symlinks */
	uint32_t hash;
	unsigned char kind;
	unsigned char has_time; /* a dir entry whose mtime is set once extraction ends */
	struct timespec mtime;
};

/* Open-addressing set of every path: the stateful half of the policy. */
struct arc_set {
	struct arc_node *slot;
	size_t cap, used;
};

/* Where archive bytes come from: an fd, or a memory buffer. */
struct arc_src {
	int fd; /* -1 for memory */
	const unsigned char *mem;
	size_t mem_len;
	unsigned char *buf; /* ARC_BUF, for fd reads */
	const unsigned char *head;
	size_t head_len; /* read for detection, handed to libarchive first */
	int head_given;
	EVP_MD_CTX *md;
	int hashing;       /* reads go through md */
	uint64_t hashed;   /* bytes hashed so far */
	uint64_t consumed; /* bytes read so far */
	int seekable;      /* a regular file or memory: size is known */
	int zip_seek;      /* a zip read through its central directory */
	uint64_t base;     /* the fd's offset where the archive starts */
	uint64_t size;     /* bytes from base to EOF, when seekable */
	uint64_t pos;      /* read position, relative to base */
	int io_errno;
	const struct arc_follow *follow; /* a file still being written, or NULL */
};

struct arc_ctx {
	const struct arc_limits *lim;
	struct arc_src *src;
	struct archive *a;
	enum arc_format format;
	uint64_t archive_size; /* 0: unknown, the ratio then uses bytes read so far */
	uint64_t entries, dirs, unpacked;
	struct arc_set set;
	unsigned char *data; /* ARC_BUF, entry data */
	char *norm;          /* max_path + 1: the current entry's normalised name */
	char *scratch;       /* 2 * max_path + 2: symlink resolution */
	int root;            /* release dir fd while extracting, else -1 */
	int pfd;             /* cached parent dir of the last entry, or -1 */
	size_t plen;         /* its path is norm-like, in ppath */
	char *ppath;
	int root_has_time;
	struct timespec root_time;
	char *err;
	size_t errlen;
};

static void arc_vseterr(char *err, size_t errlen, const char *name, const char *fmt, va_list ap)
{
	char safe[128];
	size_t i, o = 0;
	int n = 0;

	if (err == NULL || errlen == 0)
		return;
	if (name != NULL) {
		/* Names are hostile: no control bytes reach a log line or a JSON detail. */
		for (i = 0; name[i] != '\0' && o < sizeof(safe) - 4; i++)
			safe[o++] =
			    ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) ? '?' : name[i];
		if (name[i] != '\0')
			o += (size_t)sprintf(safe + o, "...");
		safe[o] = '\0';
		n = snprintf(err, errlen, "entry '%s': ", safe);
	}
	if (n >= 0 && (size_t)n < errlen)
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
}

static void arc_seterr(char *err, size_t errlen, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void arc_seterr(char *err, size_t errlen, const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	arc_vseterr(err, errlen, name, fmt, ap);
	va_end(ap);
}

static enum arc_err arc_fail(struct arc_ctx *c, enum arc_err code, const char *name,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static enum arc_err arc_fail(struct arc_ctx *c, enum arc_err code, const char *name,
                             const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	arc_vseterr(c->err, c->errlen, name, fmt, ap);
	va_end(ap);
	return code;
}

/* ---- formats ---------------------------------------------------------- */

const char *arc_format_name(enum arc_format f)
{
	switch (f) {
	case ARC_FMT_TAR:
		return "tar";
	case ARC_FMT_TAR_GZ:
		return "tar.gz";
	case ARC_FMT_TAR_XZ:
		return "tar.xz";
	case ARC_FMT_TAR_ZST:
		return "tar.zst";
	case ARC_FMT_ZIP:
		return "zip";
	default:
		return "unknown";
	}
}

/* A pre-POSIX tar header has no magic: its checksum field is the only proof. */
static int arc_tar_checksum_ok(const unsigned char *h)
{
	unsigned long want = 0, sum = 0;
	int i, digits = 0;

	for (i = 148; i < 156 && h[i] == ' '; i++)
		;
	for (; i < 156 && h[i] >= '0' && h[i] <= '7'; i++, digits++)
		want = want * 8 + (unsigned long)(h[i] - '0');
	if (digits == 0 || (i < 156 && h[i] != ' ' && h[i] != '\0'))
		return 0;
	for (i = 0; i < 512; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	return h[0] != '\0' && sum == want;
}

static int arc_is_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

enum arc_format arc_detect(const unsigned char *b, size_t len)
{
	if (b == NULL)
		return ARC_FMT_UNKNOWN;
	if (len >= 2 && b[0] == 0x1f && b[1] == 0x8b)
		return ARC_FMT_TAR_GZ;
	if (len >= 6 && memcmp(b,
	                       "\xfd"
	                       "7zXZ\0",
	                       6) == 0)
		return ARC_FMT_TAR_XZ;
	if (len >= 4 && memcmp(b, "\x28\xb5\x2f\xfd", 4) == 0)
		return ARC_FMT_TAR_ZST;
	if (len >= 4 && (memcmp(b, "PK\3\4", 4) == 0 || memcmp(b, "PK\5\6", 4) == 0))
		return ARC_FMT_ZIP;
	if (len >= 512 && (memcmp(b + 257, "ustar", 5) == 0 || arc_tar_checksum_ok(b)))
		return ARC_FMT_TAR;
	if (len >= 1024 && arc_is_zero(b, 1024))
		return ARC_FMT_TAR; /* an empty tar: just the end-of-archive blocks */
	return ARC_FMT_UNKNOWN;
}

void arc_limits_default(struct arc_limits *l)
{
	l->max_entries = 20000;
	l->max_bytes = 4ULL << 30;
	l->max_ratio = 200;
	l->max_path = 1024;
}

void arc_limits_config(struct arc_limits *l, const struct config *c)
{
	arc_limits_default(l);
	l->max_entries = c->extract_max_entries;
	l->max_bytes = c->extract_max_bytes;
	l->max_ratio = c->extract_max_ratio;
}

/* ---- the pure per-entry policy ---------------------------------------- */

mode_t arc_entry_mode(mode_t type, mode_t perm)
{
	if ((type & S_IFMT) == S_IFDIR || (perm & 0111) != 0)
		return 0755;
	return 0644;
}

/*
 * The next component of a '/'-separated path at *p, skipping empty and "."
 * ones: its start in *s and length in *n, with *p moved past it and its
 * slash. 0 at the end of the path.
 */
static int arc_next_component(const char **p, const char **s, size_t *n)
{
	for (;;) {
		const char *q = *p;

		if (*q == '\0')
			return 0;
		*s = q;
		while (*q != '\0' && *q != '/')
			q++;
		*n = (size_t)(q - *s);
		*p = *q == '/' ? q + 1 : q;
		if (*n != 0 && !(*n == 1 && (*s)[0] == '.'))
			return 1;
	}
}

/* Normalises path into norm (big enough); NULL, or why the name is refused. */
static const char *arc_norm_path(const char *path, char *norm)
{
	const char *p = path, *s;
	size_t o = 0, depth = 0, n;
	int dotdot = 0, escapes = 0;

	if (path[0] == '/')
		return "absolute path";
	if (strchr(path, '\\') != NULL)
		return "backslash in name";
	while (arc_next_component(&p, &s, &n)) {
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			dotdot = 1;
			if (depth == 0)
				escapes = 1;
			else
				depth--;
			continue;
		}
		if (n > NAME_MAX)
			return "a name component is longer than 255 bytes";
		depth++;
		if (o > 0)
			norm[o++] = '/';
		memcpy(norm + o, s, n);
		o += n;
	}
	norm[o] = '\0';
	if (dotdot)
		return escapes ? "path escapes the release" : "'..' in path";
	return NULL;
}

/* A symlink's target, resolved lexically against the directory that holds norm. */
static const char *arc_link_reason(const char *norm, const char *target, size_t max_path)
{
	size_t depth = 0, n;
	const char *p, *s;

	if (target == NULL || target[0] == '\0')
		return "symlink without a target";
	if (strlen(target) > max_path)
		return "symlink target too long";
	if (target[0] == '/')
		return "symlink target is absolute";
	if (strchr(target, '\\') != NULL)
		return "backslash in symlink target";
	for (p = norm; *p != '\0'; p++)
		depth += *p == '/';
	p = target;
	while (arc_next_component(&p, &s, &n)) {
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (depth == 0)
				return "symlink target leaves the release";
			depth--;
		} else {
			depth++;
		}
	}
	return NULL;
}

static const char *arc_type_reason(const struct arc_entry *e)
{
	if (e->hardlink != NULL)
		return "hardlinks are not allowed";
	switch (e->type & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
		return NULL;
	case S_IFCHR:
	case S_IFBLK:
		return "device files are not allowed";
	case S_IFIFO:
		return "FIFOs are not allowed";
	case S_IFSOCK:
		return "sockets are not allowed";
	default:
		return "unsupported entry type";
	}
}

enum arc_err arc_entry_check(const struct arc_entry *e, const struct arc_limits *lim, char *norm,
                             size_t normlen, char *err, size_t errlen)
{
	const char *why;
	size_t len;

	if (e->path == NULL || e->path[0] == '\0') {
		arc_seterr(err, errlen, NULL, "an entry has no name (or one not valid in UTF-8)");
		return ARC_E_POLICY;
	}
	len = strlen(e->path);
	if (len > lim->max_path || normlen < len + 1) {
		arc_seterr(err, errlen, e->path, "name longer than %zu bytes", lim->max_path);
		return ARC_E_POLICY;
	}
	why = arc_norm_path(e->path, norm);
	if (why == NULL)
		why = arc_type_reason(e);
	if (why == NULL && norm[0] == '\0' && (e->type & S_IFMT) != S_IFDIR)
		why = "names the release directory itself";
	if (why == NULL && (e->type & S_IFMT) == S_IFLNK)
		why = arc_link_reason(norm, e->symlink, lim->max_path);
	if (why != NULL) {
		norm[0] = '\0';
		arc_seterr(err, errlen, e->path, "%s", why);
		return ARC_E_POLICY;
	}
	return ARC_OK;
}

/* ---- the path set ------------------------------------------------------ */

static uint32_t arc_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static struct arc_node *arc_set_find(struct arc_set *s, const char *path, size_t n)
{
	uint32_t h = arc_hash(path, n);
	size_t i;

	if (s->cap == 0)
		return NULL;
	for (i = h & (s->cap - 1); s->slot[i].path != NULL; i = (i + 1) & (s->cap - 1)) {
		struct arc_node *x = &s->slot[i];
		if (x->hash == h && strncmp(x->path, path, n) == 0 && x->path[n] == '\0')
			return x;
	}
	return NULL;
}

static int arc_set_grow(struct arc_set *s)
{
	size_t cap = s->cap ? s->cap * 2 : 256;
	struct arc_node *slot = calloc(cap, sizeof(*slot));

	if (slot == NULL)
		return -1;
	for (size_t i = 0; i < s->cap; i++) {
		size_t j;
		if (s->slot[i].path == NULL)
			continue;
		for (j = s->slot[i].hash & (cap - 1); slot[j].path != NULL; j = (j + 1) & (cap - 1))
			;
		slot[j] = s->slot[i];
	}
	free(s->slot);
	s->slot = slot;
	s->cap = cap;
	return 0;
}

/* Adds a path known to be absent. The node is valid until the next insertion. */
static struct arc_node *arc_set_add(struct arc_set *s, const char *path, size_t n,
                                    enum arc_kind kind, const char *target)
{
	size_t tlen = target ? strlen(target) : 0, i;
	struct arc_node *x;
	char *mem;

	if ((s->used + 1) * 2 > s->cap && arc_set_grow(s) < 0)
		return NULL;
	mem = malloc(n + tlen + 2);
	if (mem == NULL)
		return NULL;
	memcpy(mem, path, n);
	mem[n] = '\0';
	memcpy(mem + n + 1, target ? target : "", tlen + 1);
	for (i = arc_hash(path, n) & (s->cap - 1); s->slot[i].path != NULL;
	     i = (i + 1) & (s->cap - 1))
		;
	x = &s->slot[i];
	memset(x, 0, sizeof(*x));
	x->path = mem;
	x->target = mem + n + 1;
	x->hash = arc_hash(path, n);
	x->kind = (unsigned char)kind;
	s->used++;
	return x;
}

static void arc_set_release(struct arc_set *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slot[i].path);
	free(s->slot);
	s->slot = NULL;
	s->cap = s->used = 0;
}

/*
 * Records c->norm as kind. Its parents become directories (implicit ones
 * count against a cap of their own); a parent that is a symlink or a file,
 * or a name given twice (but for directories), is refused. *out is valid
 * until the next insertion.
 */
static enum arc_err arc_place(struct arc_ctx *c, const char *name, enum arc_kind kind,
                              const char *target, struct arc_node **out)
{
	const char *norm = c->norm, *p;
	struct arc_node *x;

	for (p = strchr(norm, '/'); p != NULL; p = strchr(p + 1, '/')) {
		size_t n = (size_t)(p - norm);
		x = arc_set_find(&c->set, norm, n);
		if (x != NULL && x->kind != ARC_K_DIR)
			return arc_fail(c, ARC_E_POLICY, name, "path passes through %s '%.*s'",
			                x->kind == ARC_K_LINK ? "symlink" : "file", (int)n, norm);
		if (x != NULL)
			continue;
		if (++c->dirs > c->lim->max_entries)
			return arc_fail(c, ARC_E_POLICY, name, "more than %llu directories",
			                (unsigned long long)c->lim->max_entries);
		if (arc_set_add(&c->set, norm, n, ARC_K_DIR, NULL) == NULL)
			return arc_fail(c, ARC_E_IO, name, "out of memory");
	}
	x = arc_set_find(&c->set, norm, strlen(norm));
	if (x != NULL && (x->kind != ARC_K_DIR || kind != ARC_K_DIR))
		return arc_fail(c, ARC_E_POLICY, name, "the archive holds this path twice");
	if (x == NULL)
		x = arc_set_add(&c->set, norm, strlen(norm), kind, target);
	if (x == NULL)
		return arc_fail(c, ARC_E_IO, name, "out of memory");
	*out = x;
	return ARC_OK;
}

/*
 * Lexical resolution is exact only while no symlink is crossed: with
 * "s -> ." and "t -> s/..", t looks like the release but is its parent. So,
 * once every entry is known, no target may pass through another symlink
 * (ending on one is fine: that one was checked on its own).
 */
static enum arc_err arc_links_check(struct arc_ctx *c)
{
	for (size_t i = 0; i < c->set.cap; i++) {
		struct arc_node *l = &c->set.slot[i];
		char *buf = c->scratch, *slash;
		const char *p;
		size_t o;

		if (l->path == NULL || l->kind != ARC_K_LINK)
			continue;
		slash = strrchr(l->path, '/');
		o = slash ? (size_t)(slash - l->path) : 0;
		memcpy(buf, l->path, o);
		for (p = l->target; *p != '\0';) {
			const char *s = p;
			size_t n;
			struct arc_node *x;

			while (*p != '\0' && *p != '/')
				p++;
			n = (size_t)(p - s);
			if (*p == '/')
				p++;
			if (n == 0 || (n == 1 && s[0] == '.'))
				continue;
			if (n == 2 && s[0] == '.' && s[1] == '.') {
				while (o > 0 && buf[o - 1] != '/')
					o--;
				o -= o > 0;
				continue;
			}
			if (o > 0)
				buf[o++] = '/';
			memcpy(buf + o, s, n);
			o += n;
			x = arc_set_find(&c->set, buf, o);
			if (x != NULL && x->kind == ARC_K_LINK && *p != '\0')
				return arc_fail(c, ARC_E_POLICY, l->path,
				                "symlink target passes through symlink '%.*s'",
				                (int)o, buf);
		}
	}
	return ARC_OK;
}

/* ---- reading the archive ------------------------------------------------ */

static ssize_t arc_read_fd(struct arc_src *s, unsigned char *buf, size_t len)
{
	const struct arc_follow *f = s->follow;
	ssize_t n;
	int more;

	for (;;) {
		do
			n = read(s->fd, buf, len);
		while (n < 0 && errno == EINTR);
		if (n != 0 || f == NULL)
			break;
		/* EOF of a file still being written: the follower says whether it has ended */
		errno = 0;
		more = f->feed(f->arg, s->consumed, 1);
		if (more == 0)
			break;
		if (more < 0) {
			n = -1;
			if (errno == 0)
				errno = ECANCELED;
			break;
		}
	}
	if (n < 0) {
		s->io_errno = errno;
		return -1;
	}
	if (s->hashing && n > 0 && EVP_DigestUpdate(s->md, buf, (size_t)n) != 1) {
		s->io_errno = ENOMEM;
		return -1;
	}
	if (s->hashing)
		s->hashed += (uint64_t)n;
	s->consumed += (uint64_t)n;
	s->pos += (uint64_t)n;
	if (n > 0 && f != NULL)
		f->feed(f->arg, s->consumed, 0);
	return n;
}

/* Reads what detection needs (two tar blocks) before libarchive sees anything. */
static int arc_src_head(struct arc_src *s)
{
	if (s->fd < 0) {
		s->head = s->mem;
		s->head_len = s->pos = s->consumed = s->hashed = s->mem_len;
		if (s->hashing && EVP_DigestUpdate(s->md, s->mem, s->mem_len) != 1) {
			s->io_errno = ENOMEM;
			return -1;
		}
		return 0;
	}
	s->head = s->buf;
	while (s->head_len < 1024) {
		ssize_t n = arc_read_fd(s, s->buf + s->head_len, ARC_BUF - s->head_len);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		s->head_len += (size_t)n;
	}
	return 0;
}

/* Counts zip central-directory signatures ("PK\1\2") across chunks. */
struct arc_sig {
	uint64_t count;
	unsigned char tail[3]; /* the previous chunk's last bytes */
	size_t tail_len;
};

static void arc_sig_feed(struct arc_sig *g, const unsigned char *p, size_t n)
{
	static const unsigned char sig[4] = {'P', 'K', 1, 2};
	unsigned char win[6];
	size_t m = n < 3 ? n : 3, i;
	const unsigned char *q;

	memcpy(win, g->tail, g->tail_len);
	memcpy(win + g->tail_len, p, m);
	for (i = 0; i < g->tail_len; i++) /* matches that start in the previous chunk */
		if (i + 4 <= g->tail_len + m && memcmp(win + i, sig, 4) == 0)
			g->count++;
	for (q = p; n >= 4 && (q = memmem(q, n - (size_t)(q - p), sig, 4)) != NULL; q++)
		g->count++;
	if (n >= 3) {
		memcpy(g->tail, p + n - 3, 3);
		g->tail_len = 3;
	} else {
		size_t keep = g->tail_len + n < 3 ? g->tail_len + n : 3;
		memcpy(g->tail, win + g->tail_len + n - keep, keep);
		g->tail_len = keep;
	}
}

/* Reads the source to its end: hashed while hashing, signatures counted into g if given. */
static int arc_src_drain(struct arc_src *s, struct arc_sig *g)
{
	ssize_t n;

	while (s->fd >= 0 && (n = arc_read_fd(s, s->buf, ARC_BUF)) != 0) {
		if (n < 0)
			return -1;
		if (g != NULL)
			arc_sig_feed(g, s->buf, (size_t)n);
	}
	return 0;
}

/*
 * Before a seeking zip read: hashes and scans everything now, then goes
 * back to the start. The head shares the buffer the scan reused, so
 * libarchive reads it again from the fd.
 */
static int arc_src_prescan(struct arc_src *s, struct arc_sig *g)
{
	arc_sig_feed(g, s->head, s->head_len);
	if (s->fd < 0)
		return 0; /* memory: the head is the whole buffer, hashed already */
	if (arc_src_drain(s, g) < 0)
		return -1;
	s->hashing = 0;
	if (lseek(s->fd, (off_t)s->base, SEEK_SET) < 0) {
		s->io_errno = errno;
		return -1;
	}
	s->pos = 0;
	s->head_given = 1;
	return 0;
}

static la_ssize_t arc_src_read(struct archive *a, void *data, const void **out)
{
	struct arc_src *s = data;
	ssize_t n;

	if (!s->head_given) {
		s->head_given = 1;
		*out = s->head;
		return (la_ssize_t)s->head_len;
	}
	if (s->fd < 0) {
		*out = s->mem + s->pos;
		n = (ssize_t)(s->mem_len - s->pos);
		s->pos = s->mem_len;
		return n;
	}
	n = arc_read_fd(s, s->buf, ARC_BUF);
	if (n < 0) {
		archive_set_error(a, s->io_errno, "read: %s", strerror(s->io_errno));
		return -1;
	}
	*out = s->buf;
	return n;
}

/* Offsets are relative to where the archive starts in the fd (its offset when handed to us). */
static la_int64_t arc_src_seek(struct archive *a, void *data, la_int64_t off, int whence)
{
	struct arc_src *s = data;
	int64_t to = whence == SEEK_SET   ? off
	             : whence == SEEK_CUR ? (int64_t)s->pos + off
	                                  : (int64_t)s->size + off;

	if (to < 0 || (uint64_t)to > s->size) {
		archive_set_error(a, EINVAL, "seek outside the archive");
		return ARCHIVE_FATAL;
	}
	if (s->fd >= 0 && lseek(s->fd, (off_t)(s->base + (uint64_t)to), SEEK_SET) < 0) {
		s->io_errno = errno;
		archive_set_error(a, errno, "seek: %s", strerror(errno));
		return ARCHIVE_FATAL;
	}
	s->head_given = 1; /* the detection head is stale now */
	s->pos = (uint64_t)to;
	return to;
}

/* An empty zip ("PK\5\6" first) is not recognised by 3.6's seekable reader. */
static int arc_zip_seekable(const struct arc_src *s, enum arc_format f)
{
	return f == ARC_FMT_ZIP && s->seekable && s->head_len >= 4 && s->head[2] == 3;
}

/*
 * Only the formats we support: most libarchive CVEs are in the others (RAR,
 * ISO, ...). Zip is read through its central directory when the source can
 * seek: only there are modes and symlinks (the streaming reader sees every
 * entry as a plain 0644 file).
 */
static struct archive *arc_reader_new(struct arc_src *s)
{
	struct archive *a = archive_read_new();
	int zip_seek = s->zip_seek;

	if (a == NULL)
		return NULL;
	/* A filter that answers ARCHIVE_WARN would fork an external program: refuse that. */
	if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    (zip_seek ? archive_read_support_format_zip_seekable(a)
	              : archive_read_support_format_zip_streamable(a)) != ARCHIVE_OK ||
	    archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    archive_read_support_filter_xz(a) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
	    archive_read_set_read_callback(a, arc_src_read) != ARCHIVE_OK ||
	    archive_read_set_callback_data(a, s) != ARCHIVE_OK ||
	    (zip_seek && archive_read_set_seek_callback(a, arc_src_seek) != ARCHIVE_OK)) {
		archive_read_free(a);
		return NULL;
	}
	return a;
}

/* libarchive failed after detection: our read, a cut-off stream, or bad content. */
static enum arc_err arc_lib_fail(struct arc_ctx *c, const char *name)
{
	const char *msg = c->a ? archive_error_string(c->a) : NULL;

	if (c->src->io_errno != 0)
		return arc_fail(c, ARC_E_IO, NULL, "reading the archive: %s",
		                strerror(c->src->io_errno));
	if (name != NULL)
		return arc_fail(c, ARC_E_CORRUPT, name, "archive is truncated or corrupt: %s",
		                msg ? msg : "unknown error");
	return arc_fail(c, ARC_E_CORRUPT, NULL, "archive is truncated or corrupt: %s",
	                msg ? msg : "unknown error");
}

/* The magic bytes and what libarchive found must agree: no zip in a gzip, no gzip in a gzip. */
static enum arc_err arc_format_check(struct arc_ctx *c)
{
	static const int filter[] = {
	    [ARC_FMT_TAR] = ARCHIVE_FILTER_NONE,  [ARC_FMT_TAR_GZ] = ARCHIVE_FILTER_GZIP,
	    [ARC_FMT_TAR_XZ] = ARCHIVE_FILTER_XZ, [ARC_FMT_TAR_ZST] = ARCHIVE_FILTER_ZSTD,
	    [ARC_FMT_ZIP] = ARCHIVE_FILTER_NONE,
	};
	int want_fmt = c->format == ARC_FMT_ZIP ? ARCHIVE_FORMAT_ZIP : ARCHIVE_FORMAT_TAR;
	int nfilters = filter[c->format] == ARCHIVE_FILTER_NONE ? 1 : 2;

	if ((archive_format(c->a) & ARCHIVE_FORMAT_BASE_MASK) != want_fmt ||
	    archive_filter_count(c->a) != nfilters ||
	    archive_filter_code(c->a, 0) != filter[c->format])
		return arc_fail(c, ARC_E_FORMAT, NULL, "%s content is not a %s archive",
		                arc_format_name(c->format),
		                c->format == ARC_FMT_ZIP ? "plain zip" : "single tar");
	return ARC_OK;
}

/* Would extra more bytes break the size or ratio cap? */
static enum arc_err arc_caps(struct arc_ctx *c, const char *name, uint64_t extra, int declared)
{
	const struct arc_limits *lim = c->lim;
	uint64_t total = c->unpacked + extra, denom;

	if (extra > lim->max_bytes || total > lim->max_bytes)
		return arc_fail(c, ARC_E_POLICY, name, "archive unpacks to more than %llu bytes",
		                (unsigned long long)lim->max_bytes);
	if (lim->max_ratio == 0 || total <= ARC_RATIO_FLOOR)
		return ARC_OK;
	/* A declared size is only compared with the whole archive, never with a prefix. */
	if (c->archive_size == 0 && declared)
		return ARC_OK;
	denom = c->archive_size ? c->archive_size : c->src->consumed;
	if (denom == 0 || (denom <= UINT64_MAX / lim->max_ratio && total > denom * lim->max_ratio))
		return arc_fail(
		    c, ARC_E_POLICY, name,
		    "archive unpacks to more than %llu times its size (%llu bytes from %llu)",
		    (unsigned long long)lim->max_ratio, (unsigned long long)total,
		    (unsigned long long)denom);
	return ARC_OK;
}

static int arc_write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads every data block of the current entry (into fd when >= 0), under the caps. */
static enum arc_err arc_data(struct arc_ctx *c, const char *name, int fd)
{
	for (;;) {
		la_ssize_t n = archive_read_data(c->a, c->data, ARC_BUF);
		enum arc_err rc;

		if (n == 0)
			return ARC_OK;
		if (n < 0)
			return arc_lib_fail(c, name);
		if ((rc = arc_caps(c, name, (uint64_t)n, 0)) != ARC_OK)
			return rc;
		c->unpacked += (uint64_t)n;
		if (fd >= 0 && arc_write_all(fd, c->data, (size_t)n) < 0)
			return arc_fail(c, ARC_E_IO, name, "write: %s", strerror(errno));
	}
}

static enum arc_err arc_write_entry(struct arc_ctx *c, struct archive_entry *ae,
                                    const struct arc_entry *e, struct arc_node *node);

/* Names as UTF-8 whatever the locale; raw bytes when they are not UTF-8 (old tars). */
static const char *arc_name(const char *utf8, const char *mbs)
{
	return utf8 != NULL ? utf8 : mbs;
}

static enum arc_err arc_entry_do(struct arc_ctx *c, struct archive_entry *ae)
{
	struct arc_entry e;
	struct arc_node *node = NULL;
	enum arc_err rc;
	enum arc_kind kind;

	e.path = arc_name(archive_entry_pathname_utf8(ae), archive_entry_pathname(ae));
	e.type = archive_entry_filetype(ae);
	e.hardlink = arc_name(archive_entry_hardlink_utf8(ae), archive_entry_hardlink(ae));
	e.symlink = arc_name(archive_entry_symlink_utf8(ae), archive_entry_symlink(ae));
	if (++c->entries > c->lim->max_entries)
		return arc_fail(c, ARC_E_POLICY, e.path, "more than %llu entries",
		                (unsigned long long)c->lim->max_entries);
	rc = arc_entry_check(&e, c->lim, c->norm, c->lim->max_path + 1, c->err, c->errlen);
	if (rc != ARC_OK)
		return rc;
	if (archive_entry_is_encrypted(ae))
		return arc_fail(c, ARC_E_POLICY, e.path, "encrypted entries are not supported");
	if (archive_entry_size_is_set(ae) && archive_entry_size(ae) > 0 &&
	    (rc = arc_caps(c, e.path, (uint64_t)archive_entry_size(ae), 1)) != ARC_OK)
		return rc;
	kind = e.type == S_IFDIR ? ARC_K_DIR : e.type == S_IFLNK ? ARC_K_LINK : ARC_K_FILE;
	if (c->norm[0] != '\0' && (rc = arc_place(c, e.path, kind, e.symlink, &node)) != ARC_OK)
		return rc;
	if (c->root >= 0)
		return arc_write_entry(c, ae, &e, node);
	return arc_data(c, e.path, -1);
}

/*
 * Nothing could be read as an entry. A compressed stream that holds no tar
 * is unsupported (415); a tar or zip that libarchive cannot read, or a cut
 * stream, is broken (422).
 */
static enum arc_err arc_open_fail(struct arc_ctx *c)
{
	int compressed = c->format == ARC_FMT_TAR_GZ || c->format == ARC_FMT_TAR_XZ ||
	                 c->format == ARC_FMT_TAR_ZST;

	if (c->src->io_errno == 0 && compressed && archive_format(c->a) == 0 &&
	    archive_errno(c->a) == ARC_ERRNO_FILE_FORMAT)
		return arc_fail(c, ARC_E_FORMAT, NULL, "%s content is not a tar archive",
		                arc_format_name(c->format));
	return arc_lib_fail(c, NULL);
}

static enum arc_err arc_walk(struct arc_ctx *c)
{
	struct archive_entry *ae;
	enum arc_err rc;
	int r;

	for (;;) {
		r = archive_read_next_header(c->a, &ae);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return c->entries ? arc_lib_fail(c, c->norm) : arc_open_fail(c);
		if (c->entries == 0 && (rc = arc_format_check(c)) != ARC_OK)
			return rc;
		if ((rc = arc_entry_do(c, ae)) != ARC_OK)
			return rc;
	}
	if (c->entries == 0 && (rc = arc_format_check(c)) != ARC_OK)
		return rc;
	return arc_links_check(c);
}

/* ---- extraction -------------------------------------------------------- */

/*
 * Opens the directory path[0..len) below the release, one component at a
 * time with O_NOFOLLOW, creating missing ones 0755. A symlink or a file on
 * the way is a policy error. Returns a new fd or -1 with *rc set.
 */
static int arc_open_dir(struct arc_ctx *c, const char *name, const char *path, size_t len,
                        enum arc_err *rc)
{
	char comp[NAME_MAX + 1];
	int cur = c->root, nfd = -1;
	size_t i = 0;

	while (i < len) {
		size_t j = i;
		while (j < len && path[j] != '/')
			j++;
		memcpy(comp, path + i, j - i); /* components are <= NAME_MAX: arc_norm_path */
		comp[j - i] = '\0';
		i = j + 1;
		nfd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT && mkdirat(cur, comp, 0755) == 0) {
			nfd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (nfd >= 0 && fchmod(nfd, 0755) < 0) {
				close(nfd);
				nfd = -1;
			}
		}
		if (nfd < 0) {
			int e = errno;
			*rc = (e == ELOOP || e == ENOTDIR)
			          ? arc_fail(c, ARC_E_POLICY, name,
			                     "path passes through a symlink or a file")
			          : arc_fail(c, ARC_E_IO, name, "opening a directory: %s",
			                     strerror(e));
		}
		if (cur != c->root)
			close(cur);
		if (nfd < 0)
			return -1;
		cur = nfd;
	}
	return cur;
}

/* The directory holding norm, cached: archives list siblings together. Borrowed fd. */
static int arc_parent(struct arc_ctx *c, const char *name, const char *norm, const char **base,
                      enum arc_err *rc)
{
	const char *slash = strrchr(norm, '/');
	size_t len;
	int fd;

	*base = slash ? slash + 1 : norm;
	if (slash == NULL)
		return c->root;
	len = (size_t)(slash - norm);
	if (c->pfd >= 0 && c->plen == len && memcmp(c->ppath, norm, len) == 0)
		return c->pfd;
	fd = arc_open_dir(c, name, norm, len, rc);
	if (fd < 0)
		return -1;
	if (c->pfd >= 0)
		close(c->pfd);
	c->pfd = fd;
	memcpy(c->ppath, norm, len);
	c->plen = len;
	return fd;
}

static struct timespec arc_mtime(struct archive_entry *ae)
{
	struct timespec t = {.tv_sec = 0, .tv_nsec = UTIME_OMIT};

	if (archive_entry_mtime_is_set(ae)) {
		t.tv_sec = archive_entry_mtime(ae);
		t.tv_nsec = archive_entry_mtime_nsec(ae);
		if (t.tv_nsec < 0 || t.tv_nsec > 999999999)
			t.tv_nsec = 0;
	}
	return t;
}

static enum arc_err arc_write_file(struct arc_ctx *c, int pfd, const char *base, const char *name,
                                   struct archive_entry *ae)
{
	struct timespec ts[2] = {{.tv_sec = 0, .tv_nsec = UTIME_OMIT}, arc_mtime(ae)};
	enum arc_err rc;
	int fd;

	fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST ? arc_fail(c, ARC_E_POLICY, name, "path exists already")
		                       : arc_fail(c, ARC_E_IO, name, "create: %s", strerror(errno));
	rc = arc_data(c, name, fd);
	/* fchmod, not the open mode: the umask must not decide what a release looks like. */
	if (rc == ARC_OK && (fchmod(fd, arc_entry_mode(S_IFREG, archive_entry_perm(ae))) < 0 ||
	                     futimens(fd, ts) < 0))
		rc = arc_fail(c, ARC_E_IO, name, "setting mode and time: %s", strerror(errno));
	if (close(fd) < 0 && rc == ARC_OK)
		rc = arc_fail(c, ARC_E_IO, name, "close: %s", strerror(errno));
	return rc;
}

static enum arc_err arc_write_dir(struct arc_ctx *c, int pfd, const char *base, const char *name,
                                  struct archive_entry *ae, struct arc_node *node)
{
	int fd;

	if (mkdirat(pfd, base, 0755) < 0 && errno != EEXIST)
		return arc_fail(c, ARC_E_IO, name, "mkdir: %s", strerror(errno));
	fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchmod(fd, 0755) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return arc_fail(c, ARC_E_IO, name, "directory: %s", strerror(e));
	}
	close(fd);
	/* Set when everything is written: creating children would move it again. */
	node->mtime = arc_mtime(ae);
	node->has_time = node->mtime.tv_nsec != UTIME_OMIT;
	return arc_data(c, name, -1);
}

static enum arc_err arc_write_entry(struct arc_ctx *c, struct archive_entry *ae,
                                    const struct arc_entry *e, struct arc_node *node)
{
	enum arc_err rc = ARC_E_IO;
	const char *base;
	int pfd;

	if (c->norm[0] == '\0') { /* "./": the release itself */
		c->root_time = arc_mtime(ae);
		c->root_has_time = c->root_time.tv_nsec != UTIME_OMIT;
		return arc_data(c, e->path, -1);
	}
	pfd = arc_parent(c, e->path, c->norm, &base, &rc);
	if (pfd < 0)
		return rc;
	if (e->type == S_IFDIR)
		return arc_write_dir(c, pfd, base, e->path, ae, node);
	if (e->type != S_IFLNK)
		return arc_write_file(c, pfd, base, e->path, ae);
	if (symlinkat(e->symlink, pfd, base) < 0)
		return arc_fail(c, errno == EEXIST ? ARC_E_POLICY : ARC_E_IO, e->path,
		                "symlink: %s", strerror(errno));
	struct timespec ts[2] = {{.tv_sec = 0, .tv_nsec = UTIME_OMIT}, arc_mtime(ae)};
	if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return arc_fail(c, ARC_E_IO, e->path, "symlink time: %s", strerror(errno));
	return arc_data(c, e->path, -1);
}

/* Directory mtimes, last: every file written inside them has moved them. */
static enum arc_err arc_dir_times(struct arc_ctx *c)
{
	enum arc_err rc = ARC_E_IO;

	for (size_t i = 0; i < c->set.cap; i++) {
		struct arc_node *x = &c->set.slot[i];
		struct timespec ts[2];
		const char *base;
		int pfd;

		if (x->path == NULL || !x->has_time)
			continue;
		pfd = arc_parent(c, x->path, x->path, &base, &rc);
		if (pfd < 0)
			return rc;
		ts[0].tv_nsec = UTIME_OMIT;
		ts[0].tv_sec = 0;
		ts[1] = x->mtime;
		if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return arc_fail(c, ARC_E_IO, x->path, "directory time: %s",
			                strerror(errno));
	}
	return ARC_OK;
}

/* ---- the shared pass ----------------------------------------------------- */

/* max_path sizes buffers: a configured absurd value must not overflow them. */
#define ARC_MAX_PATH_LIMIT 65536

static int arc_ctx_init(struct arc_ctx *c, struct arc_src *s, const struct arc_limits *lim,
                        char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->root = c->pfd = -1;
	if (lim->max_path > ARC_MAX_PATH_LIMIT) {
		arc_seterr(err, errlen, NULL, "max_path %zu is over %d", lim->max_path,
		           ARC_MAX_PATH_LIMIT);
		return -1;
	}
	c->lim = lim;
	c->src = s;
	c->err = err;
	c->errlen = errlen;
	c->data = malloc(ARC_BUF);
	c->norm = malloc(lim->max_path + 1);
	c->ppath = malloc(lim->max_path + 1);
	c->scratch = malloc(2 * lim->max_path + 2);
	if (c->data == NULL || c->norm == NULL || c->ppath == NULL || c->scratch == NULL) {
		arc_seterr(err, errlen, NULL, "out of memory");
		return -1;
	}
	c->norm[0] = '\0';
	return 0;
}

static void arc_ctx_release(struct arc_ctx *c)
{
	if (c->a != NULL)
		archive_read_free(c->a);
	if (c->pfd >= 0)
		close(c->pfd);
	arc_set_release(&c->set);
	free(c->data);
	free(c->norm);
	free(c->ppath);
	free(c->scratch);
	c->a = NULL;
	c->pfd = -1;
	c->data = NULL;
	c->norm = c->ppath = c->scratch = NULL;
}

/* Random access to the archive (seekable sources only): 0, or -1 if out of range or on error. */
static int arc_src_pread(struct arc_src *s, uint64_t off, void *buf, size_t len)
{
	unsigned char *p = buf;

	if (off > s->size || len > s->size - off)
		return -1;
	if (s->fd < 0) {
		memcpy(buf, s->mem + off, len);
		return 0;
	}
	while (len > 0) {
		ssize_t n = pread(s->fd, p, len, (off_t)(s->base + off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static uint64_t arc_le(const unsigned char *p, int n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | p[n];
	return v;
}

/*
 * Where the central directory starts, found as libarchive does: the last end
 * record in the last 16 KiB, and its zip64 twin when a locator precedes it.
 * 0, or -1 if there is none.
 */
static int arc_zip_cd_offset(struct arc_ctx *c, uint64_t *cd)
{
	struct arc_src *s = c->src;
	size_t tail = s->size < 16384 ? (size_t)s->size : 16384, i;
	unsigned char *t = c->data, z[56];

	if (tail < 22 || arc_src_pread(s, s->size - tail, t, tail) < 0)
		return -1;
	for (i = tail - 22; i > 0 && memcmp(t + i, "PK\5\6", 4) != 0; i--)
		;
	if (i == 0)
		return -1;
	*cd = arc_le(t + i + 16, 4);
	if (i >= 20 && memcmp(t + i - 20, "PK\6\7", 4) == 0 &&
	    arc_src_pread(s, arc_le(t + i - 20 + 8, 8), z, sizeof(z)) == 0 &&
	    memcmp(z, "PK\6\6", 4) == 0)
		*cd = arc_le(z + 48, 8);
	return 0;
}

/*
 * libarchive turns backslashes into '/' in a zip name that has no '/' (a
 * Windows separator), after which the policy cannot see them: names are
 * checked raw in the central directory. A crafted zip whose local names
 * differ from its directory's gets the conversion, and the result is still
 * checked like any name: only the refusal of the backslash is lost there,
 * not the containment.
 */
static enum arc_err arc_zip_names(struct arc_ctx *c, uint64_t cap)
{
	unsigned char h[46];
	char *name = (char *)c->data; /* ARC_BUF > 65535 */
	uint64_t pos, n;

	if (arc_zip_cd_offset(c, &pos) < 0)
		return ARC_OK; /* libarchive will say what is wrong */
	for (uint64_t k = 0; k <= cap; k++) {
		if (arc_src_pread(c->src, pos, h, sizeof(h)) < 0 || memcmp(h, "PK\1\2", 4) != 0)
			break;
		n = arc_le(h + 28, 2);
		if (arc_src_pread(c->src, pos + 46, name, n) < 0)
			break;
		name[n] = '\0';
		if (memchr(name, '\\', n) != NULL)
			return arc_fail(c, ARC_E_POLICY, name, "backslash in name");
		pos += 46 + n + arc_le(h + 30, 2) + arc_le(h + 32, 2);
	}
	return ARC_OK;
}

/*
 * libarchive's seeking zip reader loads the whole central directory before
 * the first entry, and parses records from wherever the end record points
 * until it meets an end signature: with a lying end record, a 1 GiB upload
 * of 46-byte records costs gigabytes. Every record it can load starts with
 * "PK\1\2", so counting those bounds it. The margin is for stored inner
 * zips and jars, whose directories count too.
 */
static enum arc_err arc_zip_prescan(struct arc_ctx *c)
{
	struct arc_sig g = {0};
	uint64_t cap = c->lim->max_entries > UINT64_MAX / ARC_ZIP_SIG_FACTOR
	                   ? UINT64_MAX
	                   : c->lim->max_entries * ARC_ZIP_SIG_FACTOR;

	if (arc_src_prescan(c->src, &g) < 0)
		return arc_fail(c, ARC_E_IO, NULL, "reading the archive: %s",
		                strerror(c->src->io_errno));
	if (g.count > cap)
		return arc_fail(
		    c, ARC_E_POLICY, NULL,
		    "zip holds more than %llu central directory records (entries, or those "
		    "of stored inner zips)",
		    (unsigned long long)cap);
	return arc_zip_names(c, cap);
}

/*
 * Detection, then every entry under the policy. Runs in the C.UTF-8 locale
 * of this thread only, so that libarchive can give UTF-8 names back (zip and
 * pax store them so) when the daemon runs in the "C" locale.
 */
static enum arc_err arc_run(struct arc_ctx *c)
{
	locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	locale_t old = utf8 != (locale_t)0 ? uselocale(utf8) : (locale_t)0;
	enum arc_err rc;

	if (arc_src_head(c->src) < 0) {
		rc = arc_fail(c, ARC_E_IO, NULL, "reading the archive: %s",
		              strerror(c->src->io_errno));
		goto out;
	}
	c->format = arc_detect(c->src->head, c->src->head_len);
	if (c->format == ARC_FMT_UNKNOWN) {
		rc = arc_fail(c, ARC_E_FORMAT, NULL,
		              "not a tar, tar.gz, tar.xz, tar.zst or zip archive");
		goto out;
	}
	c->src->zip_seek = arc_zip_seekable(c->src, c->format);
	if (c->src->zip_seek && (rc = arc_zip_prescan(c)) != ARC_OK)
		goto out;
	c->archive_size = c->src->seekable ? c->src->size : 0;
	c->a = arc_reader_new(c->src);
	if (c->a == NULL) {
		rc = arc_fail(c, ARC_E_IO, NULL,
		              "libarchive lacks tar, zip, gzip, xz or zstd support");
		goto out;
	}
	rc = archive_read_open1(c->a) == ARCHIVE_OK ? arc_walk(c) : arc_open_fail(c);
out:
	if (c->a != NULL) {
		archive_read_free(c->a); /* inside the locale it was used with */
		c->a = NULL;
	}
	if (old != (locale_t)0)
		uselocale(old);
	if (utf8 != (locale_t)0)
		freelocale(utf8);
	return rc;
}

static enum arc_err arc_inspect_src(struct arc_src *s, const struct arc_limits *lim,
                                    struct arc_info *info, char *err, size_t errlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct arc_ctx c;
	enum arc_err rc = ARC_E_IO;

	s->md = EVP_MD_CTX_new();
	s->hashing = 1;
	if (arc_ctx_init(&c, s, lim, err, errlen) < 0)
		goto fail;
	if (s->md == NULL || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
		arc_seterr(err, errlen, NULL, "out of memory");
		goto fail;
	}
	rc = arc_run(&c);
	/* Bytes after the archive's end (tar padding, a zip's directory) are hashed too. */
	if (rc == ARC_OK && s->hashing && arc_src_drain(s, NULL) < 0)
		rc = arc_fail(&c, ARC_E_IO, NULL, "reading the archive: %s", strerror(s->io_errno));
	if (rc == ARC_OK && EVP_DigestFinal_ex(s->md, md, &mdlen) != 1)
		rc = arc_fail(&c, ARC_E_IO, NULL, "SHA-256 failed");
	if (rc == ARC_OK) {
		info->format = c.format;
		info->size = s->hashed;
		info->entries = c.entries;
		info->unpacked = c.unpacked;
		util_hex(md, mdlen, info->sha256);
	}
fail:
	arc_ctx_release(&c);
	EVP_MD_CTX_free(s->md);
	s->md = NULL;
	return rc;
}

/* An fd source: seekable (zip through its directory, ratio against the size) if a regular file. */
static int arc_src_init_fd(struct arc_src *s, int fd)
{
	struct stat st;
	off_t off;

	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->buf = malloc(ARC_BUF);
	if (s->buf == NULL)
		return -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (off = lseek(fd, 0, SEEK_CUR)) >= 0) {
		s->seekable = 1;
		s->base = (uint64_t)off;
		s->size = st.st_size > off ? (uint64_t)(st.st_size - off) : 0;
	}
	return 0;
}

/* An fd source; follow (a file still growing, its size unknown) makes it a stream. */
static enum arc_err arc_inspect_fd(int fd, const struct arc_follow *follow,
                                   const struct arc_limits *lim, struct arc_info *info, char *err,
                                   size_t errlen)
{
	struct arc_src s;
	enum arc_err rc;

	if (arc_src_init_fd(&s, fd) < 0) {
		arc_seterr(err, errlen, NULL, "out of memory");
		return ARC_E_IO;
	}
	if (follow != NULL) {
		s.seekable = 0; /* the ratio is then against what was read */
		s.size = 0;
		s.follow = follow;
	}
	rc = arc_inspect_src(&s, lim, info, err, errlen);
	free(s.buf);
	return rc;
}

enum arc_err arc_inspect(int fd, const struct arc_limits *lim, struct arc_info *info, char *err,
                         size_t errlen)
{
	return arc_inspect_fd(fd, NULL, lim, info, err, errlen);
}

enum arc_err arc_inspect_follow(int fd, const struct arc_follow *follow,
                                const struct arc_limits *lim, struct arc_info *info, char *err,
                                size_t errlen)
{
	return arc_inspect_fd(fd, follow, lim, info, err, errlen);
}

enum arc_err arc_inspect_mem(const void *buf, size_t len, const struct arc_limits *lim,
                             struct arc_info *info, char *err, size_t errlen)
{
	struct arc_src s = {.fd = -1, .mem = buf, .mem_len = len, .seekable = 1, .size = len};

	return arc_inspect_src(&s, lim, info, err, errlen);
}

/* Makes the release durable, then visible under dest in one rename. */
static enum arc_err arc_commit(struct arc_ctx *c, const char *partial, const char *dest)
{
	enum arc_err rc = arc_dir_times(c);
	char *parent = NULL, *slash;

	if (rc != ARC_OK)
		return rc;
	if (c->root_has_time) {
		struct timespec ts[2] = {{.tv_sec = 0, .tv_nsec = UTIME_OMIT}, c->root_time};
		futimens(c->root, ts);
	}
	if (fchmod(c->root, 0755) < 0 || syncfs(c->root) < 0)
		return arc_fail(c, ARC_E_IO, NULL, "%s: %s", partial, strerror(errno));
	if (renameat2(AT_FDCWD, partial, AT_FDCWD, dest, RENAME_NOREPLACE) < 0) {
		/* Some filesystems lack RENAME_NOREPLACE; dest was checked absent before. */
		if ((errno != EINVAL && errno != ENOSYS) || rename(partial, dest) < 0)
			return arc_fail(c, ARC_E_IO, NULL, "rename to %s: %s", dest,
			                strerror(errno));
	}
	parent = strdup(dest);
	if (parent != NULL && (slash = strrchr(parent, '/')) != NULL) {
		*(slash == parent ? slash + 1 : slash) = '\0';
		if (util_fsync_dir(parent) < 0)
			log_warn("fsync %s: %s", parent, strerror(errno));
	} else if (parent != NULL && util_fsync_dir(".") < 0) {
		log_warn("fsync .: %s", strerror(errno));
	}
	free(parent);
	return ARC_OK;
}

/* dest without trailing slashes, and "dest.partial-<16 hex>" beside it. */
static int arc_partial_name(const char *dest, char **clean, char **partial)
{
	size_t len = strlen(dest);
	unsigned char rnd[8];
	char hex[17];

	while (len > 1 && dest[len - 1] == '/')
		len--;
	*clean = strndup(dest, len);
	*partial = malloc(len + sizeof(".partial-") + 16);
	if (*clean == NULL || *partial == NULL || util_random(rnd, sizeof(rnd)) < 0)
		return -1;
	util_hex(rnd, sizeof(rnd), hex);
	sprintf(*partial, "%s.partial-%s", *clean, hex);
	return 0;
}

enum arc_err arc_extract(const char *archive_path, const char *dest, const struct arc_limits *lim,
                         char *err, size_t errlen)
{
	struct arc_src s = {.fd = -1};
	struct arc_ctx c;
	struct stat st;
	char *clean = NULL, *partial = NULL;
	enum arc_err rc = ARC_E_IO;
	int made = 0, fd = -1;

	if (arc_ctx_init(&c, &s, lim, err, errlen) < 0)
		goto fail;
	if (arc_partial_name(dest, &clean, &partial) < 0) {
		arc_seterr(err, errlen, NULL, "out of memory");
		goto fail;
	}
	if (strcmp(clean, "/") == 0 || clean[0] == '\0' || lstat(clean, &st) == 0 ||
	    errno != ENOENT) {
		arc_seterr(err, errlen, NULL, "%s: exists already, or cannot be checked", dest);
		goto fail;
	}
	fd = open(archive_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		arc_seterr(err, errlen, NULL, "%s: %s", archive_path, strerror(errno));
		goto fail;
	}
	if (arc_src_init_fd(&s, fd) < 0) {
		arc_seterr(err, errlen, NULL, "out of memory");
		goto fail;
	}
	/* 0700 while incomplete: nobody reads a release that is still being written. */
	if (mkdir(partial, 0700) < 0) {
		arc_seterr(err, errlen, NULL, "mkdir %s: %s", partial, strerror(errno));
		goto fail;
	}
	made = 1;
	c.root = open(partial, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (c.root < 0) {
		arc_seterr(err, errlen, NULL, "%s: %s", partial, strerror(errno));
		goto fail;
	}
	rc = arc_run(&c);
	if (rc == ARC_OK)
		rc = arc_commit(&c, partial, clean);
fail:
	if (c.root >= 0)
		close(c.root);
	arc_ctx_release(&c);
	if (rc != ARC_OK && made && util_rm_rf(partial) < 0)
		log_warn("removing %s: %s", partial, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(s.buf);
	free(clean);
	free(partial);
	return rc;
}
