/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the runner's pure parts: the supervision table, the restart
 * policy (backoff doubling, cap, crash loop, reset after a long run), the
 * end state of a run, and the /proc parsers and averages of procstat.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "procstat.h"
#include "supervise.h"

#include "unit.h"

static const struct sv_policy policy = {
    .restart = SV_RESTART_ON_FAILURE,
    .backoff_ms = 1000,
    .backoff_max_ms = 8000,
    .crashloop_after = 5,
    .fast_failure_ms = 10000,
};

static void test_table(void)
{
	CHECK(sv_action_for(SV_STOPPED, SV_EV_START) == SV_A_LAUNCH);
	CHECK(sv_action_for(SV_STARTING, SV_EV_STARTED) == SV_A_RUNNING);
	CHECK(sv_action_for(SV_RUNNING, SV_EV_EXITED) == SV_A_EXITED);
	CHECK(sv_action_for(SV_RUNNING, SV_EV_STOP) == SV_A_STOP_JOB);
	CHECK(sv_action_for(SV_STARTING, SV_EV_STOP) == SV_A_STOP_JOB);
	CHECK(sv_action_for(SV_STOPPING, SV_EV_EXITED) == SV_A_STOPPED);
	CHECK(sv_action_for(SV_STOPPING, SV_EV_START) == SV_A_NONE);
	CHECK(sv_action_for(SV_BACKOFF, SV_EV_TIMER) == SV_A_LAUNCH);
	CHECK(sv_action_for(SV_BACKOFF, SV_EV_STOP) == SV_A_HALT);
	CHECK(sv_action_for(SV_CRASHLOOP, SV_EV_TIMER) == SV_A_LAUNCH);
	CHECK(sv_action_for(SV_CRASHLOOP, SV_EV_START) == SV_A_LAUNCH);
	CHECK(sv_action_for(SV_FAILED, SV_EV_START) == SV_A_LAUNCH);
	/* late or stray events are deliberate no-ops */
	CHECK(sv_action_for(SV_STOPPED, SV_EV_TIMER) == SV_A_NONE);
	CHECK(sv_action_for(SV_STOPPED, SV_EV_EXITED) == SV_A_NONE);
	CHECK(sv_action_for(SV_RUNNING, SV_EV_STARTED) == SV_A_NONE);
	CHECK(sv_action_for(SV_RUNNING, SV_EV_TIMER) == SV_A_NONE);
	CHECK(sv_action_for((enum sv_state)99, SV_EV_START) == SV_A_NONE);
	CHECK(sv_action_for(SV_RUNNING, (enum sv_event) - 1) == SV_A_NONE);
}

static void test_backoff(void)
{
	struct sv_decision d;
	int ff = 0;
	const int64_t want[] = {1000, 2000, 4000, 8000};

	for (int i = 0; i < 4; i++) {
		sv_after_exit(&policy, false, 50, &ff, &d);
		CHECK(ff == i + 1);
		CHECK(d.restart && d.next == SV_BACKOFF);
		CHECK(d.delay_ms == want[i]);
	}
	/* the fifth consecutive fast failure: crash loop at the maximum delay */
	sv_after_exit(&policy, false, 50, &ff, &d);
	CHECK(ff == 5 && d.next == SV_CRASHLOOP && d.delay_ms == 8000);
	sv_after_exit(&policy, false, 50, &ff, &d);
	CHECK(ff == 6 && d.next == SV_CRASHLOOP);
	/* a run that lasted resets the counter and restarts at once */
	sv_after_exit(&policy, false, 60000, &ff, &d);
	CHECK(ff == 0 && d.restart && d.next == SV_STARTING && d.delay_ms == 0);
	/* the next fast failure starts the doubling again */
	sv_after_exit(&policy, false, 10, &ff, &d);
	CHECK(ff == 1 && d.delay_ms == 1000);
}

static void test_cap(void)
{
	struct sv_policy p = policy;
	struct sv_decision d;
	int ff = 0;

	p.crashloop_after = 1000;
	for (int i = 0; i < 70; i++) /* no overflow however long it goes */
		sv_after_exit(&p, false, 0, &ff, &d);
	CHECK(d.delay_ms == 8000 && d.next == SV_BACKOFF);
}

static void test_policies(void)
{
	struct sv_policy p = policy;
	struct sv_decision d;
	int ff = 0;

	sv_after_exit(&p, true, 60000, &ff, &d);
	CHECK(!d.restart && d.next == SV_STOPPED); /* on-failure: exit 0 stays stopped */
	p.restart = SV_RESTART_NO;
	sv_after_exit(&p, false, 60000, &ff, &d);
	CHECK(!d.restart && d.next == SV_FAILED);
	p.restart = SV_RESTART_ALWAYS;
	sv_after_exit(&p, true, 60000, &ff, &d);
	CHECK(d.restart && d.next == SV_STARTING);
	/* runit's throttle: a long-ish run under a second still waits the rest of it */
	p.fast_failure_ms = 100;
	sv_after_exit(&p, true, 400, &ff, &d);
	CHECK(d.restart && d.next == SV_BACKOFF && d.delay_ms == 600);
}

