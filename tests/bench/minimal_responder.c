/* SPDX-License-Identifier: MIT */
/*
 * The floor for tests/bench/ping.sh: a plain libfcgi responder, pre-forked
 * into N processes accepting on one unix socket, each answering every request
 * with a fixed JSON envelope. No routing, no database, no logging: whatever
 * hostagent's pool costs beyond this is its own.
 *
 * usage: minimal_responder SOCKET NPROCS    (SIGTERM/SIGINT stop all of them)
 */
#include <errno.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PROCS 256

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1024) < 0) {
		perror("bind/listen");
		close(fd);
		return -1;
	}
	chmod(path, 0666);
	return fd;
}

/* One responder process: accept, answer, repeat until killed. */
static void serve(int fd)
{
	FCGX_Request req;
	const char *rid;

	if (FCGX_InitRequest(&req, fd, 0) != 0)
		_exit(1);
	while (FCGX_Accept_r(&req) >= 0) {
		rid = FCGX_GetParam("REQUEST_ID", req.envp);
		FCGX_FPrintF(
		    req.out,
		    "Status: 200 OK\r\nContent-Type: application/json\r\n"
		    "X-Request-Id: %s\r\n\r\n"
		    "{\"result\":\"pong\",\"meta\":{\"request_id\":\"%s\",\"duration_ms\":0}}\n",
		    rid ? rid : "", rid ? rid : "");
		FCGX_Finish_r(&req);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	pid_t kids[MAX_PROCS];
	sigset_t set;
	int fd, n, sig, i;

	if (argc != 3 || (n = atoi(argv[2])) < 1 || n > MAX_PROCS) {
		fprintf(stderr, "usage: minimal_responder SOCKET NPROCS (1..%d)\n", MAX_PROCS);
		return 2;
	}
	fd = listen_unix(argv[1]);
	if (fd < 0 || FCGX_Init() != 0)
		return 1;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (i = 0; i < n; i++) {
		kids[i] = fork();
		if (kids[i] < 0) {
			perror("fork");
			n = i;
			break;
		}
		if (kids[i] == 0) {
			sigprocmask(SIG_UNBLOCK, &set, NULL);
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() == 1)
				_exit(0);
			serve(fd);
		}
	}
	/* Any signal we wait for ends the run: a stop, or a responder that died. */
	if (sigwait(&set, &sig) == 0 && sig == SIGCHLD)
		fprintf(stderr, "minimal_responder: a responder died\n");
	for (i = 0; i < n; i++)
		kill(kids[i], SIGTERM);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	unlink(argv[1]);
	return sig == SIGCHLD ? 1 : 0;
}
