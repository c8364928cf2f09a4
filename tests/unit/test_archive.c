/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for common/archive.c and runner/bundle.c: the pure per-entry
 * policy, then real inspect/extract/bundle runs on archives this test builds
 * with libarchive in a mkdtemp directory (hostile ones included). It needs
 * no network and no fixtures; it does not test the HTTP codes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "archive.h" /* ours, and libarchive's through it */
#include "bundle.h"
#include "util.h"

#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"

static char tmp[256]; /* the mkdtemp directory */

/* ---- building archives ------------------------------------------------- */

struct tent {
	const char *name;
	mode_t type; /* 0: regular */
	mode_t perm;
	const char *data; /* NULL: zeros bytes of zeros */
	uint64_t zeros;
	const char *link; /* symlink target, or hardlink target when hard */
	int hard;
	int unknown_size; /* zip: no size in the header (a data descriptor) */
	time_t mtime;
};

static struct archive *writer(const char *path, enum arc_format f)
{
	struct archive *a = archive_write_new();

	if (f == ARC_FMT_ZIP)
		archive_write_set_format_zip(a);
	else
		archive_write_set_format_pax_restricted(a);
	if (f == ARC_FMT_TAR_GZ)
		archive_write_add_filter_gzip(a);
	if (f == ARC_FMT_TAR_XZ)
		archive_write_add_filter_xz(a);
	if (f == ARC_FMT_TAR_ZST)
		archive_write_add_filter_zstd(a);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK) {
		fprintf(stderr, "open %s: %s\n", path, archive_error_string(a));
		archive_write_free(a);
		return NULL;
	}
	return a;
}

static void write_zeros(struct archive *a, uint64_t n)
{
	static const char z[65536];

	while (n > 0) {
		size_t k = n < sizeof(z) ? (size_t)n : sizeof(z);
		archive_write_data(a, z, k);
		n -= k;
	}
}

static void add(struct archive *a, const struct tent *t)
{
	struct archive_entry *e = archive_entry_new();
	mode_t type = t->type ? t->type : AE_IFREG;
	uint64_t size = t->data ? strlen(t->data) : t->zeros;

	archive_entry_set_pathname(e, t->name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, t->perm ? t->perm : (type == AE_IFDIR ? 0755 : 0644));
	archive_entry_set_mtime(e, t->mtime ? t->mtime : 1600000000, 0);
	if (type == AE_IFLNK)
		archive_entry_set_symlink(e, t->link);
	if (t->hard)
		archive_entry_set_hardlink(e, t->link);
	if (type == AE_IFCHR)
		archive_entry_set_rdev(e, makedev(1, 3));
	if (type == AE_IFREG && !t->hard && !t->unknown_size)
		archive_entry_set_size(e, (la_int64_t)size);
	if (archive_write_header(a, e) != ARCHIVE_OK)
		fprintf(stderr, "header %s: %s\n", t->name, archive_error_string(a));
	if (type == AE_IFREG && !t->hard) {
		if (t->data)
			archive_write_data(a, t->data, strlen(t->data));
		else
			write_zeros(a, t->zeros);
	}
	archive_entry_free(e);
}

static int build(const char *path, enum arc_format f, const struct tent *t, size_t n)
{
	struct archive *a = writer(path, f);

	if (a == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		add(a, &t[i]);
	archive_write_close(a);
	archive_write_free(a);
	return 0;
}

static char *tpath(const char *name)
{
	static char buf[8][512];
	static int k;

	k = (k + 1) % 8;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmp, name);
	return buf[k];
}

static int read_all(const char *path, char **out, size_t *len)
{
	return util_read_file(path, 1 << 30, out, len);
}

static int write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc = fd >= 0 && write(fd, buf, len) == (ssize_t)len ? 0 : -1;

	if (fd >= 0)
		close(fd);
	return rc;
}

/* Entries of tmp whose name contains ".partial-": extraction must leave none. */
static int partials(void)
{
	DIR *d = opendir(tmp);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)) != NULL)
		n += strstr(de->d_name, ".partial-") != NULL;
	if (d)
		closedir(d);
	return n;
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static enum arc_err inspect_path(const char *path, const struct arc_limits *lim,
                                 struct arc_info *info, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	enum arc_err rc;

	if (fd < 0)
		return ARC_E_IO;
	rc = arc_inspect(fd, lim, info, err, errlen);
	close(fd);
	return rc;
}

/* Both inspect and extract refuse path with want and reason; nothing is left behind. */
static void expect_refused(const char *path, const struct arc_limits *lim, enum arc_err want,
                           const char *reason)
{
	struct arc_info info;
	char err[512] = "", err2[512] = "";
	char *dest = tpath("refused");
	enum arc_err rc = inspect_path(path, lim, &info, err, sizeof(err));

	CHECK(rc == want);
	CHECK(strstr(err, reason) != NULL);
	if (rc != want || strstr(err, reason) == NULL)
		fprintf(stderr, "  %s: inspect gave %d '%s', want %d '%s'\n", path, rc, err, want,
		        reason);
	rc = arc_extract(path, dest, lim, err2, sizeof(err2));
	CHECK(rc == want);
	CHECK(strstr(err2, reason) != NULL);
	if (rc != want || strstr(err2, reason) == NULL)
		fprintf(stderr, "  %s: extract gave %d '%s', want %d '%s'\n", path, rc, err2, want,
		        reason);
	CHECK(!exists(dest));
	CHECK(partials() == 0);
}

/* ---- the pure policy ------------------------------------------------------ */

static enum arc_err check(const char *path, mode_t type, const char *sym, const char *hard,
                          char *norm, char *err)
{
	struct arc_limits lim;
	struct arc_entry e = {.path = path, .type = type, .symlink = sym, .hardlink = hard};

	arc_limits_default(&lim);
	return arc_entry_check(&e, &lim, norm, 2048, err, 256);
}