static void test_names(void)
{
	enum sv_restart r;

	for (int s = 0; s < SV_NSTATES; s++)
		CHECK(sv_state_parse(sv_state_name((enum sv_state)s)) == (enum sv_state)s);
	CHECK(sv_state_parse("bogus") == SV_STOPPED);
	CHECK(sv_state_parse(NULL) == SV_STOPPED);
	CHECK(sv_restart_parse("always", &r) == 0 && r == SV_RESTART_ALWAYS);
	CHECK(sv_restart_parse("on-failure", &r) == 0 && r == SV_RESTART_ON_FAILURE);
	CHECK(sv_restart_parse("sometimes", &r) < 0);
}

static void test_end_state(void)
{
	char why[128];

	CHECK(strcmp(sv_end_state(true, 0, false, 0, false, false, why, sizeof(why)),
	             "completed") == 0);
	CHECK(strcmp(why, "exited with code 0") == 0);
	CHECK(strcmp(sv_end_state(true, 3, false, 0, false, false, why, sizeof(why)), "failed") ==
	      0);
	CHECK(strcmp(why, "exited with code 3") == 0);
	CHECK(strcmp(sv_end_state(false, 0, true, SIGSEGV, false, false, why, sizeof(why)),
	             "failed") == 0);
	CHECK(strcmp(why, "killed by signal SEGV") == 0);
	CHECK(strcmp(sv_end_state(false, 0, true, SIGTERM, true, false, why, sizeof(why)),
	             "cancelled") == 0);
	CHECK(strcmp(why, "stopped by request") == 0);
	CHECK(strcmp(sv_end_state(false, 0, true, SIGKILL, false, true, why, sizeof(why)),
	             "timeout") == 0);
	CHECK(strcmp(sv_end_state(false, 0, false, 0, false, false, why, sizeof(why)), "failed") ==
	      0);
}

static void test_stat_parse(void)
{
	struct procstat_proc p;
	/* a command name with spaces and a ')' must not shift the fields */
	const char *line =
	    "4242 (a b) c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0"
	    " 987654 12345678 777 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0";

	CHECK(procstat_parse_stat(line, &p) == 0);
	CHECK(p.pid == 4242 && p.ppid == 1 && p.pgrp == 4242 && p.session == 4242);
	CHECK(p.state == 'S');
	CHECK(p.utime == 250 && p.stime == 50);
	CHECK(p.threads == 3);
	CHECK(p.start_time == 987654);
	CHECK(p.rss_pages == 777);
	CHECK(procstat_parse_stat("garbage", &p) < 0);
	CHECK(procstat_parse_stat("12 (x) S 1", &p) < 0);
	CHECK(procstat_read(getpid(), &p) == 0 && p.pid == getpid());
}

static void test_cpu(void)
{
	struct procstat_cpu a, b;

	CHECK(procstat_parse_cpu("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n", &a) == 0);
	CHECK(a.total == 1000 && a.busy == 200);
	CHECK(procstat_parse_cpu("cpu  150 0 150 880 20 0 0 0 0 0\n", &b) == 0);
	/* 100 busy of 200 elapsed: 50 % (iowait counts as idle) */
	CHECK(procstat_host_pct(&a, &b) > 49.9 && procstat_host_pct(&a, &b) < 50.1);
	CHECK(procstat_host_pct(&b, &a) == 0.0);
	CHECK(procstat_parse_cpu("intr 1 2 3", &a) < 0);
	/* 50 ticks at 100 Hz over 1 s: half a core */
	CHECK(procstat_cpu_pct(100, 150, 1000, 100) == 50.0);
	CHECK(procstat_cpu_pct(150, 100, 1000, 100) == 0.0);
	CHECK(procstat_cpu_pct(100, 150, 0, 100) == 0.0);
}

static void test_avg(void)
{
	static struct procstat_avg a;

	CHECK(procstat_avg_mean(&a, 60) == 0.0);
	for (int i = 0; i < 1000; i++)
		procstat_avg_add(&a, i < 940 ? 0.0 : 100.0);
	/* the last 60 samples are 100, the 240 before them 0 */
	CHECK(procstat_avg_mean(&a, 60) == 100.0);
	CHECK(procstat_avg_mean(&a, 300) == 20.0);
	CHECK(a.count == PROCSTAT_AVG_N);
}

int main(void)
{
	test_table();
	test_backoff();
	test_cap();
	test_policies();
	test_names();
	test_end_state();
	test_stat_parse();
	test_cpu();
	test_avg();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
