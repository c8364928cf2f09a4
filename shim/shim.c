/* SPDX-License-Identifier: MIT */
/*
 * hostagent-shim <jobdir>: the per-run parent of one job (the conmon
 * pattern). It starts the job, captures its output, answers the runner's
 * ops on SOCK_SEQPACKET (fd 3 first, then <jobdir>/shim.sock), runs the
 * stop sequence itself, and leaves exit.json behind. It signals only its
 * own unreaped child's process group or the job's cgroup, so a reused PID
 * is never hit. It never touches the database.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "procstat.h"
#include "packet.h"
#include "shim.h"
#include "shim_proto.h"
#include "shim_exec.h"
#include "shim_log.h"
#include "util.h"

#define DRAIN_MS 2000 /* after the job ended, how long output may still arrive */

static struct shim g;

static void shim_send(const struct shim_msg *m)
{
	if (g.conn_fd >= 0 && shim_msg_send(g.conn_fd, m) < 0)
		log_warn("send %s to runner: %s", shim_msg_name(m->type), strerror(errno));
}

/* exit.json must survive a power loss; shim.json is only a convenience. */
static int write_msg_atomic(const char *path, const struct shim_msg *m, bool durable)
{
	char buf[PACKET_MAX];
	int n = shim_msg_encode(m, buf, sizeof(buf));

	if (n < 0) {
		errno = EMSGSIZE;
		return -1;
	}
	return util_write_atomic(path, buf, (size_t)n, 0644, durable);
}

/* The "started" message, also kept as shim.json. */
static void started_msg(struct shim_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = SHIM_EV_STARTED;
	m->shim_pid = getpid();
	m->pid = g.pid;
	m->start_time = g.start_time;
	m->started_at = g.started_at;
}

/* The "exited" message, also kept as exit.json. */
static void exit_msg(struct shim_msg *m)
{
	struct shim_exit *e = &m->exit;
	int st = g.wait_status;

	memset(m, 0, sizeof(*m));
	m->type = SHIM_EV_EXITED;
	m->pid = g.pid;
	m->shim_pid = getpid();
	e->has_code = g.reaped && WIFEXITED(st);
	e->exit_code = e->has_code ? WEXITSTATUS(st) : 0;
	e->has_signal = g.reaped && WIFSIGNALED(st);
	e->signal = e->has_signal ? WTERMSIG(st) : 0;
	e->core = e->has_signal && WCOREDUMP(st);
	e->started_at = g.started_at;
	e->ended_at = g.ended_at;
	e->killed = g.killed;
	e->timed_out = g.timed_out;
	e->oom = g.oom;
	e->stopped = g.stop_requested;
	snprintf(e->reason, sizeof(e->reason), "%s", g.reason);
	snprintf(e->post_stop, sizeof(e->post_stop), "%s", g.post_stop_note);
}

/* Ends the shim: the run is over and every file that says so is written. */
static void hook_outcome(char *buf, size_t len);

static void shim_finish(void)
{
	struct shim_msg m;
	char what[256];

	if (g.post_stop_failed) {
		hook_outcome(what, sizeof(what));
		log_warn("%s", what);
		snprintf(g.post_stop_note, sizeof(g.post_stop_note), "%.150s", what);
	}
	shim_log_wait(&g.out);
	shim_log_wait(&g.err);
	shim_log_state_write(&g.out, &g.err);
	exit_msg(&m);
	if (write_msg_atomic("exit.json", &m, true) < 0)
		log_error("exit.json: %s", strerror(errno));
	/* remove the socket first: a runner that connects now is refused and reads exit.json */
	unlink("shim.sock");
	shim_send(&m);
	shim_cgroup_remove(&g);
	log_info("job %d ended: %s", (int)g.pid, g.reason);
	exit(0);
}

static void start_failed(const char *why, int err);
static void finish_failed_start(void);

/* Everything is over once what ran is reaped, no hook runs and the output is drained. */
static void maybe_finish(void)
{
	if ((!g.reaped && !g.start_failed) || g.hook_pid > 0 || g.out.pipe_fd >= 0 ||
	    g.err.pipe_fd >= 0)
		return;
	if (g.start_failed)
		finish_failed_start();
	shim_finish();
}

