/* SPDX-License-Identifier: MIT */
/*
 * Clocks, RFC 3339 times, atomic files, directories, hex, SHA-256 and
 * random bytes for both daemons. No database, HTTP or job knowledge here.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm). Every
 * timestamp the API returns goes through here, dozens per list answer:
 * gmtime_r() and strftime() cost several times more.
 */
static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	int64_t era, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	yoe = z - era * 146097;
	yoe = (yoe - yoe / 1460 + yoe / 36524 - yoe / 146096) / 365;
	doy = z - era * 146097 - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static char *put2(char *p, unsigned v)
{
	*p++ = (char)('0' + v / 10 % 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

char *util_time_fmt(int64_t ms, char *buf)
{
	int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
	int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
	unsigned sod = (unsigned)(secs - days * 86400), msec = (unsigned)(ms - secs * 1000);
	unsigned mon, mday;
	int year;
	char *p = buf;

	civil_from_days(days, &year, &mon, &mday);
	if (year < 0 || year > 9999) {
		snprintf(buf, UTIL_TIME_LEN, "%s", "0000-00-00T00:00:00.000Z");
		return buf;
	}
	p = put2(put2(p, (unsigned)year / 100), (unsigned)year % 100);
	*p++ = '-';
	p = put2(p, mon);
	*p++ = '-';
	p = put2(p, mday);
	*p++ = 'T';
	p = put2(p, sod / 3600);
	*p++ = ':';
	p = put2(p, sod / 60 % 60);
	*p++ = ':';
	p = put2(p, sod % 60);
	*p++ = '.';
	*p++ = (char)('0' + msec / 100);
	p = put2(p, msec % 100);
	*p++ = 'Z';
	*p = '\0';
	return buf;
}

int util_time_parse(const char *s, int64_t *ms)
{
	struct tm tm = {0};
	const char *p;
	int frac = 0, digits = 0;

	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (p == NULL)
		return -1;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 3)
				frac = frac * 10 + (*p - '0');
		if (digits == 0)
			return -1;
		for (; digits < 3; digits++)
			frac *= 10;
	}
	if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
		return -1;
	*ms = (int64_t)timegm(&tm) * 1000 + frac;
	return 0;
}

int util_mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int util_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int util_write_atomic(const char *path, const void *buf, size_t len, mode_t mode, bool durable)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	char *slash;
	int fd = -1, saved;

	if (util_fmt(tmp, sizeof(tmp), "%s.tmp", path) < 0 ||
	    util_fmt(dir, sizeof(dir), "%s", path) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	if (write_all(fd, buf, len) < 0 || (durable && fsync(fd) < 0))
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	slash = strrchr(dir, '/');
	if (durable && slash != NULL) {
		*slash = '\0';
		util_fsync_dir(slash == dir ? "/" : dir);
	} else if (durable) {
		util_fsync_dir(".");
	}
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}

int util_read_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf = NULL;
	size_t cap = 4096, n = 0;

	if (fd < 0)
		return -1;
	buf = malloc(cap);
	if (buf == NULL)
		goto fail;
	for (;;) {
		ssize_t r;
		if (n + 1 >= cap) {
			char *nb;
			if (cap > max + 1) {
				errno = EFBIG;
				goto fail;
			}
			nb = realloc(buf, cap * 2);
			if (nb == NULL)
				goto fail;
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			errno = EFBIG;
			goto fail;
		}
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	if (len != NULL)
		*len = n;
	return 0;
fail:
	free(buf);
	close(fd);
	return -1;
}

static int rm_rf_at(int parent, const char *name)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	int fd, rc = 0;

	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(parent, name, 0);
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (rm_rf_at(dirfd(d), de->d_name) < 0)
			rc = -1;
	}
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

int util_rm_rf(const char *path)
{
	return rm_rf_at(AT_FDCWD, path);
}

void util_hex(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

int util_random(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int util_uuid4(char out[37])
{
	unsigned char b[16];
	char hex[33];

	if (util_random(b, sizeof(b)) < 0)
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	util_hex(b, 16, hex);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
	return 0;
}

int util_fmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		return -1;
	return n;
}

int util_signalfd(const int *block, const int *quiet)
{
	sigset_t set;

	sigemptyset(&set);
	for (; *block != 0; block++)
		sigaddset(&set, *block);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	for (; quiet != NULL && *quiet != 0; quiet++)
		sigdelset(&set, *quiet);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int util_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

int util_set_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return -1;
	return 0;
}

int util_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mul = 1ULL << 10;
		end++;
		break;
	case 'm':
	case 'M':
		mul = 1ULL << 20;
		end++;
		break;
	case 'g':
	case 'G':
		mul = 1ULL << 30;
		end++;
		break;
	case 't':
	case 'T':
		mul = 1ULL << 40;
		end++;
		break;
	default:
		return -1;
	}
	if ((*end == 'b' || *end == 'B') && mul > 1)
		end++;
	if (*end != '\0' || (v != 0 && mul > UINT64_MAX / v))
		return -1;
	*out = (uint64_t)v * mul;
	return 0;
}

static const struct {
	int sig;
	const char *name;
} signal_names[] = {
    {SIGHUP, "HUP"},       {SIGINT, "INT"},   {SIGQUIT, "QUIT"},   {SIGILL, "ILL"},
    {SIGTRAP, "TRAP"},     {SIGABRT, "ABRT"}, {SIGBUS, "BUS"},     {SIGFPE, "FPE"},
    {SIGKILL, "KILL"},     {SIGUSR1, "USR1"}, {SIGSEGV, "SEGV"},   {SIGUSR2, "USR2"},
    {SIGPIPE, "PIPE"},     {SIGALRM, "ALRM"}, {SIGTERM, "TERM"},   {SIGCHLD, "CHLD"},
    {SIGCONT, "CONT"},     {SIGSTOP, "STOP"}, {SIGTSTP, "TSTP"},   {SIGTTIN, "TTIN"},
    {SIGTTOU, "TTOU"},     {SIGURG, "URG"},   {SIGXCPU, "XCPU"},   {SIGXFSZ, "XFSZ"},
    {SIGVTALRM, "VTALRM"}, {SIGPROF, "PROF"}, {SIGWINCH, "WINCH"}, {SIGIO, "IO"},
    {SIGPWR, "PWR"},       {SIGSYS, "SYS"},
};

int util_signal_parse(const char *s)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return -1;
	if (*s >= '0' && *s <= '9') {
		v = strtol(s, &end, 10);
		return (*end == '\0' && v >= 1 && v <= 64) ? (int)v : -1;
	}
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < ARRAY_SIZE(signal_names); i++)
		if (strcasecmp(s, signal_names[i].name) == 0)
			return signal_names[i].sig;
	return -1;
}

const char *util_signal_name(int sig)
{
	for (size_t i = 0; i < ARRAY_SIZE(signal_names); i++)
		if (signal_names[i].sig == sig)
			return signal_names[i].name;
	return NULL;
}

void util_fault_point(const char *name)
{
	const char *f = getenv("HOSTAGENT_FAULT");

	if (f != NULL && strcmp(f, name) == 0)
		raise(SIGKILL);
}