static void test_policy_names(void)
{
	char norm[2048], err[256], long_name[1100], comp[300];

	CHECK(check("a/b.txt", S_IFREG, NULL, NULL, norm, err) == ARC_OK &&
	      strcmp(norm, "a/b.txt") == 0);
	CHECK(check("./a//b/./c", S_IFREG, NULL, NULL, norm, err) == ARC_OK &&
	      strcmp(norm, "a/b/c") == 0);
	CHECK(check("dir/", S_IFDIR, NULL, NULL, norm, err) == ARC_OK && strcmp(norm, "dir") == 0);
	CHECK(check("./", S_IFDIR, NULL, NULL, norm, err) == ARC_OK && norm[0] == '\0');
	CHECK(check("./", S_IFREG, NULL, NULL, norm, err) == ARC_E_POLICY);
	CHECK(check("", S_IFREG, NULL, NULL, norm, err) == ARC_E_POLICY);
	CHECK(check(NULL, S_IFREG, NULL, NULL, norm, err) == ARC_E_POLICY);
	CHECK(check("/etc/passwd", S_IFREG, NULL, NULL, norm, err) == ARC_E_POLICY &&
	      strstr(err, "absolute") != NULL);
	CHECK(check("x/../../etc/passwd", S_IFREG, NULL, NULL, norm, err) == ARC_E_POLICY);
	CHECK(strcmp(err, "entry 'x/../../etc/passwd': path escapes the release") == 0);
	CHECK(check("a/../b", S_IFREG, NULL, NULL, norm, err) == ARC_E_POLICY &&
	      strstr(err, "'..'"));
	CHECK(check("..", S_IFDIR, NULL, NULL, norm, err) == ARC_E_POLICY);
	CHECK(check("../x", S_IFREG, NULL, NULL, norm, err) == ARC_E_POLICY);
	CHECK(check("a\\b", S_IFREG, NULL, NULL, norm, err) == ARC_E_POLICY &&
	      strstr(err, "backslash"));
	CHECK(check("..\\..\\x", S_IFREG, NULL, NULL, norm, err) == ARC_E_POLICY);
	/* Control bytes in a name never reach the message. */
	CHECK(check("a\nb/../../x", S_IFREG, NULL, NULL, norm, err) == ARC_E_POLICY &&
	      strstr(err, "a?b") != NULL && strchr(err, '\n') == NULL);
	memset(long_name, 'a', sizeof(long_name));
	for (size_t i = 100; i < sizeof(long_name); i += 101)
		long_name[i] = '/';
	long_name[1024] = '\0';
	CHECK(check(long_name, S_IFREG, NULL, NULL, norm, err) == ARC_OK);
	long_name[1024] = 'a';
	long_name[1025] = '\0';
	CHECK(check(long_name, S_IFREG, NULL, NULL, norm, err) == ARC_E_POLICY &&
	      strstr(err, "longer"));
	memset(comp, 'c', sizeof(comp));
	comp[256] = '\0';
	CHECK(check(comp, S_IFREG, NULL, NULL, norm, err) == ARC_E_POLICY && strstr(err, "255"));
	comp[255] = '\0';
	CHECK(check(comp, S_IFREG, NULL, NULL, norm, err) == ARC_OK);
}

static void test_policy_types(void)
{
	char norm[2048], err[256];

	CHECK(check("h", S_IFREG, NULL, "a.txt", norm, err) == ARC_E_POLICY &&
	      strstr(err, "hardlink"));
	CHECK(check("d", S_IFCHR, NULL, NULL, norm, err) == ARC_E_POLICY && strstr(err, "device"));
	CHECK(check("d", S_IFBLK, NULL, NULL, norm, err) == ARC_E_POLICY && strstr(err, "device"));
	CHECK(check("p", S_IFIFO, NULL, NULL, norm, err) == ARC_E_POLICY && strstr(err, "FIFO"));
	CHECK(check("s", S_IFSOCK, NULL, NULL, norm, err) == ARC_E_POLICY && strstr(err, "socket"));
	CHECK(check("x", 0, NULL, NULL, norm, err) == ARC_E_POLICY);
	CHECK(check("a/l", S_IFLNK, "../b", NULL, norm, err) == ARC_OK);
	CHECK(check("a/l", S_IFLNK, "../../b", NULL, norm, err) == ARC_E_POLICY &&
	      strstr(err, "leaves the release"));
	CHECK(check("l", S_IFLNK, "..", NULL, norm, err) == ARC_E_POLICY);
	CHECK(check("d/l", S_IFLNK, "..", NULL, norm, err) == ARC_OK);
	CHECK(check("l", S_IFLNK, ".", NULL, norm, err) == ARC_OK);
	CHECK(check("l", S_IFLNK, "a/../../b", NULL, norm, err) == ARC_E_POLICY);
	CHECK(check("l", S_IFLNK, "/etc", NULL, norm, err) == ARC_E_POLICY &&
	      strstr(err, "absolute"));
	CHECK(check("l", S_IFLNK, "", NULL, norm, err) == ARC_E_POLICY);
	CHECK(check("l", S_IFLNK, NULL, NULL, norm, err) == ARC_E_POLICY);
	CHECK(check("l", S_IFLNK, "a\\b", NULL, norm, err) == ARC_E_POLICY);
	CHECK(arc_entry_mode(S_IFREG, 04755) == 0755);
	CHECK(arc_entry_mode(S_IFREG, 02644) == 0644);
	CHECK(arc_entry_mode(S_IFREG, 0600) == 0644);
	CHECK(arc_entry_mode(S_IFREG, 0100) == 0755);
	CHECK(arc_entry_mode(S_IFDIR, 01777) == 0755);
}