static void on_drain_timeout(struct loop *l, void *arg)
{
	/* a process that escaped the tree still holds a pipe: stop waiting for it */
	log_warn("output still open %d ms after the job ended; closing it", DRAIN_MS);
	for (struct shim_stream *s = &g.out; s != NULL; s = s == &g.out ? &g.err : NULL) {
		if (s->pipe_fd >= 0) {
			loop_del_fd(l, s->pipe_fd);
			close(s->pipe_fd);
			s->pipe_fd = -1;
		}
	}
	if (g.start_failed)
		finish_failed_start();
	shim_finish();
}

static void on_stream(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct shim_stream *s = arg;

	if (shim_log_read(s) == 1) {
		loop_del_fd(l, fd); /* before the close: see shim_log_read */
		close(fd);
		s->pipe_fd = -1;
	}
	if (g.reaped || g.start_failed)
		maybe_finish();
}

/* What the end looked like, for exit.json's reason. */
static void describe_end(void)
{
	int st = g.wait_status;
	const char *name;

	if (WIFEXITED(st)) {
		snprintf(g.reason, sizeof(g.reason), "exited with code %d", WEXITSTATUS(st));
	} else if (WIFSIGNALED(st)) {
		name = util_signal_name(WTERMSIG(st));
		if (name != NULL)
			snprintf(g.reason, sizeof(g.reason), "killed by signal %s", name);
		else
			snprintf(g.reason, sizeof(g.reason), "killed by signal %d", WTERMSIG(st));
	}
	if (g.killed)
		snprintf(g.reason + strlen(g.reason), sizeof(g.reason) - strlen(g.reason),
		         g.stop_requested ? " (stop timed out: SIGKILL)" : " (killed by request)");
	/* the kernel's count alone: a SIGKILL from elsewhere is no evidence of an OOM */
	g.oom = shim_cgroup_oom_count(&g) > g.oom_before;
}

static void close_writers(void)
{
	if (g.out_w >= 0)
		close(g.out_w);
	if (g.err_w >= 0)
		close(g.err_w);
	g.out_w = g.err_w = -1;
}

/* Nothing of ours writes to the output pipes any more: wait for their EOF, at most DRAIN_MS. */
static void drain(void)
{
	close_writers();
	loop_timer_add(g.loop, DRAIN_MS, on_drain_timeout, NULL);
	maybe_finish();
}

static const char *hook_name(void)
{
	return g.phase == SHIM_PRE_START ? "pre_start" : "post_stop";
}

static void on_hook_timeout(struct loop *l, void *arg)
{
	g.hook_timer = 0;
	if (g.hook_pid <= 0)
		return;
	log_warn("%s timed out after %lld ms: SIGKILL to it", hook_name(),
	         (long long)g.spec.hooks.timeout_ms);
	g.hook_timed_out = true;
	shim_tree_kill_all(&g);
}

/* What a hook's end looked like, with the tail of its output: "pre_start exited with code 3: …". */
static void hook_outcome(char *buf, size_t len)
{
	char tail[160] = "";
	int st = g.hook_status, n;

	if (shim_log_tail(&g.err, tail, sizeof(tail)) == 0)
		shim_log_tail(&g.out, tail, sizeof(tail));
	if (g.hook_timed_out)
		n = snprintf(buf, len, "%s timed out after %g s", hook_name(),
		             (double)g.spec.hooks.timeout_ms / 1000.0);
	else if (WIFEXITED(st))
		n = snprintf(buf, len, "%s exited with code %d", hook_name(), WEXITSTATUS(st));
	else
		n = snprintf(buf, len, "%s killed by signal %s", hook_name(),
		             util_signal_name(WTERMSIG(st)) ?: "?");
	if (tail[0] != '\0' && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ": %s", tail);
}

/* The job never ran (pre_start failed or was stopped, or exec failed): say why, and leave. */
static void finish_failed_start(void)
{
	char why[256];

	if (g.fail_why[0] != '\0')
		snprintf(why, sizeof(why), "%s", g.fail_why);
	else if (g.stop_requested)
		snprintf(why, sizeof(why), "stopped during the pre_start hook");
	else
		hook_outcome(why, sizeof(why));
	start_failed(why, 0);
}

