/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of runner modules linked without main.c (the build links all
 * of them, so this also proves none needs main.c): the job directory's
 * lock (one shim per job), spawn's placing of fds 3 and 4, the cgroup
 * file helpers on a directory laid out like cgroupfs (limit files
 * included), and the split of a job's limits between its cgroup and the
 * rlimits spec.json hands the shim.
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

#include <json-c/json.h>

#include "cgroup_fs.h"
#include "shim_proto.h"
#include "jobdir.h"
#include "job_limits.h"
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

/* The text of dir/file without its trailing newline ("" when unreadable). */
static const char *file_text(const char *dir, const char *file)
{
	static char buf[256];
	char path[PATH_MAX + 64], *text = NULL;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (util_read_file(path, sizeof(buf) - 1, &text, NULL) == 0) {
		snprintf(buf, sizeof(buf), "%s", text);
		buf[strcspn(buf, "\n")] = '\0';
	}
	free(text);
	return buf;
}

/* A job cgroup as the kernel lays it out: every limit file there, at "max". */
static void fake_job_cgroup(const char *dir, bool swap)
{
	char p[PATH_MAX + 64];

	CHECK(util_mkdir_p(dir, 0755) == 0);
	for (const char *const *f = (const char *const[]){"memory.max", "memory.swap.max",
	                                                  "pids.max", "cpu.max", NULL};
	     *f != NULL; f++) {
		if (!swap && strcmp(*f, "memory.swap.max") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, *f);
		write_file(p, strcmp(*f, "cpu.max") == 0 ? "max 100000\n" : "max\n");
	}
}

static void test_cgroup_limit_files(void)
{
	char dir[PATH_MAX + 64], p[PATH_MAX + 128], buf[64];
	struct cgfs_limits l = {.memory = 512ull << 20, .pids = 64, .cpu = 0.5};
	const char *bad_file = "x";

	/* controller lists: the three job limits use, whatever else is listed */
	snprintf(dir, sizeof(dir), "%s/cgroot", tmp);
	CHECK(util_mkdir_p(dir, 0755) == 0);
	snprintf(p, sizeof(p), "%s/cgroup.controllers", dir);
	write_file(p, "cpuset cpu io memory hugetlb pids rdma misc\n");
	CHECK(cgfs_controllers(dir, "cgroup.controllers") == CGFS_CTRL_ALL);
	write_file(p, "cpuset io memory\n");
	CHECK(cgfs_controllers(dir, "cgroup.controllers") == CGFS_CTRL_MEMORY);
	write_file(p, "\n");
	CHECK(cgfs_controllers(dir, "cgroup.controllers") == 0);
	CHECK(cgfs_controllers(dir, "cgroup.subtree_control") == -1 && errno == ENOENT);
	CHECK(strcmp(cgfs_ctrl_name(CGFS_CTRL_PIDS), "pids") == 0 && cgfs_ctrl_name(8) == NULL);
	/* cpu.max: quota = cores * 100000 us per 100000 us period */
	CHECK(cgfs_cpu_max(0.5, buf, sizeof(buf)) == 0 && strcmp(buf, "50000 100000") == 0);
	CHECK(cgfs_cpu_max(2, buf, sizeof(buf)) == 0 && strcmp(buf, "200000 100000") == 0);
	CHECK(cgfs_cpu_max(0.01, buf, sizeof(buf)) == 0 && strcmp(buf, "1000 100000") == 0);
	CHECK(cgfs_cpu_max(1, buf, 4) < 0);

	/* every limit into its file; swap off with memory */
	snprintf(dir, sizeof(dir), "%s/cgroot/job-a", tmp);
	fake_job_cgroup(dir, true);
	CHECK(cgfs_set_limits(dir, &l, &bad_file) == 0 && bad_file == NULL);
	CHECK(strcmp(file_text(dir, "memory.max"), "536870912") == 0);
	CHECK(strcmp(file_text(dir, "memory.swap.max"), "0") == 0);
	CHECK(strcmp(file_text(dir, "pids.max"), "64") == 0);
	CHECK(strcmp(file_text(dir, "cpu.max"), "50000 100000") == 0);
	/* unset limits leave their files alone; no memory.swap.max is no error */
	snprintf(dir, sizeof(dir), "%s/cgroot/job-b", tmp);
	fake_job_cgroup(dir, false);
	l = (struct cgfs_limits){.memory = 4096};
	CHECK(cgfs_set_limits(dir, &l, &bad_file) == 0);
	CHECK(strcmp(file_text(dir, "memory.max"), "4096") == 0);
	snprintf(p, sizeof(p), "%s/memory.swap.max", dir);
	CHECK(access(p, F_OK) < 0);
	CHECK(strcmp(file_text(dir, "pids.max"), "max") == 0);
	CHECK(strcmp(file_text(dir, "cpu.max"), "max 100000") == 0);
	/* a file that is not there (no such controller) fails, naming it */
	snprintf(p, sizeof(p), "%s/pids.max", dir);
	CHECK(unlink(p) == 0);
	l = (struct cgfs_limits){.pids = 10};
	CHECK(cgfs_set_limits(dir, &l, &bad_file) < 0 && errno == ENOENT && bad_file != NULL &&
	      strcmp(bad_file, "pids.max") == 0);
}