static void test_detect(void)
{
	unsigned char b[1024] = {0};
	unsigned sum = 0;

	CHECK(arc_detect(NULL, 0) == ARC_FMT_UNKNOWN);
	CHECK(arc_detect((const unsigned char *)"\x1f\x8b", 2) == ARC_FMT_TAR_GZ);
	CHECK(arc_detect((const unsigned char *)"\x1f", 1) == ARC_FMT_UNKNOWN);
	CHECK(arc_detect((const unsigned char *)"\xfd"
	                                        "7zXZ\0",
	                 6) == ARC_FMT_TAR_XZ);
	CHECK(arc_detect((const unsigned char *)"\x28\xb5\x2f\xfd", 4) == ARC_FMT_TAR_ZST);
	CHECK(arc_detect((const unsigned char *)"PK\3\4", 4) == ARC_FMT_ZIP);
	CHECK(arc_detect((const unsigned char *)"PK\5\6", 4) == ARC_FMT_ZIP);
	CHECK(arc_detect((const unsigned char *)"PK\1\2", 4) == ARC_FMT_UNKNOWN);
	CHECK(arc_detect(b, sizeof(b)) == ARC_FMT_TAR); /* an empty tar */
	CHECK(arc_detect(b, 512) == ARC_FMT_UNKNOWN);
	memcpy(b + 257, "ustar", 5);
	CHECK(arc_detect(b, 512) == ARC_FMT_TAR);
	CHECK(arc_detect(b, 300) == ARC_FMT_UNKNOWN);
	/* An old-style (v7) header: no magic, only its checksum. */
	memset(b, 0, sizeof(b));
	strcpy((char *)b, "file.txt");
	memcpy(b + 100, "0000644", 7);
	memset(b + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += b[i];
	snprintf((char *)b + 148, 8, "%06o", sum);
	CHECK(arc_detect(b, 512) == ARC_FMT_TAR);
	b[0] = 'F';
	CHECK(arc_detect(b, 512) == ARC_FMT_UNKNOWN);
	CHECK(strcmp(arc_format_name(ARC_FMT_TAR_ZST), "tar.zst") == 0);
	CHECK(strcmp(arc_format_name(ARC_FMT_ZIP), "zip") == 0);
	CHECK(strcmp(arc_format_name((enum arc_format)42), "unknown") == 0);
}

/* ---- real runs ------------------------------------------------------------ */

static const struct tent good[] = {
    {.name = "app/", .type = AE_IFDIR, .mtime = 1000000000},
    {.name = "app/run.sh", .perm = 0755, .data = "#!/bin/sh\necho hi\n", .mtime = 1234567890},
    {.name = "app/data.txt", .data = "data\n"},
    {.name = "app/suid", .perm = 04755, .data = "x"},
    {.name = "app/current", .type = AE_IFLNK, .link = "data.txt"},
    {.name = "app/sub/deep.txt", .perm = 0600, .data = "deep\n"},
};

static void check_release(const char *dest)
{
	char p[600], link[64];
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;

	snprintf(p, sizeof(p), "%s/app/run.sh", dest);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0755 && st.st_mtime == 1234567890);
	CHECK(st.st_uid == getuid());
	snprintf(p, sizeof(p), "%s/app/suid", dest);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0755);
	snprintf(p, sizeof(p), "%s/app/sub/deep.txt", dest);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0644);
	snprintf(p, sizeof(p), "%s/app/sub", dest);
	CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0755);
	snprintf(p, sizeof(p), "%s/app", dest);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0755 && st.st_mtime == 1000000000);
	CHECK(stat(dest, &st) == 0 && (st.st_mode & 07777) == 0755);
	snprintf(p, sizeof(p), "%s/app/current", dest);
	n = readlink(p, link, sizeof(link) - 1);
	CHECK(n == 8 && memcmp(link, "data.txt", 8) == 0);
	CHECK(read_all(p, &buf, &len) == 0 && len == 5 && memcmp(buf, "data\n", 5) == 0);
	free(buf);
}

/* Bigger than one 256 KiB read: the zip pre-read must not disturb what libarchive reads. */
static void test_big_zip(void)
{
	static char rnd[700001];
	struct arc_limits lim;
	struct arc_info info;
	struct stat st;
	char err[256] = "";
	unsigned char r[700000];

	arc_limits_default(&lim);
	CHECK(util_random(r, sizeof(r)) == 0);
	for (size_t i = 0; i < sizeof(r); i++)
		rnd[i] = (char)(r[i] % 94 + 33);
	const struct tent big[] = {{.name = "bin/tool", .perm = 0755, .data = rnd},
	                           {.name = "bin/link", .type = AE_IFLNK, .link = "tool"}};
	build(tpath("big.zip"), ARC_FMT_ZIP, big, 2);
	CHECK(stat(tpath("big.zip"), &st) == 0 && st.st_size > 512 * 1024);
	CHECK(inspect_path(tpath("big.zip"), &lim, &info, err, sizeof(err)) == ARC_OK);
	CHECK(info.entries == 2 && info.unpacked == sizeof(r) && info.size == (uint64_t)st.st_size);
	CHECK(arc_extract(tpath("big.zip"), tpath("rel-bigzip"), &lim, err, sizeof(err)) == ARC_OK);
	CHECK(stat(tpath("rel-bigzip/bin/tool"), &st) == 0 && (st.st_mode & 07777) == 0755);
	CHECK(st.st_size == (off_t)sizeof(r));
	CHECK(lstat(tpath("rel-bigzip/bin/link"), &st) == 0 && S_ISLNK(st.st_mode));
}