static void started(void);

/* The job itself: after pre_start, or at once. */
static void main_start(void)
{
	char err[256];

	g.phase = SHIM_MAIN;
	g.oom_before = shim_cgroup_oom_count(&g);
	if (shim_exec_start(&g.spec, g.out_w, g.err_w, &g.pid, err, sizeof(err)) < 0) {
		g.pid = 0; /* reaped already: never signalled */
		g.start_failed = true;
		snprintf(g.fail_why, sizeof(g.fail_why), "%s", err);
		drain();
		return;
	}
	if (g.spec.hooks.post_stop == NULL)
		close_writers();
	started();
}

static void hook_start(enum shim_phase ph, char **argv)
{
	char err[200];

	g.phase = ph;
	g.hook_timed_out = false;
	g.out.tail_len = g.err.tail_len = 0; /* the tail of this hook's output alone */
	if (shim_exec_argv(&g.spec, argv, g.out_w, g.err_w, &g.hook_pid, err, sizeof(err)) < 0) {
		g.hook_pid = 0;
		log_warn("%s: %s", hook_name(), err);
		if (ph == SHIM_PRE_START) {
			g.start_failed = true;
			snprintf(g.fail_why, sizeof(g.fail_why), "pre_start: %s", err);
		} else {
			snprintf(g.post_stop_note, sizeof(g.post_stop_note), "post_stop: %.140s", err);
		}
		drain();
		return;
	}
	g.hook_timer = loop_timer_add(g.loop, g.spec.hooks.timeout_ms, on_hook_timeout, NULL);
}

/*
 * A hook ended (reaped, with what it left killed). pre_start: exit 0 starts
 * the job, anything else fails this start. post_stop: the run is over; a
 * failure is noted in its reason, the run's own end stays what it was.
 */
static void on_hook_exit(int status)
{
	loop_timer_cancel(g.loop, g.hook_timer);
	g.hook_timer = 0;
	g.hook_pid = 0;
	g.hook_status = status;
	if (g.phase == SHIM_PRE_START) {
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !g.stop_requested) {
			main_start();
			return;
		}
		/* nothing is left to stop: a stop's deadline must not mark this end "killed" */
		loop_timer_cancel(g.loop, g.kill_timer);
		g.kill_timer = 0;
		g.start_failed = true;
		drain();
		return;
	}
	g.post_stop_failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0 || g.hook_timed_out;
	drain(); /* its outcome goes into the reason once its output is read (shim_finish) */
}

/*
 * The main pid has exited but is not reaped yet: its zombie still holds
 * the process-group id, so killing the group now cannot hit a reused PID.
 * A run leaves nothing behind: the rest of its tree is killed here.
 */
static void on_main_exit(void)
{
	int status;

	shim_tree_kill_all(&g);
	while (waitpid(g.pid, &status, 0) < 0 && errno == EINTR)
		;
	g.reaped = true;
	g.wait_status = status;
	g.ended_at = util_now_ms();
	loop_timer_cancel(g.loop, g.kill_timer);
	describe_end();
	shim_health_stop(&g.health);
	if (g.spec.hooks.post_stop != NULL) {
		hook_start(SHIM_POST_STOP, g.spec.hooks.post_stop);
		return;
	}
	drain();
}

/* SIGCHLD: reap in a loop until nothing is left (signals merge). */
static void reap(void)
{
	siginfo_t si;
	int status;

	for (;;) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
			return;
		if (g.phase == SHIM_MAIN && si.si_pid == g.pid && !g.reaped) {
			on_main_exit();
			continue;
		}
		if (si.si_pid == g.hook_pid) {
			/* its zombie still holds the group: what the hook left running goes with it */
			shim_tree_kill_all(&g);
			while (waitpid(g.hook_pid, &status, 0) < 0 && errno == EINTR)
				;
			on_hook_exit(status);
			continue;
		}
		if (shim_health_exited(&g.health, si.si_pid))
			continue;
		/* an orphan of the job (we are its subreaper) or a log compressor */
		if (waitpid(si.si_pid, &status, WNOHANG) != si.si_pid)
			continue;
		if (!shim_log_reaped(&g.out, si.si_pid, status))
			shim_log_reaped(&g.err, si.si_pid, status);
	}
}