/* job_limits_plan's split, and what the runner row says about it. */
static void test_job_limits_plan(void)
{
	struct job_limits in = {.memory = 1 << 20,
	                        .open_files = 256,
	                        .processes = 32,
	                        .cpu_seconds = 5,
	                        .file_size = 4096,
	                        .cpu = 1.5},
	                  rl;
	struct cgfs_limits cg;
	struct json_object *o;
	char err[256];

	/* every controller: memory, processes and cpu go to the cgroup, the rest are rlimits */
	CHECK(job_limits_plan(&in, CGFS_CTRL_ALL, true, &cg, &rl, err, sizeof(err)) == 0);
	CHECK(cg.memory == 1 << 20 && cg.pids == 32 && cg.cpu == 1.5);
	CHECK(rl.memory == 0 && rl.processes == 0 && rl.cpu == 0);
	CHECK(rl.open_files == 256 && rl.cpu_seconds == 5 && rl.file_size == 4096);
	o = job_limits_rlimits_json(&rl);
	CHECK(strcmp(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
	             "{\"open_files\":256,\"file_size\":4096,\"cpu_seconds\":5}") == 0);
	json_object_put(o);
	/* no controller: memory and processes fall back to rlimits; cpu has none, so refused */
	CHECK(job_limits_plan(&in, 0, false, &cg, &rl, err, sizeof(err)) < 0 &&
	      strstr(err, "limits.cpu") != NULL);
	in.cpu = 0;
	CHECK(job_limits_plan(&in, 0, false, &cg, &rl, err, sizeof(err)) == 0);
	CHECK(cg.memory == 0 && cg.pids == 0 && cg.cpu == 0);
	CHECK(rl.memory == 1 << 20 && rl.processes == 32 && rl.open_files == 256);
	/* each controller on its own */
	CHECK(job_limits_plan(&in, CGFS_CTRL_PIDS, false, &cg, &rl, err, sizeof(err)) == 0);
	CHECK(cg.pids == 32 && rl.processes == 0 && cg.memory == 0 && rl.memory == 1 << 20);
	/* RLIMIT_NPROC does not bind root: processes for a root job needs pids */
	CHECK(job_limits_plan(&in, CGFS_CTRL_MEMORY, true, &cg, &rl, err, sizeof(err)) < 0 &&
	      strstr(err, "limits.processes") != NULL && strstr(err, "root") != NULL);
	in.processes = 0;
	CHECK(job_limits_plan(&in, 0, true, &cg, &rl, err, sizeof(err)) == 0);
	/* the runner row: each value says cgroup, rlimit or none */
	o = job_limits_enforcement(CGFS_CTRL_ALL, true);
	CHECK(strcmp(json_object_get_string(json_object_object_get(o, "memory")),
	             "cgroup memory.max, memory.swap.max 0") == 0);
	CHECK(strcmp(json_object_get_string(json_object_object_get(o, "cpu")), "cgroup cpu.max") ==
	      0);
	CHECK(strcmp(json_object_get_string(json_object_object_get(o, "open_files")),
	             "rlimit RLIMIT_NOFILE") == 0);
	CHECK(json_object_object_length(o) == 6);
	json_object_put(o);
	o = job_limits_enforcement(CGFS_CTRL_MEMORY, false);
	CHECK(strcmp(json_object_get_string(json_object_object_get(o, "memory")),
	             "cgroup memory.max") == 0);
	CHECK(strncmp(json_object_get_string(json_object_object_get(o, "processes")),
	              "rlimit RLIMIT_NPROC", 19) == 0);
	CHECK(strncmp(json_object_get_string(json_object_object_get(o, "cpu")), "none", 4) == 0);
	json_object_put(o);
}