static void test_good(enum arc_format f)
{
	struct arc_limits lim;
	struct arc_info info, minfo;
	char name[64], err[512] = "", sha[65], *bytes = NULL;
	size_t len = 0;
	char *path, *dest;
	enum arc_err rc;

	arc_limits_default(&lim);
	snprintf(name, sizeof(name), "good.%s", arc_format_name(f));
	path = tpath(name);
	snprintf(name, sizeof(name), "rel-%s", arc_format_name(f));
	dest = tpath(name);
	CHECK(build(path, f, good, sizeof(good) / sizeof(good[0])) == 0);
	rc = inspect_path(path, &lim, &info, err, sizeof(err));
	if (rc != ARC_OK)
		fprintf(stderr, "  %s: %s\n", path, err);
	CHECK(rc == ARC_OK);
	CHECK(info.format == f);
	CHECK(info.entries == 6);
	CHECK(info.unpacked == 18 + 5 + 1 + 5);
	CHECK(read_all(path, &bytes, &len) == 0);
	util_sha256_hex(bytes, len, sha);
	CHECK(info.size == len && strcmp(info.sha256, sha) == 0);
	CHECK(arc_inspect_mem(bytes, len, &lim, &minfo, err, sizeof(err)) == ARC_OK);
	CHECK(strcmp(minfo.sha256, sha) == 0 && minfo.entries == 6 && minfo.format == f);
	free(bytes);
	rc = arc_extract(path, dest, &lim, err, sizeof(err));
	if (rc != ARC_OK)
		fprintf(stderr, "  extract %s: %s\n", path, err);
	CHECK(rc == ARC_OK);
	check_release(dest);
	CHECK(partials() == 0);
	/* dest must not exist: a second extraction changes nothing. */
	CHECK(arc_extract(path, dest, &lim, err, sizeof(err)) == ARC_E_IO);
	check_release(dest);
	CHECK(partials() == 0);
}

/* fd is read from its current offset; the hash covers exactly those bytes. */
static void test_offset(void)
{
	struct arc_limits lim;
	struct arc_info info;
	char err[256], sha[65], *bytes = NULL, *all;
	size_t len = 0;
	int fd;

	arc_limits_default(&lim);
	CHECK(read_all(tpath("good.tar.gz"), &bytes, &len) == 0);
	all = malloc(len + 100);
	memset(all, 'J', 100);
	memcpy(all + 100, bytes, len);
	CHECK(write_file(tpath("offset.bin"), all, len + 100) == 0);
	util_sha256_hex(bytes, len, sha);
	fd = open(tpath("offset.bin"), O_RDONLY | O_CLOEXEC);
	CHECK(lseek(fd, 100, SEEK_SET) == 100);
	CHECK(arc_inspect(fd, &lim, &info, err, sizeof(err)) == ARC_OK);
	CHECK(info.size == len && strcmp(info.sha256, sha) == 0);
	CHECK(lseek(fd, 0, SEEK_CUR) == (off_t)(len + 100));
	close(fd);
	free(bytes);
	free(all);
}

/*
 * A file that grows while it is read (nginx still writing an upload): the
 * feed callback appends the next piece of src at every EOF, in uneven
 * pieces, and says when there is no more.
 */
struct grower {
	int out;
	const char *src;
	size_t len, off, step;
	int eofs, reads, give_up_at;
};

static int grow(void *arg, uint64_t consumed, int at_eof)
{
	struct grower *g = arg;
	size_t n;

	if (!at_eof) {
		g->reads++;
		CHECK(consumed <= g->off);
		return 0;
	}
	g->eofs++;
	CHECK(consumed == g->off); /* EOF only where the file ends */
	if (g->give_up_at && g->eofs == g->give_up_at)
		return -1;
	if (g->off == g->len)
		return 0;
	n = g->step < g->len - g->off ? g->step : g->len - g->off;
	CHECK(write(g->out, g->src + g->off, n) == (ssize_t)n);
	g->off += n;
	g->step = g->step * 3 % 70001 + 1; /* uneven pieces, from 1 byte to 70 kB */
	return 1;
}

static enum arc_err follow_path(const char *src, struct grower *g, const struct arc_limits *lim,
                                struct arc_info *info, char *err, size_t errlen)
{
	char *bytes = NULL, *grown = tpath("growing");
	size_t len = 0;
	enum arc_err rc;
	int in;

	CHECK(read_all(src, &bytes, &len) == 0);
	g->src = bytes;
	g->len = len;
	g->out = open(grown, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	in = open(grown, O_RDONLY | O_CLOEXEC);
	struct arc_follow af = {.feed = grow, .arg = g};
	rc = arc_inspect_follow(in, &af, lim, info, err, errlen);
	close(in);
	close(g->out);
	free(bytes);
	return rc;
}

static void test_follow(void)
{
	static const enum arc_format fmts[] = {ARC_FMT_TAR, ARC_FMT_TAR_GZ, ARC_FMT_TAR_XZ,
	                                       ARC_FMT_TAR_ZST};
	const struct tent big[] = {{.name = "a/big.bin", .zeros = 3u << 20},
	                           {.name = "a/small", .data = "hello"},
	                           {.name = "a/l", .type = S_IFLNK, .link = "small"}};
	struct arc_limits lim;
	struct arc_info want, got;
	char err[512] = "", name[64];

	arc_limits_default(&lim);
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		struct grower g = {.step = 1};
		snprintf(name, sizeof(name), "follow.%s", arc_format_name(fmts[i]));
		CHECK(build(tpath(name), fmts[i], big, 3) == 0);
		CHECK(inspect_path(tpath(name), &lim, &want, err, sizeof(err)) == ARC_OK);
		memset(&got, 0, sizeof(got));
		CHECK(follow_path(tpath(name), &g, &lim, &got, err, sizeof(err)) == ARC_OK);
		/* the same verdict, digest and counts as a pass over the finished file */
		CHECK(got.format == want.format && got.size == want.size &&
		      got.entries == want.entries && got.unpacked == want.unpacked &&
		      strcmp(got.sha256, want.sha256) == 0);
		CHECK(g.eofs > 2 && g.reads > 2 && g.off == g.len);
	}
	/* the feed gives up (nginx dropped the upload): an I/O failure, nothing else */
	struct grower g = {.step = 4096, .give_up_at = 3};
	CHECK(follow_path(tpath("follow.tar"), &g, &lim, &got, err, sizeof(err)) == ARC_E_IO);
	CHECK(strstr(err, strerror(ECANCELED)) != NULL);
	/* a hostile entry is refused as it arrives, with the same reason */
	const struct tent abs[] = {{.name = "ok", .data = "x"}, {.name = "/etc/evil", .data = "x"}};
	CHECK(build(tpath("follow-abs.tar.gz"), ARC_FMT_TAR_GZ, abs, 2) == 0);
	struct grower h = {.step = 100};
	CHECK(follow_path(tpath("follow-abs.tar.gz"), &h, &lim, &got, err, sizeof(err)) ==
	      ARC_E_POLICY);
	CHECK(strstr(err, "/etc/evil") != NULL);
}

