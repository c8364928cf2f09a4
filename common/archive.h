/* SPDX-License-Identifier: MIT */
/*
 * Artifact inspection and safe extraction: format detection from magic
 * bytes, one hashing pass that reads every header and data block under the
 * extraction policy, and extraction into a fresh directory that appears only
 * when complete. It never restores owners, ACLs, xattrs or special files,
 * and never lets libarchive write to disk.
 */
/*
 * libarchive's header has this file's name, and -I common puts this one
 * first: pass <archive.h> on to libarchive's. It sits outside the guard on
 * purpose: when "archive.h" was found beside the including .c file, the
 * next match is this file again, whose include_next then reaches libarchive.
 */
#ifdef __clang__
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Winclude-next-absolute-path"
#endif
#include_next <archive.h>
#ifdef __clang__
#pragma clang diagnostic pop
#endif

#ifndef HOSTAGENT_ARCHIVE_H
#define HOSTAGENT_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum arc_format {
	ARC_FMT_UNKNOWN = 0,
	ARC_FMT_TAR,
	ARC_FMT_TAR_GZ,
	ARC_FMT_TAR_XZ,
	ARC_FMT_TAR_ZST,
	ARC_FMT_ZIP
};

/* "tar", "tar.gz", "tar.xz", "tar.zst", "zip", "unknown". A static string. */
const char *arc_format_name(enum arc_format f);

/*
 * From magic bytes only: gzip 1f8b, xz fd377a585a00, zstd 28b52ffd, zip
 * 504b0304 (or the empty zip 504b0506), tar "ustar" at offset 257, an
 * old-style tar header with a valid checksum, or an empty tar (two zero
 * blocks). The content of gz/xz/zst is later required to be a tar.
 */
enum arc_format arc_detect(const unsigned char *buf, size_t len);

/*
 * max_entries caps the entries of the archive, and separately the parent
 * directories they imply without an entry of their own. max_ratio is
 * unpacked bytes / archive bytes, enforced once more than ARC_RATIO_FLOOR
 * is unpacked (0: off). max_path caps an entry name and a symlink target.
 */
struct arc_limits {
	uint64_t max_entries;
	uint64_t max_bytes; /* sum of the data of every entry */
	uint64_t max_ratio;
	size_t max_path;
};

#define ARC_RATIO_FLOOR (16ULL << 20)

/* 20000 entries, 4 GiB unpacked, ratio 200, path 1024. */
void arc_limits_default(struct arc_limits *l);

struct config;
/* The defaults, with the extract_max_* keys of a configuration. */
void arc_limits_config(struct arc_limits *l, const struct config *c);

struct arc_info {
	enum arc_format format;
	uint64_t size;     /* bytes read from fd (from its offset to EOF) */
	uint64_t entries;  /* entries in the archive, as stored */
	uint64_t unpacked; /* bytes of entry data */
	char sha256[65];   /* lower-case hex of those bytes */
};

enum arc_err {
	ARC_OK = 0,
	ARC_E_FORMAT,  /* not a supported archive: HTTP 415 */
	ARC_E_CORRUPT, /* truncated or corrupt: 422 */
	ARC_E_POLICY,  /* hostile, or over a cap: 422 */
	ARC_E_IO       /* our side failed (read, write, memory): 500 */
};

/*
 * One pass over fd from its current offset to EOF: SHA-256 of every byte,
 * format detection, every header and every data block read (so a truncated
 * stream is caught), the policy applied to each entry: arc_entry_check, and
 * across entries no path through a symlink or a file, no name twice (but
 * directories), no symlink target through another symlink. fd stays open
 * and is left at EOF; the caller owns it. info is filled only on ARC_OK.
 * err gets a one-line reason naming the entry, e.g. "entry
 * 'x/../../etc/passwd': path escapes the release".
 *
 * A zip in a regular file is read through its central directory (the only
 * place with modes and symlinks), after a first read that hashes it and
 * bounds the directory's size; from a pipe it is read as a stream, and then
 * every entry is a plain file. In a zip, libarchive turns '\' into '/'.
 */
enum arc_err arc_inspect(int fd, const struct arc_limits *lim, struct arc_info *info, char *err,
                         size_t errlen);

/*
 * A file that is still being written (an upload nginx has not finished).
 * feed is called after every read that returned bytes (at_eof 0: consumed
 * bytes have been read so far; its result is ignored) and at every EOF
 * (at_eof 1), where it waits until the file may have grown and returns 1 to
 * read again, 0 when consumed is the file's final size, or -1 to give up
 * (errno set, else ECANCELED: the pass fails with ARC_E_IO).
 */
struct arc_follow {
	int (*feed)(void *arg, uint64_t consumed, int at_eof);
	void *arg;
};

/*
 * arc_inspect over a file that grows while it is read. Its size is unknown
 * until the end, so it is read as a stream: the ratio cap is applied to the
 * bytes read so far (stricter than arc_inspect's, which knows the whole
 * size), an entry's declared size is not checked before its data is read
 * (its data is counted as it comes), and a zip is read without its central
 * directory (every entry a plain file), so callers should not use it for zip.
 */
enum arc_err arc_inspect_follow(int fd, const struct arc_follow *follow,
                                const struct arc_limits *lim, struct arc_info *info, char *err,
                                size_t errlen);

/* arc_inspect over a memory buffer (the fuzzer and tests use it). */
enum arc_err arc_inspect_mem(const void *buf, size_t len, const struct arc_limits *lim,
                             struct arc_info *info, char *err, size_t errlen);

/*
 * Extracts archive_path into dest, which must not exist. Works in
 * "dest.partial-<random>" beside it and renames that to dest only on full
 * success; on any failure the partial directory is removed, so nothing
 * half-extracted is ever visible. Same policy as arc_inspect, and every path
 * is opened component by component with O_NOFOLLOW below a directory fd of
 * the release. Files get 0644, or 0755 when the archive gave any x bit; dirs
 * 0755; owner is the calling process; mtimes are kept.
 */
enum arc_err arc_extract(const char *archive_path, const char *dest, const struct arc_limits *lim,
                         char *err, size_t errlen);

/* One entry as the pure policy sees it (the test and bundle writer use it). */
struct arc_entry {
	const char *path;     /* name as stored */
	mode_t type;          /* S_IFREG, S_IFDIR, S_IFLNK, ... (S_IFMT bits) */
	const char *hardlink; /* non-NULL: a hardlink entry, always refused */
	const char *symlink;  /* target, when type is S_IFLNK */
};

/*
 * The per-entry policy, without I/O: refuses empty, absolute, too long and
 * backslashed names, "..", components over NAME_MAX, hardlinks, devices,
 * FIFOs, sockets, and symlinks whose target is absolute or leaves the release
 * (resolved lexically against the link's directory). On ARC_OK norm (normlen
 * >= strlen(path) + 1) holds the name without "." and empty components; ""
 * is the release itself. Returns ARC_OK or ARC_E_POLICY with a reason.
 */
enum arc_err arc_entry_check(const struct arc_entry *e, const struct arc_limits *lim, char *norm,
                             size_t normlen, char *err, size_t errlen);

/* The mode an entry is given on disk: 0755 for dirs and files with any x bit, else 0644. */
mode_t arc_entry_mode(mode_t type, mode_t perm);

#endif
