/* SPDX-License-Identifier: MIT */
/*
 * The upload inspector. nginx writes an upload's body to
 * <data>/tmp/upload/<digits> (client_body_in_file_only) and calls the
 * handler only once the whole body is there; hashing and inspecting 200 MB
 * then takes longer than nginx took to write it. So a process of the pool
 * watches that directory (inotify) and forks a follower for each new file,
 * at most FOLLOW_MAX at once. The inspector binds the follower's name,
 * <data>/run/follow/<dev>-<ino> (hex: what a worker derives from fstat of
 * the body file it was handed), before forking it, and removes it when it
 * has reaped it. A follower:
 *  - reads the file as it grows, through the same hash and archive policy
 *    as the handler (arc_inspect_follow), and starts the writeback of every
 *    FOLLOW_SYNC_BYTES it has read, so the handler's fsync finds little left;
 *  - learns the final size from the worker that asks (only nginx knows when
 *    the body has ended) and answers a pass for exactly those bytes.
 * Anything else (not a tar, any refusal, an error) gets no answer: the
 * worker then inspects the file itself, so every refusal is found and
 * worded by one code path and a follower can only ever save work. A
 * follower gives up when nginx's name for the file goes (the request ended,
 * or a cut-off upload) or when nothing happens for FOLLOW_IDLE_MS.
 *
 * Only authorized requests have bodies here: nginx asks the pool before it
 * reads one (auth_request, worker.c), so no client without a token can get
 * its bytes parsed.
 *
 * One process per file keeps libarchive's state (and any crash on a
 * hostile archive) to one upload, and needs no locking.
 */
#include "inspector.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "archive.h"
#include "config.h"
#include "log.h"
#include "util.h"
#include "validate.h"

#define FOLLOW_MAX         4            /* followers at once; more uploads are inspected after */
#define FOLLOW_IDLE_MS     (310 * 1000) /* nginx's client_body_timeout is 300 s */
#define FOLLOW_SYNC_BYTES  (8u << 20)   /* writeback is started in steps of this */
#define FOLLOW_HEAD        1024         /* what format detection needs */
#define FOLLOW_TICK_MIN_MS 2            /* looks at a growing file this often, */
#define FOLLOW_TICK_MAX_MS 64           /* and backs off to this when it is quiet */
#define ASK_TIMEOUT_MS     (120 * 1000) /* a follower is never behind a fresh pass */
#define INSPECTOR_CLEAN_MS 5000         /* looks for names of dead followers this often */
#define FOLLOW_MAGIC       0x68614631u  /* "haF1" */

struct follow_ask {
	uint32_t magic;
	uint32_t zero;
	uint64_t size;
};

struct follow_answer {
	uint32_t magic;
	uint32_t zero;
	struct arc_info info;
};

/* ---- shared: where a follower listens ------------------------------------ */

static int follow_dir(const struct config *cfg, char *buf, size_t len)
{
	return config_path(cfg, "run/follow", buf, len);
}

static int follow_addr(const struct config *cfg, dev_t dev, ino_t ino, struct sockaddr_un *sa)
{
	char dir[PATH_MAX];

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (follow_dir(cfg, dir, sizeof(dir)) < 0)
		return -1;
	return util_fmt(sa->sun_path, sizeof(sa->sun_path), "%s/%llx-%llx", dir,
	                (unsigned long long)dev, (unsigned long long)ino);
}

/* Is path a bound socket someone listens on? (/proc/net/unix lists them with their paths.) */
static bool listened_on(const char *path)
{
	FILE *f = fopen("/proc/net/unix", "re");
	char line[PATH_MAX + 128];
	size_t len = strlen(path);
	bool found = false;

	if (f == NULL)
		return true; /* cannot tell: keep it */
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		char *p = strchr(line, '/');
		found =
		    p != NULL && strncmp(p, path, len) == 0 && (p[len] == '\n' || p[len] == '\0');
	}
	fclose(f);
	return found;
}

/* ---- the worker's side --------------------------------------------------- */

static bool tar_family(enum arc_format f)
{
	return f == ARC_FMT_TAR || f == ARC_FMT_TAR_GZ || f == ARC_FMT_TAR_XZ ||
	       f == ARC_FMT_TAR_ZST;
}