static void on_signal(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			reap();
		} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			/* someone stops the shim itself: stop the job properly, then leave */
			shim_op_stop(&g, g.spec.stop_signal, g.spec.stop_timeout_ms);
		}
	}
}

static int conn_packet(const char *pkt, void *arg)
{
	shim_handle_op(arg, pkt);
	return 0;
}

static void on_conn(struct loop *l, int fd, uint32_t events, void *arg)
{
	if (packet_drain(fd, conn_packet, &g) != PACKET_PEER_GONE)
		return;
	/* the runner went away: the job goes on, and a new runner will connect */
	loop_del_fd(l, fd);
	close(fd);
	if (g.conn_fd == fd)
		g.conn_fd = -1;
}

void shim_set_conn(struct shim *s, int fd)
{
	if (s->conn_fd >= 0) {
		loop_del_fd(s->loop, s->conn_fd);
		close(s->conn_fd);
	}
	s->conn_fd = fd;
	if (fd >= 0 && loop_add_fd(s->loop, fd, EPOLLIN, on_conn, NULL) < 0) {
		close(fd);
		s->conn_fd = -1;
	}
}

static void on_accept(struct loop *l, int fd, uint32_t events, void *arg)
{
	int c;

	while ((c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0)
		shim_set_conn(&g, c); /* one runner at a time: the newest wins */
}

static void before_sleep(struct loop *l, void *arg)
{
	if (g.out.state_dirty || g.err.state_dirty) {
		g.out.state_dirty = g.err.state_dirty = false;
		shim_log_state_write(&g.out, &g.err);
	}
}

static int listen_sock(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	mode_t old;

	/* relative: our cwd is the job directory, so its length never matters */
	strcpy(sa.sun_path, "shim.sock");
	if (fd < 0)
		return -1;
	unlink("shim.sock");
	old = umask(077);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);
	return fd;
}

/* The job could not start: exit.json and exec_failed say why, and we leave. */
static void start_failed(const char *why, int err)
{
	struct shim_msg m;

	snprintf(g.reason, sizeof(g.reason), "start failed: %s", why);
	log_error("%s", g.reason);
	g.ended_at = util_now_ms();
	shim_log_wait(&g.out); /* a pre_start's output may have been rotated and compressed */
	shim_log_wait(&g.err);
	shim_log_state_write(&g.out, &g.err);
	exit_msg(&m);
	if (write_msg_atomic("exit.json", &m, true) < 0)
		log_error("exit.json: %s", strerror(errno));
	unlink("shim.sock");
	m.type = SHIM_EV_EXEC_FAILED;
	m.err = err;
	shim_send(&m);
	shim_cgroup_remove(&g);
	exit(1);
}

/* Signals arrive through the signalfd only; SIGPIPE is blocked (sends use MSG_NOSIGNAL). */
static int setup_signals(void)
{
	static const int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPIPE, 0};
	static const int quiet[] = {SIGHUP, SIGPIPE, 0};

	return util_signalfd(sigs, quiet);
}

static int read_spec(void)
{
	char *text = NULL, err[256];
	int rc;

	if (util_read_file("spec.json", 1 << 20, &text, NULL) < 0) {
		log_error("spec.json: %s", strerror(errno));
		return -1;
	}
	rc = shim_spec_parse(text, &g.spec, err, sizeof(err));
	free(text);
	if (rc < 0)
		log_error("%s", err);
	return rc;
}

static int open_streams(int *out_w, int *err_w)
{
	int po[2], pe[2];

	if (pipe2(po, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]);
		close(po[1]);
		return -1;
	}
	util_set_nonblock(po[0]);
	util_set_nonblock(pe[0]);
	*out_w = po[1];
	*err_w = pe[1];
	if (shim_log_open(&g.out, "stdout", po[0], g.spec.log_segment_bytes, g.spec.log_max_bytes) <
	        0 ||
	    shim_log_open(&g.err, "stderr", pe[0], g.spec.log_segment_bytes, g.spec.log_max_bytes) <
	        0)
		return -1;
	return 0;
}