static void test_hostile(void)
{
	struct arc_limits lim;

	arc_limits_default(&lim);
	const struct tent abs[] = {{.name = "/tmp/hostagent-test-abs", .data = "x"}};
	build(tpath("abs.tar"), ARC_FMT_TAR, abs, 1);
	expect_refused(tpath("abs.tar"), &lim, ARC_E_POLICY, "absolute path");
	CHECK(!exists("/tmp/hostagent-test-abs"));

	const struct tent dots[] = {
	    {.name = "ok.txt", .data = "ok"},
	    {.name = "x/../../etc/passwd", .data = "root::0:0::/:/bin/sh\n"}};
	build(tpath("dots.tar"), ARC_FMT_TAR, dots, 2);
	expect_refused(tpath("dots.tar"), &lim, ARC_E_POLICY,
	               "entry 'x/../../etc/passwd': path escapes the release");

	/* An escaping symlink, then a file written through it. */
	const struct tent esc[] = {{.name = "evil", .type = AE_IFLNK, .link = "../../.."},
	                           {.name = "evil/pwned.txt", .data = "owned"}};
	build(tpath("esc.tar"), ARC_FMT_TAR, esc, 2);
	expect_refused(tpath("esc.tar"), &lim, ARC_E_POLICY, "symlink target leaves the release");
	CHECK(!exists(tpath("../pwned.txt")) && !exists(tpath("pwned.txt")));

	/* A symlink inside the release still may not be written through. */
	const struct tent thru[] = {{.name = "d/", .type = AE_IFDIR},
	                            {.name = "l", .type = AE_IFLNK, .link = "d"},
	                            {.name = "l/x.txt", .data = "x"}};
	build(tpath("thru.tar"), ARC_FMT_TAR, thru, 3);
	expect_refused(tpath("thru.tar"), &lim, ARC_E_POLICY, "path passes through symlink 'l'");

	/* Each link is inside on its own; together t is the release's parent. */
	const struct tent chain[] = {{.name = "s", .type = AE_IFLNK, .link = "."},
	                             {.name = "t", .type = AE_IFLNK, .link = "s/.."}};
	build(tpath("chain.tar"), ARC_FMT_TAR, chain, 2);
	expect_refused(tpath("chain.tar"), &lim, ARC_E_POLICY, "passes through symlink 's'");

	const struct tent abslink[] = {{.name = "etc", .type = AE_IFLNK, .link = "/etc"}};
	build(tpath("abslink.tar"), ARC_FMT_TAR, abslink, 1);
	expect_refused(tpath("abslink.tar"), &lim, ARC_E_POLICY, "symlink target is absolute");

	const struct tent hard[] = {{.name = "a.txt", .data = "a"},
	                            {.name = "h", .hard = 1, .link = "a.txt"}};
	build(tpath("hard.tar"), ARC_FMT_TAR, hard, 2);
	expect_refused(tpath("hard.tar"), &lim, ARC_E_POLICY,
	               "entry 'h': hardlinks are not allowed");

	const struct tent dev[] = {{.name = "null", .type = AE_IFCHR}};
	build(tpath("dev.tar"), ARC_FMT_TAR, dev, 1);
	expect_refused(tpath("dev.tar"), &lim, ARC_E_POLICY, "device files are not allowed");

	const struct tent fifo[] = {{.name = "fifo", .type = AE_IFIFO}};
	build(tpath("fifo.tar"), ARC_FMT_TAR, fifo, 1);
	expect_refused(tpath("fifo.tar"), &lim, ARC_E_POLICY, "FIFOs are not allowed");

	const struct tent dup[] = {{.name = "a.txt", .data = "a"},
	                           {.name = "./a.txt", .data = "b"}};
	build(tpath("dup.tar"), ARC_FMT_TAR, dup, 2);
	expect_refused(tpath("dup.tar"), &lim, ARC_E_POLICY, "holds this path twice");

	const struct tent under[] = {{.name = "f", .data = "a"}, {.name = "f/x", .data = "b"}};
	build(tpath("under.tar"), ARC_FMT_TAR, under, 2);
	expect_refused(tpath("under.tar"), &lim, ARC_E_POLICY, "passes through file 'f'");

	const struct tent bs[] = {{.name = "a\\b.txt", .data = "a"}};
	build(tpath("bs.tar"), ARC_FMT_TAR, bs, 1);
	expect_refused(tpath("bs.tar"), &lim, ARC_E_POLICY, "backslash in name");
}

/*
 * libarchive turns backslashes into '/' in a zip name without '/' (a Windows
 * separator): the raw names of the central directory are checked instead.
 */