int inspector_ask(const struct config *cfg, int fd, uint64_t size, struct arc_info *info)
{
	struct follow_ask ask = {.magic = FOLLOW_MAGIC, .size = size};
	struct follow_answer ans;
	struct sockaddr_un sa;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct pollfd pfd;
	struct stat st;
	ssize_t n;
	int s, ok = 0;

	if (!cfg->upload_follow || fstat(fd, &st) < 0 ||
	    follow_addr(cfg, st.st_dev, st.st_ino, &sa) < 0)
		return 0;
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return 0;
	/*
	 * No follower (too small to catch, too many at once, gone) or a busy
	 * one (EAGAIN): not an error. Only our own user's follower is believed.
	 */
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || cred.uid != geteuid() ||
	    send(s, &ask, sizeof(ask), MSG_NOSIGNAL) != (ssize_t)sizeof(ask))
		goto out;
	pfd.fd = s;
	pfd.events = POLLIN;
	do
		n = poll(&pfd, 1, ASK_TIMEOUT_MS);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		log_warn("upload follower %s: no answer in %d s; inspecting the upload again",
		         sa.sun_path, ASK_TIMEOUT_MS / 1000);
	if (n <= 0)
		goto out;
	/* EOF (no answer) is the follower's way of saying "inspect it yourself" */
	n = recv(s, &ans, sizeof(ans), 0);
	if (n == (ssize_t)sizeof(ans) && ans.magic == FOLLOW_MAGIC && ans.info.size == size &&
	    tar_family(ans.info.format) &&
	    memchr(ans.info.sha256, '\0', sizeof(ans.info.sha256)) != NULL &&
	    validate_sha256_hex(ans.info.sha256) == 0) {
		*info = ans.info;
		ok = 1;
	}
out:
	close(s);
	return ok;
}

/* ---- a follower ---------------------------------------------------------- */

struct follower {
	int fd;           /* the body file */
	int dirfd;        /* the upload directory, */
	const char *name; /* and the file's name there while the upload lasts */
	dev_t dev;
	ino_t ino;
	int tick_ms; /* how long to wait before looking at its size again */
	int lfd;     /* listening socket */
	int conn;    /* the asking worker, or -1 */
	bool final_known;
	uint64_t final;
	uint64_t synced; /* writeback started up to here */
	int64_t active;  /* monotonic ms of the last growth or request */
};

/* A worker connected: its one request carries the body's final size. */
static int follower_request(struct follower *f)
{
	struct follow_ask ask;
	ssize_t n;

	if (f->conn < 0) {
		f->conn = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
		return f->conn < 0 && errno != EAGAIN && errno != EINTR ? -1 : 0;
	}
	n = recv(f->conn, &ask, sizeof(ask), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n != (ssize_t)sizeof(ask) || ask.magic != FOLLOW_MAGIC || f->final_known)
		return -1;
	f->final_known = true;
	f->final = ask.size;
	return 1;
}

/*
 * Waits for something to happen: 1 when the file may have grown or its
 * final size became known, -1 to give up. Growth is seen by looking, not
 * through inotify: a watch would cost nginx an event for each of its small
 * writes and wake the follower for every one, which slowed the upload
 * measurably. The look is frequent while the file grows, rare once it is
 * quiet; the worker's request wakes the follower at once.
 */