static void on_health(const struct shim_health *h, void *arg)
{
	struct shim_msg m = {.type = SHIM_EV_HEALTH, .health = *h};

	shim_send(&m);
}

static void started(void)
{
	struct procstat_proc p;
	struct shim_msg m;

	g.started_at = util_now_ms();
	if (procstat_read(g.pid, &p) == 0)
		g.start_time = p.start_time;
	started_msg(&m);
	if (write_msg_atomic("shim.json", &m, false) < 0)
		log_warn("shim.json: %s", strerror(errno));
	shim_send(&m);
	log_info("job started: pid %d, shim rss %llu KiB", (int)g.pid,
	         (unsigned long long)(procstat_self_rss() >> 10));
	shim_health_start(&g.health, g.loop, &g.spec, on_health, NULL);
}

static int run(void)
{
	char err[512];
	int sfd;

	if ((sfd = setup_signals()) < 0 || read_spec() < 0 || open_streams(&g.out_w, &g.err_w) < 0 ||
	    (g.listen_fd = listen_sock()) < 0) {
		snprintf(err, sizeof(err), "shim setup: %s", strerror(errno));
		start_failed(err, errno);
	}
	if (loop_add_fd(g.loop, sfd, EPOLLIN, on_signal, NULL) < 0 ||
	    loop_add_fd(g.loop, g.listen_fd, EPOLLIN, on_accept, NULL) < 0 ||
	    loop_add_fd(g.loop, g.out.pipe_fd, EPOLLIN, on_stream, &g.out) < 0 ||
	    loop_add_fd(g.loop, g.err.pipe_fd, EPOLLIN, on_stream, &g.err) < 0)
		return -1;
	if (g.conn_fd >= 0 && loop_add_fd(g.loop, g.conn_fd, EPOLLIN, on_conn, NULL) < 0)
		return -1;
	loop_set_before_sleep(g.loop, before_sleep, NULL);
	if (g.spec.hooks.pre_start != NULL)
		hook_start(SHIM_PRE_START, g.spec.hooks.pre_start);
	else
		main_start();
	reap(); /* a job that exited before the signalfd was polled */
	return loop_run(g.loop);
}

/*
 * The job directory's lock, held for the shim's whole life: the runner never
 * prepares a directory whose lock is held, so a job has exactly one shim,
 * even when a runner died between spawning us and recording it. The runner
 * takes the lock before the spawn and hands its fd over as fd 4 (the lock
 * belongs to the open file, so it is ours from the first instruction); a
 * shim started by hand takes it itself. -1 when another shim holds it.
 */
static int take_lock(const char *jobdir)
{
	struct stat a, b;
	int fd = -1;

	if (fstat(4, &a) == 0 && stat(jobdir, &b) == 0 && S_ISDIR(a.st_mode) &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		fd = 4;
	else
		fd = open(jobdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	util_set_cloexec(fd); /* the job must never hold it */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: hostagent-shim <jobdir>\n");
		return 2;
	}
	g.conn_fd = fcntl(3, F_GETFD) >= 0 ? 3 : -1;
	if (g.conn_fd >= 0)
		util_set_cloexec(3), util_set_nonblock(3);
	g.lock_fd = take_lock(argv[1]);
	if (g.lock_fd < 0) {
		fprintf(stderr, "hostagent-shim: %s: another shim holds this job directory (%s)\n",
		        argv[1], strerror(errno));
		return 111;
	}
	g.listen_fd = -1;
	g.out_w = g.err_w = -1;
	g.health.fd = -1;
	g.out.pipe_fd = g.out.seg_fd = g.out.idx_fd = -1;
	g.err.pipe_fd = g.err.seg_fd = g.err.idx_fd = -1;
	/* our own session: a signal to the runner's group never reaches us or the job */
	setsid();
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (chdir(argv[1]) < 0) {
		fprintf(stderr, "hostagent-shim: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	log_init("shim", LOG_LVL_INFO, "shim.log");
	if (loop_init(&g.loop) < 0)
		return 1;
	if (run() < 0) {
		log_error("event loop failed: %s", strerror(errno));
		return 1;
	}
	return 0;
}
