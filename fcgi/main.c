/* SPDX-License-Identifier: MIT */
/*
 * hostagent-fcgi: loads the configuration, takes or creates the listening
 * unix socket, and hands over to the pool master. The socket's mode (0660)
 * and group are the trust boundary in front of libfcgi (docs/platform-notes.md, libfcgi), so it is
 * created here rather than with FCGX_OpenSocket, which unlinks blindly,
 * ignores the umask question and exit()s on errors.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "pool.h"
#include "util.h"

#define BACKLOG 1024

/* A listening AF_UNIX stream socket on fd: spawn-fcgi / socket activation. */
static int is_listener(int fd)
{
	int v = 0;
	socklen_t l = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) < 0 || !v)
		return 0;
	l = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) < 0 || v != AF_UNIX)
		return 0;
	l = sizeof(v);
	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) == 0 && v == SOCK_STREAM;
}

/* fd 0 (spawn-fcgi, StandardInput=socket), or fd 3 with LISTEN_FDS=1 (systemd). */
static int inherited_socket(void)
{
	const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");

	if (is_listener(0))
		return 0;
	if (pid != NULL && n != NULL && atol(pid) == (long)getpid() && atoi(n) == 1 &&
	    is_listener(3))
		return 3;
	return -1;
}

/* Removes a socket file nobody answers on; refuses anything else. */
static int clear_stale(const struct sockaddr_un *sa, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT
		           ? 0
		           : (snprintf(err, errlen, "%s: %s", sa->sun_path, strerror(errno)), -1);
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket: refusing to replace it",
		         sa->sun_path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "%s: another process is serving this socket", sa->sun_path);
		return -1;
	}
	if (errno != ECONNREFUSED || unlink(sa->sun_path) < 0) {
		snprintf(err, errlen, "%s: cannot replace the stale socket: %s", sa->sun_path,
		         strerror(errno));
		return -1;
	}
	return 0;
}

/* Mode 0660 from birth (umask during bind), then the configured group. */
static int bind_socket(int fd, const struct sockaddr_un *sa, const char *group, char *err,
                       size_t errlen)
{
	mode_t old = umask(0117);
	int rc = bind(fd, (const struct sockaddr *)sa, sizeof(*sa));
	struct group *gr;

	umask(old);
	if (rc < 0 || chmod(sa->sun_path, 0660) < 0) {
		snprintf(err, errlen, "%s: %s", sa->sun_path, strerror(errno));
		return -1;
	}
	if (group[0] == '\0')
		return 0;
	gr = getgrnam(group);
	if (gr == NULL || chown(sa->sun_path, (uid_t)-1, gr->gr_gid) < 0) {
		snprintf(err, errlen, "%s: cannot give it to group '%s': %s", sa->sun_path, group,
		         gr ? strerror(errno) : "no such group");
		unlink(sa->sun_path);
		return -1;
	}
	return 0;
}

static int create_socket(const struct config *cfg, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(cfg->fcgi_socket);
	int fd = -1;

	if (len >= sizeof(sa.sun_path)) {
		snprintf(err, errlen,
		         "fcgi_socket %s is %zu bytes; unix socket paths must be shorter than %zu: "
		         "choose a shorter fcgi_socket",
		         cfg->fcgi_socket, len, sizeof(sa.sun_path));
		return -1;
	}
	memcpy(sa.sun_path, cfg->fcgi_socket, len + 1);
	if (clear_stale(&sa, err, errlen) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (bind_socket(fd, &sa, cfg->fcgi_socket_group, err, errlen) < 0)
		goto fail;
	if (listen(fd, BACKLOG) < 0) {
		snprintf(err, errlen, "listen %s: %s", sa.sun_path, strerror(errno));
		unlink(sa.sun_path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: hostagent-fcgi [-c CONFIG]\n"
	           "  FastCGI handler pool of hostagent. Listens on fcgi_socket, or on a\n"
	           "  listening unix socket passed as fd 0 (spawn-fcgi) or by systemd.\n"
	           "  SIGHUP reloads the configuration, SIGTERM stops gracefully.\n");
}

int main(int argc, char **argv)
{
	const char *config_file = NULL;
	struct config cfg;
	char err[1024], logpath[PATH_MAX];
	int opt, fd, lvl, rc;
	bool owned = false;

	while ((opt = getopt(argc, argv, "c:hV")) != -1) {
		switch (opt) {
		case 'c':
			config_file = optarg;
			break;
		case 'V':
			printf("hostagent-fcgi %s\n", HOSTAGENT_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (config_load(&cfg, config_file, err, sizeof(err)) < 0) {
		fprintf(stderr, "hostagent-fcgi: configuration: %s\n", err);
		return 1;
	}
	if (config_make_dirs(&cfg) < 0) {
		fprintf(stderr, "hostagent-fcgi: cannot create %s: %s\n", cfg.data_dir,
		        strerror(errno));
		return 1;
	}
	lvl = log_level_parse(cfg.log_level);
	if (config_path(&cfg, "log/fcgi.log", logpath, sizeof(logpath)) < 0) {
		fprintf(stderr, "hostagent-fcgi: data_dir path too long\n");
		return 1;
	}
	log_init("fcgi", lvl < 0 ? LOG_LVL_INFO : (enum log_level)lvl, logpath);
	signal(SIGPIPE, SIG_IGN);
	fd = inherited_socket();
	if (fd < 0) {
		fd = create_socket(&cfg, err, sizeof(err));
		if (fd < 0) {
			log_error("cannot listen: %s", err);
			return 1;
		}
		owned = true;
	} else {
		util_set_cloexec(fd);
	}
	/* shared by every worker: a lost accept race must come back as EAGAIN */
	util_set_nonblock(fd);
	log_info("hostagent-fcgi %s: %d workers on %s%s", HOSTAGENT_VERSION, cfg.fcgi_workers,
	         owned ? cfg.fcgi_socket : "an inherited socket", owned ? "" : " (fd passed in)");
	rc = pool_run(&cfg, config_file, fd);
	if (owned)
		unlink(cfg.fcgi_socket);
	return rc;
}