static void test_zip_backslash(void)
{
	struct arc_limits lim;
	struct arc_info info;
	char err[256], *bytes = NULL;
	size_t len = 0;
	int p[2];

	arc_limits_default(&lim);
	const struct tent evil[] = {{.name = "..\\..\\evil.txt", .data = "x"}};
	build(tpath("bs-evil.zip"), ARC_FMT_ZIP, evil, 1);
	expect_refused(tpath("bs-evil.zip"), &lim, ARC_E_POLICY, "backslash in name");
	CHECK(!exists(tpath("../evil.txt")));

	const struct tent plain[] = {{.name = "ok.txt", .data = "ok"},
	                             {.name = "bin\\svc.sh", .perm = 0755, .data = "#!/bin/sh\n"}};
	build(tpath("bs-plain.zip"), ARC_FMT_ZIP, plain, 2);
	expect_refused(tpath("bs-plain.zip"), &lim, ARC_E_POLICY, "entry 'bin\\svc.sh': backslash");

	const struct tent mixed[] = {{.name = "dir/a\\b.txt", .data = "x"}};
	build(tpath("bs-mixed.zip"), ARC_FMT_ZIP, mixed, 1);
	expect_refused(tpath("bs-mixed.zip"), &lim, ARC_E_POLICY, "backslash in name");

	/* From a pipe there is no directory to read: the converted name is still contained. */
	CHECK(read_all(tpath("bs-evil.zip"), &bytes, &len) == 0 && pipe(p) == 0);
	CHECK(write(p[1], bytes, len) == (ssize_t)len);
	close(p[1]);
	CHECK(arc_inspect(p[0], &lim, &info, err, sizeof(err)) == ARC_E_POLICY);
	CHECK(strstr(err, "path escapes the release") != NULL);
	close(p[0]);
	free(bytes);

	const struct tent utf8[] = {{.name = "donn\xc3\xa9"
	                                     "es.txt",
	                             .data = "utf8"}};
	build(tpath("utf8.zip"), ARC_FMT_ZIP, utf8, 1);
	CHECK(arc_extract(tpath("utf8.zip"), tpath("rel-utf8"), &lim, err, sizeof(err)) == ARC_OK);
	CHECK(exists(tpath("rel-utf8/donn\xc3\xa9"
	                   "es.txt")));
}

/* A zip whose directory records would make libarchive allocate without bound. */
static void test_zip_directory_cap(void)
{
	struct arc_limits lim;
	struct arc_info info;
	char err[256] = "";
	size_t len = 600 * 1024, at;
	unsigned char *buf = calloc(1, len);

	arc_limits_default(&lim);
	lim.max_entries = 10; /* 80 directory signatures allowed */
	memcpy(buf, "PK\3\4", 4);
	for (int i = 0; i < 79; i++)
		memcpy(buf + 4096 + (size_t)i * 100, "PK\1\2", 4);
	/* Two that straddle the 256 KiB reads of the fd path. */
	for (at = 256 * 1024 - 2; at < len; at += 256 * 1024)
		memcpy(buf + at, "PK\1\2", 4);
	CHECK(write_file(tpath("cdbomb.zip"), buf, len) == 0);
	expect_refused(tpath("cdbomb.zip"), &lim, ARC_E_POLICY, "more than 80 central directory");
	CHECK(arc_inspect_mem(buf, len, &lim, &info, err, sizeof(err)) == ARC_E_POLICY);
	memset(buf + 256 * 1024 - 2, 0, 4); /* 80: allowed, and then libarchive finds it broken */
	CHECK(write_file(tpath("cdbomb.zip"), buf, len) == 0);
	CHECK(inspect_path(tpath("cdbomb.zip"), &lim, &info, err, sizeof(err)) == ARC_E_CORRUPT);
	free(buf);
}

static void test_entry_cap(void)
{
	struct arc_limits lim;
	struct archive *a = writer(tpath("many.tar.gz"), ARC_FMT_TAR_GZ);
	char name[32];

	arc_limits_default(&lim);
	for (int i = 0; a && i < 100000; i++) {
		struct tent t = {.name = name, .data = ""};
		snprintf(name, sizeof(name), "d%03d/f%06d", i / 1000, i);
		add(a, &t);
	}
	if (a) {
		archive_write_close(a);
		archive_write_free(a);
	}
	struct arc_info info;
	char err[256] = "";
	CHECK(inspect_path(tpath("many.tar.gz"), &lim, &info, err, sizeof(err)) == ARC_E_POLICY);
	CHECK(strstr(err, "more than 20000 entries") != NULL);
	/* Extraction hits the same cap; a lower one keeps this test fast (creating a file costs
	 * ~0.5 ms on some disks), and everything written up to it is removed. */
	lim.max_entries = 1000;
	expect_refused(tpath("many.tar.gz"), &lim, ARC_E_POLICY, "more than 1000 entries");
	lim.max_entries = 150000;
	lim.max_bytes = 1;
	CHECK(inspect_path(tpath("many.tar.gz"), &lim, &info, err, sizeof(err)) == ARC_OK);
	CHECK(info.entries == 100000 && info.unpacked == 0);

	/* Implicit parent directories have a cap too: one deep entry cannot make thousands. */
	const struct tent deep[] = {
	    {.name = "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u", .data = "x"}};
	build(tpath("deep.tar"), ARC_FMT_TAR, deep, 1);
	lim.max_entries = 10;
	lim.max_bytes = 100;
	expect_refused(tpath("deep.tar"), &lim, ARC_E_POLICY, "more than 10 directories");
	lim.max_entries = 21;
	CHECK(inspect_path(tpath("deep.tar"), &lim, &info, err, sizeof(err)) == ARC_OK);
}

