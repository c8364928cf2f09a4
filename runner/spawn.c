/* SPDX-License-Identifier: MIT */
/*
 * Starting a program from the runner (see spawn.h): the
 * shape of git's run-command. The parent learns of an exec failure through
 * a CLOEXEC pipe, so "started" is never claimed for a program that did not
 * start. It does not wait for the child: the SIGCHLD loop reaps it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"
#include "util.h"

/*
 * The shim starts with an empty environment, except the sanitizers' own
 * options when the runner has them: a sanitizer build under test then
 * reports where the test asked, not to the shim's /dev/null stderr. Built in
 * the parent, before fork; the entries point into the runner's environ.
 */
static char **shim_env(void)
{
	static const char *const keep[] = {"ASAN_OPTIONS=", "UBSAN_OPTIONS=", "LSAN_OPTIONS="};
	static char *env[ARRAY_SIZE(keep) + 1];
	size_t n = 0;

	for (char **e = environ; *e != NULL && n < ARRAY_SIZE(keep); e++)
		for (size_t i = 0; i < ARRAY_SIZE(keep); i++)
			if (strncmp(*e, keep[i], strlen(keep[i])) == 0)
				env[n++] = *e;
	env[n] = NULL;
	return env;
}

/*
 * Puts the handed-over fds on 3 and 4 and /dev/null on 0-2, whatever
 * numbers they had: each is first moved above 9, so that no dup2 overwrites
 * one still to be placed (an fd 3 of the runner's own would otherwise be
 * clobbered by, or become, /dev/null).
 */
static int place_fds(const struct spawn *sp)
{
	int src[2] = {sp->fd3, sp->fd4}, nul;

	for (int i = 0; i < 2; i++)
		if (src[i] >= 0 && (src[i] = fcntl(src[i], F_DUPFD, 10)) < 0)
			return -1;
	nul = open("/dev/null", O_RDWR);
	if (nul < 0 || (nul < 10 && (nul = fcntl(nul, F_DUPFD, 10)) < 0))
		return -1;
	for (int i = 0; i < 2; i++)
		if (src[i] >= 0 && dup2(src[i], 3 + i) < 0)
			return -1;
	if (dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(nul, 2) < 0)
		return -1;
	/* everything above what was placed goes at exec: the copies, and fds the runner inherited
	 */
	close_range(sp->fd4 >= 0 ? 5 : sp->fd3 >= 0 ? 4 : 3, ~0U, CLOSE_RANGE_CLOEXEC);
	return 0;
}

static rlim_t child_nofile;

void spawn_set_child_nofile(unsigned long soft)
{
	child_nofile = (rlim_t)soft;
}

/* After fork: async-signal-safe calls only. */
static void spawn_child(const struct spawn *sp, int report, char **envp)
{
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigset_t none;
	int err;

	/* the runner blocks everything for its signalfd: the child must not inherit that */
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (child_nofile > 0) {
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > child_nofile) {
			rl.rlim_cur = child_nofile;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	/* the report pipe must survive the placing of fds 3 and 4 too */
	if (report < 10 && (report = fcntl(report, F_DUPFD_CLOEXEC, 10)) < 0)
		_exit(127);
	if (place_fds(sp) < 0)
		goto fail;
	execve(sp->argv[0], (char *const *)sp->argv, envp);
fail:
	err = errno;
	if (write(report, &err, sizeof(err)) < 0)
		_exit(126);
	_exit(127);
}

int spawn_start(struct spawn *sp, char *err, size_t errlen)
{
	char **envp = shim_env();
	int rp[2], e = 0;
	ssize_t n;

	sp->pid = 0;
	if (pipe2(rp, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	sp->pid = fork();
	if (sp->pid == 0)
		spawn_child(sp, rp[1], envp);
	close(rp[1]);
	if (sp->pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(rp[0]);
		sp->pid = 0;
		return -1;
	}
	do
		n = read(rp[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(rp[0]);
	if (n == 0)
		return 0;
	snprintf(err, errlen, "exec %s: %s", sp->argv[0], n == sizeof(e) ? strerror(e) : "failed");
	waitpid(sp->pid, NULL, 0);
	sp->pid = 0;
	return -1;
}
