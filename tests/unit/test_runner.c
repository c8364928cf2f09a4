/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of runner modules linked without main.c (the build links all
 * of them, so this also proves none needs main.c): the job directory's
 * lock (one shim per job), spawn's placing of fds 3 and 4, and the cgroup
 * file helpers on a directory laid out like cgroupfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup_fs.h"
#include "shim_proto.h"
#include "jobdir.h"
#include "runner.h"
#include "spawn.h"
#include "store.h"
#include "store_projects.h"
#include "store_tasks.h"
#include "store_usage.h"
#include "util.h"

#include "unit.h"

static char tmp[PATH_MAX];

static void write_file(const char *path, const char *text)
{
	CHECK(util_write_atomic(path, text, strlen(text), 0644, false) == 0);
}

/* A child that takes dir's lock as a shim does, and holds it until it is killed. */
static pid_t hold_lock(const char *dir)
{
	int p[2];
	char c;
	pid_t pid;

	CHECK(pipe(p) == 0);
	pid = fork();
	if (pid == 0) {
		int fd = open(dir, O_RDONLY | O_DIRECTORY);
		if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	CHECK(read(p[0], &c, 1) == 1);
	close(p[0]);
	return pid;
}

static void test_jobdir_lock(void)
{
	struct runner r = {0};
	struct store_task t = {.id = "task-1", .project = "p", .parameters = "{\"a\":1}"};
	struct store_release rel = {.id = 1, .seq = 1, .spec = "{\"command\":[\"/bin/true\"]}"};
	char dir[PATH_MAX], err[256], path[PATH_MAX + 32];
	int lock = -1;
	pid_t holder;

	config_defaults(&r.cfg, tmp);
	snprintf(r.cfg.run_user, sizeof(r.cfg.run_user), "root");
	snprintf(path, sizeof(path), "%s/db", tmp);
	CHECK(store_open(path, &r.store, err, sizeof(err)) == 0);
	CHECK(jobdir_path(&r, t.id, dir, sizeof(dir)) == 0);
	CHECK(jobdir_locked(dir) == 0); /* no directory: no shim */
	CHECK(jobdir_prepare(&r, &t, &rel, NULL, &lock, err, sizeof(err)) == 0);
	CHECK(lock >= 0 && jobdir_locked(dir) == 1); /* we hold it until the shim has it */
	snprintf(path, sizeof(path), "%s/spec.json", dir);
	CHECK(access(path, R_OK) == 0);
	close(lock);
	CHECK(jobdir_locked(dir) == 0);

	/* a shim holds the directory: it is never prepared again, its files stay */
	holder = hold_lock(dir);
	CHECK(jobdir_locked(dir) == 1);
	CHECK(jobdir_prepare(&r, &t, &rel, NULL, &lock, err, sizeof(err)) == JOBDIR_BUSY);
	CHECK(lock == -1 && access(path, R_OK) == 0);
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	/* the lock dies with its holder: a leftover is cleared and prepared afresh */
	snprintf(path, sizeof(path), "%s/leftover", dir);
	write_file(path, "x");
	CHECK(jobdir_prepare(&r, &t, &rel, NULL, &lock, err, sizeof(err)) == 0);
	CHECK(access(path, F_OK) < 0 && errno == ENOENT);
	close(lock);
	/* a spec without a command cannot run: -2, and nothing is locked */
	rel.spec = "{}";
	CHECK(jobdir_prepare(&r, &t, &rel, NULL, &lock, err, sizeof(err)) == -2 && lock == -1);
	store_close(r.store);
}

/* The handed-over fds land on 3 and 4, whatever numbers they had; 0-2 are /dev/null. */
static void test_spawn_fds(void)
{
	const char *script =
	    "readlink /proc/self/fd/0 >&3; echo four >&4; "
	    "for f in /proc/self/fd/*; do n=${f##*/}; "
	    "[ \"$n\" -gt 4 ] && [ -e \"$f\" ] && echo \"leak $n\" >&4; done; exit 0";
	const char *argv[] = {"/bin/sh", "-c", script, NULL};
	struct spawn sp = {.argv = argv};
	int a[2], b[2], saved3 = dup(3), saved4 = dup(4);
	char buf[128] = "", err[256];
	ssize_t n;

	CHECK(pipe(a) == 0 && pipe(b) == 0);
	for (int i = 0; i < 2; i++) { /* clear of 3 and 4, which are about to be overwritten */
		a[i] = fcntl(a[i], F_DUPFD, 10);
		b[i] = fcntl(b[i], F_DUPFD, 10);
	}
	/* the worst case: what goes to 4 sits on 3, and what goes to 3 sits on 4 */
	CHECK(dup2(b[1], 3) == 3 && dup2(a[1], 4) == 4);
	close(a[1]);
	close(b[1]);
	sp.fd3 = 4;
	sp.fd4 = 3;
	CHECK(spawn_start(&sp, err, sizeof(err)) == 0);
	close(3);
	close(4);
	CHECK(waitpid(sp.pid, NULL, 0) == sp.pid);
	n = read(a[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	if (strcmp(buf, "/dev/null\n") != 0)
		fprintf(stderr, "fd 3 read: '%s'\n", buf);
	CHECK(strcmp(buf, "/dev/null\n") == 0);
	n = read(b[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	CHECK(strcmp(buf, "four\n") == 0);
	close(a[0]);
	close(b[0]);
	if (saved3 >= 0)
		dup2(saved3, 3), close(saved3);
	if (saved4 >= 0)
		dup2(saved4, 4), close(saved4);
	/* an exec failure is reported, never taken for a start */
	argv[0] = "/nonexistent/program";
	sp.fd3 = sp.fd4 = -1;
	CHECK(spawn_start(&sp, err, sizeof(err)) < 0 && strstr(err, "No such file") != NULL);
}

static void test_cgroup_fs(void)
{
	char root[PATH_MAX + 64], p[PATH_MAX + 128];

	/* a job cgroup with groups of the job's own below it: removed deepest first */
	snprintf(root, sizeof(root), "%s/cg/job-1", tmp);
	snprintf(p, sizeof(p), "%s/a/b/c", root);
	CHECK(util_mkdir_p(p, 0755) == 0);
	snprintf(p, sizeof(p), "%s/d", root);
	CHECK(util_mkdir_p(p, 0755) == 0);
	CHECK(cgfs_remove_tree(root, 100) == 0);
	CHECK(access(root, F_OK) < 0 && errno == ENOENT);
	CHECK(cgfs_remove_tree(root, 100) == 0); /* gone already: done */
	/* the freezer's state is read from cgroup.events */
	snprintf(root, sizeof(root), "%s/cg2", tmp);
	CHECK(util_mkdir_p(root, 0755) == 0);
	snprintf(p, sizeof(p), "%s/cgroup.events", root);
	write_file(p, "populated 1\nfrozen 1\n");
	snprintf(p, sizeof(p), "%s/cgroup.freeze", root);
	write_file(p, "0\n");
	CHECK(cgfs_frozen(root) == 1);
	CHECK(cgfs_freeze(root, true, 10) == 0);
	CHECK(cgfs_freeze(root, false, 10) < 0); /* it never thaws: the wait times out */
	snprintf(p, sizeof(p), "%s/memory.events", root);
	write_file(p, "low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n");
	CHECK(!cgfs_oom_killed(root));
	write_file(p, "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n");
	CHECK(cgfs_oom_killed(root));
	CHECK(cgfs_frozen(tmp) < 0); /* no cgroup.events */
}

/* Every message type through the one encoder and decoder; and what older shims send. */
static void test_protocol(void)
{
	struct shim_msg m = {0}, back;
	char buf[4096];

	for (int t = SHIM_MSG_NONE + 1; t < SHIM_MSG_NTYPES; t++) {
		memset(&m, 0, sizeof(m));
		m.type = (enum shim_msg_type)t;
		m.signal = 15;
		m.timeout_ms = 2500;
		m.pid = 4242;
		m.shim_pid = 4241;
		m.start_time = 987654;
		m.started_at = 1700000000123;
		snprintf(m.state, sizeof(m.state), "paused");
		m.paused = true;
		m.err = 2;
		m.exit.has_code = true;
		m.exit.exit_code = 3;
		m.exit.stopped = true;
		m.exit.ended_at = 1700000000456;
		snprintf(m.exit.reason, sizeof(m.exit.reason), "exited with code 3");
		CHECK(shim_msg_encode(&m, buf, sizeof(buf)) > 0);
		CHECK(shim_msg_decode(buf, &back) == 0 && back.type == m.type);
		if (t == SHIM_OP_STOP)
			CHECK(back.signal == 15 && back.timeout_ms == 2500);
		if (t == SHIM_EV_STATUS)
			CHECK(back.pid == 4242 && back.start_time == 987654 && back.paused &&
			      strcmp(back.state, "paused") == 0);
		if (t == SHIM_EV_EXITED)
			CHECK(back.exit.has_code && back.exit.exit_code == 3 &&
			      !back.exit.has_signal && back.exit.stopped &&
			      strcmp(back.exit.reason, "exited with code 3") == 0);
	}
	/* "the spec's" stop signal and timeout are fields left out, as every shim reads them */
	memset(&m, 0, sizeof(m));
	m.type = SHIM_OP_STOP;
	m.timeout_ms = -1;
	CHECK(shim_msg_encode(&m, buf, sizeof(buf)) > 0 && strcmp(buf, "{\"op\":\"stop\"}") == 0);
	CHECK(shim_msg_decode(buf, &back) == 0 && back.signal == 0 && back.timeout_ms == -1);
	/* an older shim's exec failure says why in "message" */
	CHECK(
	    shim_msg_decode("{\"ev\":\"exec_failed\",\"errno\":2,\"message\":\"start failed: x\"}",
	                    &back) == 0);
	CHECK(back.type == SHIM_EV_EXEC_FAILED && strcmp(back.exit.reason, "start failed: x") == 0);
	/* garbage and unknown types are refused */
	CHECK(shim_msg_decode("not json", &back) < 0 && back.type == SHIM_MSG_NONE);
	CHECK(shim_msg_decode("{\"op\":\"dance\"}", &back) < 0);
	CHECK(shim_msg_encode(&m, buf, 8) < 0); /* does not fit */
}

int main(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/hostagent-unit-XXXXXX");
	if (mkdtemp(tmp) == NULL)
		return 1;
	test_jobdir_lock();
	test_spawn_fds();
	test_cgroup_fs();
	test_protocol();
	util_rm_rf(tmp);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