static void test_bombs(void)
{
	struct arc_limits lim;
	struct arc_info info;
	char err[256];

	arc_limits_default(&lim);
	/* 200 MB of zeros, declared in the tar header: refused before inflating. */
	const struct tent gz[] = {{.name = "zeros", .zeros = 200ULL << 20}};
	build(tpath("bomb.tar.gz"), ARC_FMT_TAR_GZ, gz, 1);
	expect_refused(tpath("bomb.tar.gz"), &lim, ARC_E_POLICY, "times its size");

	/* The same in a zip with no size in the header: caught while inflating. */
	const struct tent zip[] = {{.name = "zeros", .zeros = 200ULL << 20, .unknown_size = 1}};
	build(tpath("bomb.zip"), ARC_FMT_ZIP, zip, 1);
	expect_refused(tpath("bomb.zip"), &lim, ARC_E_POLICY, "times its size");

	/* Ratio off: then the byte cap stops it. */
	lim.max_ratio = 0;
	lim.max_bytes = 32 << 20;
	expect_refused(tpath("bomb.zip"), &lim, ARC_E_POLICY, "more than 33554432 bytes");
	lim.max_bytes = 1ULL << 30;
	CHECK(inspect_path(tpath("bomb.zip"), &lim, &info, err, sizeof(err)) == ARC_OK);
	CHECK(info.unpacked == 200ULL << 20);

	arc_limits_default(&lim);
	lim.max_path = 10;
	expect_refused(tpath("good.tar"), &lim, ARC_E_POLICY, "name longer than 10 bytes");
	lim.max_path = (size_t)-1; /* a configuration mistake: refused, no overflow */
	expect_refused(tpath("good.tar"), &lim, ARC_E_IO, "max_path");
}

static void test_broken(void)
{
	struct arc_limits lim;
	struct arc_info info;
	char err[256], *bytes = NULL;
	unsigned char rnd[300000];
	size_t len = 0;

	arc_limits_default(&lim);
	/* Incompressible content, so that half the file is half the data. */
	CHECK(util_random(rnd, sizeof(rnd)) == 0);
	for (size_t i = 0; i < sizeof(rnd); i++)
		rnd[i] = (unsigned char)(rnd[i] % 94 + 33);
	rnd[sizeof(rnd) - 1] = '\0';
	const struct tent big[] = {{.name = "random.txt", .data = (const char *)rnd}};
	build(tpath("big.tar.gz"), ARC_FMT_TAR_GZ, big, 1);
	CHECK(read_all(tpath("big.tar.gz"), &bytes, &len) == 0);
	CHECK(write_file(tpath("trunc.tar.gz"), bytes, len / 2) == 0);
	expect_refused(tpath("trunc.tar.gz"), &lim, ARC_E_CORRUPT, "truncated or corrupt");
	/* Cut inside the gzip header itself. */
	CHECK(write_file(tpath("trunc2.tar.gz"), bytes, 12) == 0);
	expect_refused(tpath("trunc2.tar.gz"), &lim, ARC_E_CORRUPT, "truncated or corrupt");
	free(bytes);

	CHECK(write_file(tpath("random.bin"), rnd + 1000, 65536) == 0);
	expect_refused(tpath("random.bin"), &lim, ARC_E_FORMAT, "not a tar");
	CHECK(write_file(tpath("empty.bin"), "", 0) == 0);
	expect_refused(tpath("empty.bin"), &lim, ARC_E_FORMAT, "not a tar");
	CHECK(arc_inspect_mem("", 0, &lim, &info, err, sizeof(err)) == ARC_E_FORMAT);

	/* gzip of something that is not a tar, and a zip inside a gzip. */
	struct archive *a = archive_write_new();
	archive_write_set_format_raw(a);
	archive_write_add_filter_gzip(a);
	archive_write_open_filename(a, tpath("text.gz"));
	const struct tent text[] = {{.name = "x", .data = "just some text, not a tar archive\n"}};
	add(a, &text[0]);
	archive_write_close(a);
	archive_write_free(a);
	expect_refused(tpath("text.gz"), &lim, ARC_E_FORMAT, "not a tar");

	CHECK(read_all(tpath("good.zip"), &bytes, &len) == 0);
	a = archive_write_new();
	archive_write_set_format_raw(a);
	archive_write_add_filter_gzip(a);
	archive_write_open_filename(a, tpath("zip.gz"));
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "x");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_write_header(a, e);
	archive_write_data(a, bytes, len);
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	free(bytes);
	expect_refused(tpath("zip.gz"), &lim, ARC_E_FORMAT, "not a");
}

static void test_empty(void)
{
	struct arc_limits lim;
	struct arc_info info;
	char err[256];

	arc_limits_default(&lim);
	build(tpath("empty.tar"), ARC_FMT_TAR, NULL, 0);
	build(tpath("empty.zip"), ARC_FMT_ZIP, NULL, 0);
	CHECK(inspect_path(tpath("empty.tar"), &lim, &info, err, sizeof(err)) == ARC_OK);
	CHECK(info.entries == 0 && info.format == ARC_FMT_TAR);
	CHECK(inspect_path(tpath("empty.zip"), &lim, &info, err, sizeof(err)) == ARC_OK);
	CHECK(info.entries == 0 && info.format == ARC_FMT_ZIP);
	CHECK(arc_extract(tpath("empty.zip"), tpath("rel-empty"), &lim, err, sizeof(err)) ==
	      ARC_OK);
	CHECK(exists(tpath("rel-empty")));
	CHECK(arc_extract(tpath("nonexistent.tar"), tpath("rel-none"), &lim, err, sizeof(err)) ==
	      ARC_E_IO);
	CHECK(!exists(tpath("rel-none")) && partials() == 0);
}

/* ---- bundles --------------------------------------------------------------- */

static void check_bundle_owner(const char *path)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int n = 0, ok = 1;

	archive_read_support_format_tar(a);
	archive_read_support_format_zip_seekable(a);
	archive_read_support_filter_gzip(a);
	archive_read_open_filename(a, path, 65536);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		n++;
		ok &= archive_entry_uid(e) == 0 && archive_entry_gid(e) == 0;
		ok &= (archive_entry_perm(e) & 07777) == 0644;
		ok &= archive_entry_uname(e) == NULL ||
		      strcmp(archive_entry_uname(e), "hostagent") == 0;
	}
	archive_read_free(a);
	CHECK(n == 2 && ok);
}