static int follower_wait(struct follower *f, uint64_t have)
{
	struct stat st;

	for (;;) {
		struct pollfd p = {.fd = f->conn < 0 ? f->lfd : f->conn, .events = POLLIN};
		int n = poll(&p, 1, f->tick_ms);
		if (n < 0 && errno != EINTR)
			return -1;
		if (n > 0) {
			int r = follower_request(f);
			if (r < 0)
				return -1;
			f->active = util_mono_ms();
			if (r > 0)
				return 1;
			continue;
		}
		/*
		 * nginx removes the name when the request ends (or a cut-off
		 * upload): then nobody will ask. A link count would not do: the
		 * handler may have linked the file into artifacts/ itself.
		 */
		if (fstatat(f->dirfd, f->name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    st.st_ino != f->ino || st.st_dev != f->dev || fstat(f->fd, &st) < 0) {
			errno = ECANCELED;
			return -1;
		}
		if ((uint64_t)st.st_size > have) {
			f->tick_ms = FOLLOW_TICK_MIN_MS;
			return 1;
		}
		if (f->tick_ms < FOLLOW_TICK_MAX_MS)
			f->tick_ms *= 2;
		if (util_mono_ms() - f->active > FOLLOW_IDLE_MS) {
			errno = ETIMEDOUT;
			return -1;
		}
	}
}

static int follower_feed(void *arg, uint64_t consumed, int at_eof)
{
	struct follower *f = arg;

	if (!at_eof) {
		f->active = util_mono_ms();
		if (consumed - f->synced >= FOLLOW_SYNC_BYTES) {
			sync_file_range(f->fd, (off_t)f->synced, (off_t)(consumed - f->synced),
			                SYNC_FILE_RANGE_WRITE);
			f->synced = consumed;
		}
		return 0;
	}
	/* nginx wrote the whole body before the worker asked: this EOF is final */
	if (f->final_known)
		return consumed == f->final ? 0 : -1;
	return follower_wait(f, consumed);
}

/* Formats a follower can judge: a zip must be read through its directory, at the end. */
static bool follower_format(struct follower *f)
{
	unsigned char head[FOLLOW_HEAD];
	struct stat st;
	ssize_t n;

	for (;;) {
		if (fstat(f->fd, &st) < 0)
			return false;
		if (st.st_size >= FOLLOW_HEAD || f->final_known)
			break;
		if (follower_wait(f, (uint64_t)st.st_size) < 0)
			return false;
	}
	n = pread(f->fd, head, sizeof(head), 0);
	if (n <= 0)
		return false;
	switch (arc_detect(head, (size_t)n)) {
	case ARC_FMT_TAR:
	case ARC_FMT_TAR_GZ:
	case ARC_FMT_TAR_XZ:
	case ARC_FMT_TAR_ZST:
		return true;
	default:
		return false;
	}
}

/* A follower's life; lfd is its bound, listening name (the inspector made it, and removes it). */
static void follower_run(const struct config *cfg, int fd, int lfd, int dirfd, const char *name,
                         const struct stat *st)
{
	struct follower f = {.fd = fd,
	                     .dirfd = dirfd,
	                     .name = name,
	                     .dev = st->st_dev,
	                     .ino = st->st_ino,
	                     .lfd = lfd,
	                     .conn = -1,
	                     .tick_ms = FOLLOW_TICK_MIN_MS,
	                     .active = util_mono_ms()};
	struct follow_answer ans = {.magic = FOLLOW_MAGIC};
	struct arc_follow af = {.feed = follower_feed, .arg = &f};
	struct arc_limits lim;
	char err[512] = "";
	enum arc_err rc;

	if (!follower_format(&f))
		return;
	arc_limits_config(&lim, cfg);
	rc = arc_inspect_follow(fd, &af, &lim, &ans.info, err, sizeof(err));
	if (rc == ARC_OK && f.conn >= 0)
		send(f.conn, &ans, sizeof(ans), MSG_NOSIGNAL);
	else
		log_debug("upload follower: leaving %s to the handler: %s", name,
		          rc == ARC_OK ? "nobody asked" : err);
}

/* ---- the inspector --------------------------------------------------------- */

struct followed {
	pid_t pid;
	ino_t sock_ino; /* its name's inode: removed only while it is still that one */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

struct inspector {
	const struct config *cfg;
	int sfd, in, dirfd;
	struct followed f[FOLLOW_MAX];
	int n;
	bool stopping;
	int64_t cleaned; /* monotonic ms of the last inspector_clean */
};

/* nginx names its temp files with digits only; the handler's own are body-* and part-*. */
static bool nginx_temp_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/*
 * Binds and listens on a follower's name before the follower exists, so a
 * worker can find it as soon as possible. A name already bound by a live
 * follower (of the generation that is retiring, for the same file) wins:
 * -1. A name nobody listens on is a dead follower's: it is replaced.
 */
static int follower_socket(const struct sockaddr_un *sa, ino_t *sock_ino)
{
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct stat st;

	if (s < 0)
		return -1;
	if (bind(s, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		if (errno != EADDRINUSE || listened_on(sa->sun_path) || unlink(sa->sun_path) < 0 ||
		    bind(s, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
			goto fail;
	}
	if (listen(s, 4) < 0 || lstat(sa->sun_path, &st) < 0)
		goto fail;
	*sock_ino = st.st_ino;
	return s;
fail:
	close(s);
	return -1;
}

/* Removes a follower's name if it is still the one it bound. */
static void follower_unlink(const struct followed *f)
{
	struct stat st;

	if (lstat(f->path, &st) == 0 && st.st_ino == f->sock_ino)
		unlink(f->path);
}

static void inspector_follow(struct inspector *in, const char *name)
{
	struct followed rec = {0};
	struct sockaddr_un sa;
	struct stat st;
	pid_t pid, self = getpid();
	int fd, lfd;

	if (in->n >= FOLLOW_MAX || !nginx_temp_name(name))
		return;
	fd = openat(in->dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return; /* gone already, or not readable: the handler will say */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    follow_addr(in->cfg, st.st_dev, st.st_ino, &sa) < 0 ||
	    (lfd = follower_socket(&sa, &rec.sock_ino)) < 0) {
		close(fd);
		return;
	}
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		signal(SIGCHLD, SIG_DFL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		prctl(PR_SET_NAME, "ha-follow");
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != self)
			_exit(0); /* the inspector died before PDEATHSIG was armed */
		close(in->sfd);
		close(in->in);
		follower_run(in->cfg, fd, lfd, in->dirfd, name, &st);
		_exit(0);
	}
	close(fd);
	close(lfd);
	rec.pid = pid;
	memcpy(rec.path, sa.sun_path, sizeof(rec.path));
	if (pid < 0) {
		log_warn("upload follower: fork: %s", strerror(errno));
		follower_unlink(&rec);
		return;
	}
	in->f[in->n++] = rec;
}

/* A follower has ended: forget it, and remove its name. */
static void inspector_gone(struct inspector *in, pid_t pid, int status)
{
	for (int i = 0; i < in->n; i++) {
		if (in->f[i].pid != pid)
			continue;
		if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM)
			log_warn("upload follower %d killed by signal %d", (int)pid,
			         WTERMSIG(status));
		follower_unlink(&in->f[i]);
		in->f[i] = in->f[--in->n];
		return;
	}
}

static void inspector_events(struct inspector *in)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t len;

	while ((len = read(in->in, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			if (e->mask & IN_IGNORED) {
				log_warn("upload follower: the upload directory went away");
				in->stopping = true;
			} else if ((e->mask & IN_CREATE) && !(e->mask & IN_ISDIR) && e->len > 0) {
				inspector_follow(in, e->name);
			}
			p += sizeof(*e) + e->len;
		}
	}
}

/* Is path one of our own followers' names? */
static bool own_name(const struct inspector *in, const char *path)
{
	for (int i = 0; i < in->n; i++)
		if (strcmp(in->f[i].path, path) == 0)
			return true;
	return false;
}

/*
 * Names left by followers that were killed with their inspector. Run at
 * start and then every INSPECTOR_CLEAN_MS (a follower killed with its
 * inspector may still be dying when the new one starts). A name someone
 * listens on belongs to a live follower, perhaps of the generation that is
 * retiring (a reload starts the new inspector first): it stays.
 */
static int inspector_clean(const struct inspector *in, const char *dir)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;

	if (util_mkdir_p(dir, 0700) < 0)
		return -1;
	d = opendir(dir);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.' && !own_name(in, e->d_name) &&
		    util_fmt(path, sizeof(path), "%s/%s", dir, e->d_name) >= 0 &&
		    !listened_on(path))
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
	return 0;
}

static void inspector_signal(struct inspector *in)
{
	struct signalfd_siginfo si;

	while (read(in->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		pid_t pid;
		int status;

		if (si.ssi_signo == SIGTERM)
			in->stopping = true;
		while (si.ssi_signo == SIGCHLD && (pid = waitpid(-1, &status, WNOHANG)) > 0)
			inspector_gone(in, pid, status);
	}
}

void inspector_run(const struct config *cfg, pid_t master)
{
	static const int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGUSR1, 0};
	/* a terminal's ^C and the master's reloads are the master's business */
	static const int quiet[] = {SIGINT, SIGHUP, SIGPIPE, SIGUSR1, 0};
	struct inspector in = {.cfg = cfg, .in = -1, .dirfd = -1};
	char upload[PATH_MAX], dir[PATH_MAX];

	prctl(PR_SET_NAME, "ha-inspector");
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != master)
		_exit(0);
	in.sfd = util_signalfd(sigs, quiet);
	if (in.sfd < 0 || config_path(cfg, "tmp/upload", upload, sizeof(upload)) < 0 ||
	    follow_dir(cfg, dir, sizeof(dir)) < 0 || inspector_clean(&in, dir) < 0) {
		log_error("upload inspector: cannot start: %s", strerror(errno));
		_exit(1);
	}
	in.cleaned = util_mono_ms();
	in.dirfd = open(upload, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	in.in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (in.dirfd < 0 || in.in < 0 ||
	    inotify_add_watch(in.in, upload, IN_CREATE | IN_ONLYDIR) < 0) {
		log_error("upload inspector: cannot watch %s: %s", upload, strerror(errno));
		_exit(1);
	}
	while (!in.stopping) {
		struct pollfd p[2] = {{.fd = in.sfd, .events = POLLIN},
		                      {.fd = in.in, .events = POLLIN}};
		int64_t due = in.cleaned + INSPECTOR_CLEAN_MS - util_mono_ms();
		if (poll(p, 2, due > 0 ? (int)due : 0) < 0 && errno != EINTR)
			break;
		if (util_mono_ms() - in.cleaned >= INSPECTOR_CLEAN_MS) {
			inspector_clean(&in, dir);
			in.cleaned = util_mono_ms();
		}
		if (p[0].revents)
			inspector_signal(&in);
		if (p[1].revents && !in.stopping)
			inspector_events(&in);
	}
	/*
	 * A follower's work is only ever a head start: stop them and take their
	 * names, and only theirs (a new generation's may be there already).
	 */
	for (int i = 0; i < in.n; i++)
		kill(in.f[i].pid, SIGTERM);
	while (in.n > 0) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);
		if (pid < 0 && errno != EINTR)
			break;
		if (pid > 0)
			inspector_gone(&in, pid, status);
	}
	_exit(0);
}