/* jobdir_prepare writes the cgroup's limits and hands the shim only the rlimits left. */
static void test_jobdir_limits(void)
{
	struct runner r = {0};
	struct store_task t = {.id = "task-lim", .project = "p"};
	struct store_release rel = {
	    .id = 1,
	    .seq = 1,
	    .spec = "{\"command\":[\"/bin/true\"],\"limits\":{\"memory\":1048576,"
	            "\"processes\":16,\"open_files\":100,\"cpu\":0.25}}"};
	char dir[PATH_MAX], cg[PATH_MAX + 64], err[256], path[2 * PATH_MAX], *text = NULL;
	struct json_object *spec;
	int lock = -1;

	config_defaults(&r.cfg, tmp);
	snprintf(r.cfg.run_user, sizeof(r.cfg.run_user), "root");
	snprintf(path, sizeof(path), "%s/db", tmp);
	CHECK(store_open(path, &r.store, err, sizeof(err)) == 0);
	snprintf(cg, sizeof(cg), "%s/cgroot/job-%s", tmp, t.id);
	fake_job_cgroup(cg, true);
	r.cg_ctrl = CGFS_CTRL_ALL;
	CHECK(jobdir_prepare(&r, &t, &rel, cg, &lock, err, sizeof(err)) == 0);
	close(lock);
	CHECK(strcmp(file_text(cg, "memory.max"), "1048576") == 0);
	CHECK(strcmp(file_text(cg, "memory.swap.max"), "0") == 0);
	CHECK(strcmp(file_text(cg, "pids.max"), "16") == 0);
	CHECK(strcmp(file_text(cg, "cpu.max"), "25000 100000") == 0);
	CHECK(jobdir_path(&r, t.id, dir, sizeof(dir)) == 0);
	snprintf(path, sizeof(path), "%s/spec.json", dir);
	CHECK(util_read_file(path, 1 << 20, &text, NULL) == 0);
	spec = text ? json_tokener_parse(text) : NULL;
	CHECK(spec != NULL &&
	      strcmp(json_object_to_json_string_ext(json_object_object_get(spec, "limits"),
	                                            JSON_C_TO_STRING_PLAIN),
	             "{\"open_files\":100}") == 0);
	json_object_put(spec);
	free(text);
	/* a run whose cgroup could not be made lacks cpu.max: not now (-1), try again */
	CHECK(jobdir_prepare(&r, &t, &rel, "", &lock, err, sizeof(err)) == -1 && lock == -1);
	CHECK(strstr(err, "limits.cpu") != NULL);
	/* a host without the cpu controller: cpu would go unenforced, never start (-2) */
	r.cg_ctrl = CGFS_CTRL_MEMORY | CGFS_CTRL_PIDS;
	CHECK(jobdir_prepare(&r, &t, &rel, cg, &lock, err, sizeof(err)) == -2 && lock == -1);
	CHECK(strstr(err, "limits.cpu") != NULL);
	/* the root job's processes limit needs pids.max: without it, refused too */
	rel.spec = "{\"command\":[\"/bin/true\"],\"limits\":{\"processes\":16}}";
	r.cg_ctrl = CGFS_CTRL_MEMORY | CGFS_CTRL_CPU;
	CHECK(jobdir_prepare(&r, &t, &rel, cg, &lock, err, sizeof(err)) == -2);
	CHECK(strstr(err, "limits.processes") != NULL);
	/* a cgroup that refuses a value: an error worth a retry, and nothing is left locked */
	r.cg_ctrl = CGFS_CTRL_ALL;
	snprintf(path, sizeof(path), "%s/pids.max", cg);
	CHECK(unlink(path) == 0);
	CHECK(jobdir_prepare(&r, &t, &rel, cg, &lock, err, sizeof(err)) == -1 && lock == -1);
	CHECK(strstr(err, "pids.max") != NULL && jobdir_locked(dir) == 0);
	store_close(r.store);
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
	test_cgroup_limit_files();
	test_job_limits_plan();
	test_jobdir_limits();
	test_protocol();
	util_rm_rf(tmp);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