static void test_bundle(void)
{
	static const enum bundle_format fmts[] = {BUNDLE_TAR, BUNDLE_TAR_GZ, BUNDLE_ZIP};
	static const enum arc_format want[] = {ARC_FMT_TAR, ARC_FMT_TAR_GZ, ARC_FMT_ZIP};
	struct arc_limits lim;
	struct arc_info info;
	char err[256], out[600], *buf = NULL, logtext[300001];
	struct timespec ts[2] = {{0, UTIME_OMIT}, {1500000000, 0}};
	struct stat st;
	size_t len = 0;

	arc_limits_default(&lim);
	for (size_t i = 0; i < sizeof(logtext) - 1; i++)
		logtext[i] = i % 80 == 79 ? '\n' : (char)('a' + i % 26);
	logtext[sizeof(logtext) - 1] = '\0';
	CHECK(write_file(tpath("stdout.log"), logtext, sizeof(logtext) - 1) == 0);
	CHECK(utimensat(AT_FDCWD, tpath("stdout.log"), ts, 0) == 0);
	const char *manifest = "{\"runs\":[]}\n";
	struct bundle_entry ents[] = {
	    {.path = tpath("stdout.log"), .name = "run-1/stdout.log"},
	    {.path = NULL, .name = "manifest.json", .data = manifest, .len = strlen(manifest)},
	};
	for (size_t f = 0; f < 3; f++) {
		snprintf(out, sizeof(out), "%s/bundle%s", tmp, bundle_format_ext(fmts[f]));
		CHECK(bundle_write(out, fmts[f], ents, 2, err, sizeof(err)) == 0);
		CHECK(inspect_path(out, &lim, &info, err, sizeof(err)) == ARC_OK);
		CHECK(info.format == want[f] && info.entries == 2);
		CHECK(info.unpacked == sizeof(logtext) - 1 + strlen(manifest));
		check_bundle_owner(out);
		snprintf(out + strlen(out), 16, ".tmp");
		CHECK(!exists(out));
	}
	/* Not padded to a 10 KiB record: headers, data and the two end blocks only. */
	CHECK(stat(tpath("bundle.tar"), &st) == 0 && st.st_size == 512 + 300032 + 512 + 512 + 1024);
	CHECK(arc_extract(tpath("bundle.tar.gz"), tpath("rel-bundle"), &lim, err, sizeof(err)) ==
	      ARC_OK);
	CHECK(read_all(tpath("rel-bundle/run-1/stdout.log"), &buf, &len) == 0);
	CHECK(len == sizeof(logtext) - 1 && memcmp(buf, logtext, len) == 0);
	free(buf);
	CHECK(stat(tpath("rel-bundle/run-1/stdout.log"), &st) == 0 && st.st_mtime == 1500000000);
}

static void test_bundle_errors(void)
{
	enum bundle_format f = BUNDLE_ZIP;
	char err[256] = "";
	struct bundle_entry missing = {.path = tpath("no-such.log"), .name = "x.log"};
	struct bundle_entry dotdot = {.name = "../x", .data = "x", .len = 1};
	struct bundle_entry link = {.path = tpath("link.log"), .name = "link.log"};
	struct bundle_entry fifo = {.path = tpath("fifo.log"), .name = "fifo.log"};

	CHECK(bundle_format_parse("tar", &f) == 0 && f == BUNDLE_TAR);
	CHECK(bundle_format_parse("tar.gz", &f) == 0 && f == BUNDLE_TAR_GZ);
	CHECK(bundle_format_parse("zip", &f) == 0 && f == BUNDLE_ZIP);
	CHECK(bundle_format_parse("rar", &f) == -1 && f == BUNDLE_ZIP);
	CHECK(bundle_format_parse(NULL, &f) == -1);
	CHECK(strcmp(bundle_format_ext(BUNDLE_TAR_GZ), ".tar.gz") == 0);
	CHECK(bundle_write(tpath("bad.tar"), BUNDLE_TAR, &missing, 1, err, sizeof(err)) == -1);
	CHECK(strstr(err, "x.log") != NULL && !exists(tpath("bad.tar")) &&
	      !exists(tpath("bad.tar.tmp")));
	CHECK(bundle_write(tpath("bad.tar"), BUNDLE_TAR, &dotdot, 1, err, sizeof(err)) == -1);
	CHECK(strstr(err, "escapes") != NULL && !exists(tpath("bad.tar")));
	CHECK(symlink("/etc/passwd", tpath("link.log")) == 0);
	CHECK(bundle_write(tpath("bad.tar"), BUNDLE_TAR, &link, 1, err, sizeof(err)) == -1);
	CHECK(mkfifo(tpath("fifo.log"), 0600) == 0);
	CHECK(bundle_write(tpath("bad.tar"), BUNDLE_TAR, &fifo, 1, err, sizeof(err)) == -1);
	CHECK(strstr(err, "not a regular file") != NULL && !exists(tpath("bad.tar.tmp")));
	CHECK(bundle_write(tpath("no-dir/b.tar"), BUNDLE_TAR, &dotdot, 0, err, sizeof(err)) == -1);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d) != NULL)
		n++;
	if (d)
		closedir(d);
	return n;
}

int main(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	int fds = open_fds();

	snprintf(tmp, sizeof(tmp), "%s/test_archive.XXXXXX", base);
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_policy_names();
	test_policy_types();
	test_detect();
	for (enum arc_format f = ARC_FMT_TAR; f <= ARC_FMT_ZIP; f++)
		test_good(f);
	test_offset();
	test_follow();
	test_big_zip();
	test_hostile();
	test_zip_backslash();
	test_entry_cap();
	test_zip_directory_cap();
	test_bombs();
	test_broken();
	test_empty();
	test_bundle();
	test_bundle_errors();
	CHECK(open_fds() == fds); /* no path above leaks an fd */
	if (failed == 0)
		util_rm_rf(tmp);
	else
		fprintf(stderr, "kept %s for a look\n", tmp);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
