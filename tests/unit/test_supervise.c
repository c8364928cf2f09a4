/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the runner's pure parts: the supervision table and whole
 * command sequences through it, the restart policy (backoff doubling, cap,
 * crash loop, reset after a long run), the end state of a run, and the
 * /proc parsers and averages of procstat.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "health.h"
#include "procstat.h"
#include "supervise.h"
#include "task_machine.h"
#include "util.h"

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
	CHECK(sv_action_for(SV_RUNNING, SV_EV_EXITED) == SV_A_POLICY);
	CHECK(sv_action_for(SV_RUNNING, SV_EV_STOP) == SV_A_STOP);
	CHECK(sv_action_for(SV_RUNNING, SV_EV_DELETE) == SV_A_STOP);
	CHECK(sv_action_for(SV_STARTING, SV_EV_STOP) == SV_A_STOP);
	CHECK(sv_action_for(SV_STOPPING, SV_EV_EXITED) == SV_A_ENDED);
	CHECK(sv_action_for(SV_STOPPING, SV_EV_START) == SV_A_QUEUE);
	CHECK(sv_action_for(SV_STOPPING, SV_EV_SWITCH) == SV_A_QUEUE);
	CHECK(sv_action_for(SV_BACKOFF, SV_EV_TIMER) == SV_A_LAUNCH);
	CHECK(sv_action_for(SV_BACKOFF, SV_EV_STOP) == SV_A_HALT);
	CHECK(sv_action_for(SV_CRASHLOOP, SV_EV_TIMER) == SV_A_LAUNCH);
	CHECK(sv_action_for(SV_CRASHLOOP, SV_EV_DELETE) == SV_A_DELETE);
	CHECK(sv_action_for(SV_FAILED, SV_EV_START) == SV_A_LAUNCH);
	CHECK(sv_action_for(SV_DELETED, SV_EV_START) == SV_A_REFUSE);
	CHECK(sv_action_for(SV_DELETED, SV_EV_SWITCH) == SV_A_LAUNCH);
	CHECK(sv_action_for(SV_STOPPED, SV_EV_SIGNAL) == SV_A_NOTRUN);
	/* late or stray events are deliberate no-ops */
	CHECK(sv_action_for(SV_STOPPED, SV_EV_TIMER) == SV_A_NONE);
	CHECK(sv_action_for(SV_STOPPED, SV_EV_EXITED) == SV_A_NONE);
	CHECK(sv_action_for(SV_RUNNING, SV_EV_STARTED) == SV_A_NONE);
	CHECK(sv_action_for(SV_RUNNING, SV_EV_TIMER) == SV_A_NONE);
	CHECK(sv_action_for((enum sv_state)99, SV_EV_START) == SV_A_NONE);
	CHECK(sv_action_for(SV_RUNNING, (enum sv_event) - 1) == SV_A_NONE);
	/* while a stop is under way every command waits for it, a stage too */
	for (int e = SV_EV_START; e <= SV_EV_DELETE; e++)
		CHECK(sv_action_for(SV_STOPPING, (enum sv_event)e) ==
		      (e == SV_EV_SIGNAL ? SV_A_SIGNAL : SV_A_QUEUE));
}

/*
 * Whole sequences through sv_step, with the effects carried out by a
 * small model of the world (is a run there, which tasks were launched,
 * how each command was settled), as project.c carries them out.
 */
struct world {
	struct sv m;
	bool job, timer, deleted;
	int launches, stops;
	char last_task[40];
	int64_t release;
	struct {
		bool settled, ok;
		char result[64], reason[96];
	} cmd[64];
	char cancelled[8][40];
	int ncancelled;
};

enum {
	X_EXIT_FAIL = SV_NEVENTS + 1, /* EXITED after a short failed run */
	X_EXIT_OK,                    /* EXITED, exit 0 after a long run */
	X_STARTED_CHECKED,            /* STARTED of a run with a health check */
};

struct step {
	int ev; /* an sv_event, or X_* */
	int64_t id, release;
	const char *task;
	enum sv_state want;
};

static void carry(struct world *w, const struct sv_out *out)
{
	for (size_t i = 0; i < out->n; i++) {
		const struct sv_fx *f = &out->fx[i];
		switch (f->kind) {
		case SV_FX_LAUNCH:
			w->job = true;
			w->launches++;
			snprintf(w->last_task, sizeof(w->last_task), "%s",
			         f->task_id[0] ? f->task_id : "new");
			break;
		case SV_FX_STOP:
			w->stops++;
			break;
		case SV_FX_TIMER:
			w->timer = true;
			break;
		case SV_FX_CANCEL_TIMER:
			w->timer = false;
			break;
		case SV_FX_RELEASE:
			w->release = f->release_id;
			break;
		case SV_FX_DELETE:
			w->deleted = true;
			break;
		case SV_FX_UNDELETE:
			w->deleted = false;
			break;
		case SV_FX_CANCEL_TASK:
			if (w->ncancelled < 8)
				snprintf(w->cancelled[w->ncancelled++], 40, "%s", f->task_id);
			break;
		case SV_FX_SETTLE:
			CHECK(f->cmd_id > 0 && f->cmd_id < 64 && !w->cmd[f->cmd_id].settled);
			w->cmd[f->cmd_id].settled = true;
			w->cmd[f->cmd_id].ok = f->ok;
			snprintf(w->cmd[f->cmd_id].result, 64, "%s", f->result ? f->result : "");
			snprintf(w->cmd[f->cmd_id].reason, 96, "%s", f->reason ? f->reason : "");
			break;
		case SV_FX_SIGNAL:
			break;
		}
	}
}

static void run(struct world *w, const struct sv_policy *pol, const struct step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct sv_input in = {0};
		struct sv_out out = {0};
		const struct step *s = &steps[i];

		in.ev = s->ev == X_STARTED_CHECKED ? SV_EV_STARTED
		        : s->ev > SV_NEVENTS       ? SV_EV_EXITED
		                                   : (enum sv_event)s->ev;
		in.checked = s->ev == X_STARTED_CHECKED;
		in.success = s->ev == X_EXIT_OK;
		in.run_ms = s->ev == X_EXIT_OK ? 60000 : 10;
		in.why = in.success ? "exited with code 0" : "exited with code 3";
		in.cmd.ev = in.ev;
		in.cmd.id = s->id;
		in.cmd.release_id = s->release;
		snprintf(in.cmd.task_id, sizeof(in.cmd.task_id), "%s", s->task ? s->task : "");
		if (in.ev == SV_EV_EXITED)
			w->job = false;
		sv_step(&w->m, &in, pol, &out);
		carry(w, &out);
		if (w->m.state != s->want)
			fprintf(stderr, "step %zu (%s): state %s, want %s\n", i,
			        sv_event_name(in.ev), sv_state_name(w->m.state),
			        sv_state_name(s->want));
		CHECK(w->m.state == s->want);
	}
}

#define RUN(w, pol, ...)                                                                           \
	do {                                                                                       \
		static const struct step steps_[] = {__VA_ARGS__};                                 \
		run(w, pol, steps_, ARRAY_SIZE(steps_));                                           \
	} while (0)

static bool superseded(const struct world *w, int id)
{
	return w->cmd[id].settled && w->cmd[id].ok &&
	       strcmp(w->cmd[id].result, SV_RESULT_SUPERSEDED) == 0;
}

/* The review's bug: a deploy sent while a delete is stopping the project is never lost. */
static void test_deploy_during_delete(void)
{
	struct world w = {0};

	RUN(&w, &policy, {SV_EV_SWITCH, 1, 1, "A", SV_STARTING},
	    {SV_EV_STARTED, 0, 0, 0, SV_RUNNING}, {SV_EV_DELETE, 2, 0, 0, SV_STOPPING},
	    {SV_EV_SWITCH, 3, 2, "B", SV_STOPPING}, {X_EXIT_OK, 0, 0, 0, SV_STARTING},
	    {SV_EV_STARTED, 0, 0, 0, SV_RUNNING});
	CHECK(w.cmd[1].ok && strcmp(w.cmd[1].result, SV_RESULT_STATE) == 0);
	CHECK(superseded(&w, 2)); /* the later deploy wins */
	CHECK(w.cmd[3].settled && w.cmd[3].ok);
	CHECK(!w.deleted && w.release == 2 && strcmp(w.last_task, "B") == 0);
	CHECK(w.launches == 2 && w.stops == 1 && w.m.desired_running);
	/* a delete whose later deploy is still extracting does not take effect either */
	memset(&w, 0, sizeof(w));
	w.m.switch_pending = 5;
	RUN(&w, &policy, {SV_EV_DELETE, 4, 0, 0, SV_STOPPED});
	CHECK(superseded(&w, 4) && !w.deleted);
	/* and a delete that is the later command is carried out */
	memset(&w, 0, sizeof(w));
	RUN(&w, &policy, {SV_EV_START, 1, 0, 0, SV_STARTING}, {SV_EV_STARTED, 0, 0, 0, SV_RUNNING},
	    {SV_EV_START, 2, 0, 0, SV_RUNNING}, {SV_EV_DELETE, 3, 0, 0, SV_STOPPING},
	    {X_EXIT_OK, 0, 0, 0, SV_DELETED});
	CHECK(w.deleted && w.cmd[3].ok && strcmp(w.cmd[3].result, "{\"purged\":false}") == 0);
	CHECK(w.cmd[2].ok && strcmp(w.cmd[2].result, "{\"already\":\"running\"}") == 0);
	/* a start that reaches a deleted project is refused, never a silent success */
	RUN(&w, &policy, {SV_EV_START, 4, 0, 0, SV_DELETED});
	CHECK(w.cmd[4].settled && !w.cmd[4].ok);
}

static void test_start_during_stop(void)
{
	struct world w = {0};

	RUN(&w, &policy, {SV_EV_START, 1, 0, 0, SV_STARTING}, {SV_EV_STARTED, 0, 0, 0, SV_RUNNING},
	    {SV_EV_STOP, 2, 0, 0, SV_STOPPING}, {SV_EV_START, 3, 0, 0, SV_STOPPING},
	    {X_EXIT_OK, 0, 0, 0, SV_STARTING}, {SV_EV_STARTED, 0, 0, 0, SV_RUNNING});
	CHECK(w.cmd[2].settled && w.cmd[2].ok && w.cmd[3].ok && w.launches == 2);
	CHECK(w.m.desired_running);
	/* start then stop while stopping: the start never launches, the stop wins */
	RUN(&w, &policy, {SV_EV_STOP, 4, 0, 0, SV_STOPPING}, {SV_EV_START, 5, 0, 0, SV_STOPPING},
	    {SV_EV_STOP, 6, 0, 0, SV_STOPPING}, {X_EXIT_OK, 0, 0, 0, SV_STOPPED});
	CHECK(w.cmd[4].ok && superseded(&w, 5) && w.cmd[6].ok && w.launches == 2);
	CHECK(!w.m.desired_running && !w.job);
}

static void test_restart_during_backoff(void)
{
	struct world w = {0};

	RUN(&w, &policy, {SV_EV_START, 1, 0, 0, SV_STARTING}, {SV_EV_STARTED, 0, 0, 0, SV_RUNNING},
	    {X_EXIT_FAIL, 0, 0, 0, SV_BACKOFF});
	CHECK(w.timer && w.m.fast_failures == 1);
	RUN(&w, &policy, {SV_EV_RESTART, 2, 0, 0, SV_STARTING},
	    {SV_EV_STARTED, 0, 0, 0, SV_RUNNING});
	CHECK(!w.timer && w.m.fast_failures == 0 && w.cmd[2].ok && w.launches == 2);
	/* a late timer after that changes nothing */
	RUN(&w, &policy, {SV_EV_TIMER, 0, 0, 0, SV_RUNNING});
	CHECK(w.launches == 2);
}

static void test_delete_during_crashloop(void)
{
	struct sv_policy p = policy;
	struct world w = {0};

	p.crashloop_after = 2;
	RUN(&w, &p, {SV_EV_START, 1, 0, 0, SV_STARTING}, {X_EXIT_FAIL, 0, 0, 0, SV_BACKOFF},
	    {SV_EV_TIMER, 0, 0, 0, SV_STARTING}, {X_EXIT_FAIL, 0, 0, 0, SV_CRASHLOOP},
	    {SV_EV_DELETE, 2, 0, 0, SV_DELETED}, {SV_EV_TIMER, 0, 0, 0, SV_DELETED});
	CHECK(w.cmd[1].settled && !w.cmd[1].ok); /* its run failed before it ever started */
	CHECK(w.deleted && !w.timer && w.cmd[2].ok && w.launches == 2 && w.m.restarts == 1);
	/* a deploy brings a deleted project back */
	RUN(&w, &p, {SV_EV_SWITCH, 3, 7, "C", SV_STARTING}, {SV_EV_STARTED, 0, 0, 0, SV_RUNNING});
	CHECK(!w.deleted && w.release == 7 && w.cmd[3].ok);
}

static void test_deploy_during_deploy(void)
{
	struct world w = {0};

	RUN(&w, &policy, {SV_EV_SWITCH, 1, 1, "A", SV_STARTING},
	    {SV_EV_SWITCH, 2, 2, "B", SV_STOPPING}, {SV_EV_SWITCH, 3, 3, "C", SV_STOPPING},
	    {X_EXIT_OK, 0, 0, 0, SV_STARTING}, {SV_EV_STARTED, 0, 0, 0, SV_RUNNING});
	CHECK(superseded(&w, 1)); /* stopped before it ran */
	CHECK(superseded(&w, 2) && w.ncancelled == 1 && strcmp(w.cancelled[0], "B") == 0);
	CHECK(w.cmd[3].ok && w.release == 3 && strcmp(w.last_task, "C") == 0 && w.launches == 2);
}

static void test_rollback_during_stop(void)
{
	struct world w = {0};

	RUN(&w, &policy, {SV_EV_SWITCH, 1, 2, "A", SV_STARTING},
	    {SV_EV_STARTED, 0, 0, 0, SV_RUNNING}, {SV_EV_STOP, 2, 0, 0, SV_STOPPING},
	    {SV_EV_SWITCH, 3, 1, "R", SV_STOPPING}, {X_EXIT_OK, 0, 0, 0, SV_STARTING},
	    {SV_EV_STARTED, 0, 0, 0, SV_RUNNING});
	CHECK(w.cmd[2].ok && w.cmd[3].ok && w.release == 1 && strcmp(w.last_task, "R") == 0);
}

/* The review's holes: a deploy with start=false during a delete or a stop. */
static void test_stage_during_stop(void)
{
	struct world w = {0};

	/* delete, then a start=false deploy: the project stays, stopped, on the new release */
	RUN(&w, &policy, {SV_EV_START, 1, 0, 0, SV_STARTING}, {SV_EV_STARTED, 0, 0, 0, SV_RUNNING},
	    {SV_EV_DELETE, 2, 0, 0, SV_STOPPING}, {SV_EV_STAGE, 3, 9, 0, SV_STOPPING},
	    {X_EXIT_OK, 0, 0, 0, SV_STOPPED});
	CHECK(superseded(&w, 2) && !w.deleted && w.release == 9);
	CHECK(w.cmd[3].ok && strcmp(w.cmd[3].result, "{\"started\":false}") == 0);
	/* stop, deploy, then a start=false deploy: the later release wins, nothing starts */
	memset(&w, 0, sizeof(w));
	RUN(&w, &policy, {SV_EV_START, 1, 0, 0, SV_STARTING}, {SV_EV_STARTED, 0, 0, 0, SV_RUNNING},
	    {SV_EV_STOP, 2, 0, 0, SV_STOPPING}, {SV_EV_SWITCH, 3, 2, "B", SV_STOPPING},
	    {SV_EV_STAGE, 4, 3, 0, SV_STOPPING}, {X_EXIT_OK, 0, 0, 0, SV_STOPPED});
	CHECK(superseded(&w, 3) && w.ncancelled == 1 && strcmp(w.cancelled[0], "B") == 0);
	CHECK(w.cmd[4].ok && w.release == 3 && w.launches == 1 && !w.job);
}

static void test_ends(void)
{
	struct sv_policy p = policy;
	struct world w = {0};

	/* restart "no": a job that exits 3 is exactly failed, and nothing relaunches it */
	p.restart = SV_RESTART_NO;
	RUN(&w, &p, {SV_EV_START, 1, 0, 0, SV_STARTING}, {SV_EV_STARTED, 0, 0, 0, SV_RUNNING},
	    {X_EXIT_FAIL, 0, 0, 0, SV_FAILED}, {SV_EV_TIMER, 0, 0, 0, SV_FAILED});
	CHECK(w.launches == 1 && !w.timer);
	/* a launch that cannot succeed fails its command and the project */
	memset(&w, 0, sizeof(w));
	RUN(&w, &policy, {SV_EV_START, 1, 0, 0, SV_STARTING}, {SV_EV_FAILED, 0, 0, 0, SV_FAILED});
	CHECK(w.cmd[1].settled && !w.cmd[1].ok);
	/* at most SV_QUEUE_MAX commands wait for one stop; one more is refused, not dropped */
	memset(&w, 0, sizeof(w));
	RUN(&w, &policy, {SV_EV_START, 1, 0, 0, SV_STARTING}, {SV_EV_STARTED, 0, 0, 0, SV_RUNNING},
	    {SV_EV_STOP, 2, 0, 0, SV_STOPPING});
	for (int id = 3; id < 3 + SV_QUEUE_MAX; id++) {
		struct sv_input in = {.ev = SV_EV_START, .cmd = {.id = id, .ev = SV_EV_START}};
		struct sv_out out = {0};
		sv_step(&w.m, &in, &policy, &out);
		carry(&w, &out);
	}
	CHECK(w.cmd[2 + SV_QUEUE_MAX].settled && !w.cmd[2 + SV_QUEUE_MAX].ok);
	CHECK(!w.cmd[3].settled && w.m.nqueue == SV_QUEUE_MAX);
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

	/* every name reads back, but CHECKING's ('starting') and RECYCLING's ('unhealthy') */
	for (int s = 0; s < SV_NSTATES; s++)
		CHECK(sv_state_parse(sv_state_name((enum sv_state)s)) ==
		      (s == SV_CHECKING    ? SV_STARTING
		       : s == SV_RECYCLING ? SV_UNHEALTHY
		                           : (enum sv_state)s));
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

/* A run with a health check: starting until it passes, unhealthy, restarted under the policy. */
static void test_health_sequences(void)
{
	struct sv_policy no = policy;
	struct world w = {0};

	CHECK(sv_action_for(SV_CHECKING, SV_EV_HEALTHY) == SV_A_HEALTHY);
	CHECK(sv_action_for(SV_RUNNING, SV_EV_UNHEALTHY) == SV_A_UNHEALTHY);
	CHECK(sv_action_for(SV_STOPPING, SV_EV_UNHEALTHY) == SV_A_NONE);
	CHECK(strcmp(sv_state_name(SV_CHECKING), "starting") == 0);
	CHECK(strcmp(sv_state_name(SV_UNHEALTHY), "unhealthy") == 0);
	RUN(&w, &policy, {SV_EV_START, 1, 0, 0, SV_STARTING}, {X_STARTED_CHECKED, 0, 0, 0, SV_CHECKING},
	    {SV_EV_START, 2, 0, 0, SV_CHECKING}, {SV_EV_HEALTHY, 0, 0, 0, SV_RUNNING},
	    {SV_EV_UNHEALTHY, 0, 0, 0, SV_RECYCLING});
	CHECK(w.cmd[1].ok && strcmp(w.cmd[2].result, "{\"already\":\"running\"}") == 0);
	CHECK(w.stops == 1 && w.m.state == SV_RECYCLING);
	/* a pass while the stop is under way changes nothing; its end (even exit 0) is a failure */
	RUN(&w, &policy, {SV_EV_HEALTHY, 0, 0, 0, SV_RECYCLING}, {X_EXIT_OK, 0, 0, 0, SV_STARTING});
	CHECK(w.m.restarts == 1 && w.launches == 2 && w.m.fast_failures == 0);
	/* restart "no": unhealthy, still running, and healthy again when a check passes */
	memset(&w, 0, sizeof(w));
	no.restart = SV_RESTART_NO;
	RUN(&w, &no, {SV_EV_START, 1, 0, 0, SV_STARTING}, {X_STARTED_CHECKED, 0, 0, 0, SV_CHECKING},
	    {SV_EV_UNHEALTHY, 0, 0, 0, SV_UNHEALTHY}, {SV_EV_HEALTHY, 0, 0, 0, SV_RUNNING});
	CHECK(w.stops == 0 && w.job);
	/* a stop of an unhealthy run is a stop like any other */
	RUN(&w, &no, {SV_EV_UNHEALTHY, 0, 0, 0, SV_UNHEALTHY}, {SV_EV_STOP, 2, 0, 0, SV_STOPPING},
	    {X_EXIT_OK, 0, 0, 0, SV_STOPPED});
	CHECK(w.cmd[2].ok && w.stops == 1 && !w.m.desired_running);
}

static void test_health_counting(void)
{
	struct json_object *spec = json_tokener_parse("{\"retries\": 2, \"start_period\": 1}");
	struct shim_health ok = {.ok = true, .code = 0}, bad = {.ok = false, .code = 1};
	struct health h = {0};
	char *text;

	health_arm(&h, spec, 1000);
	CHECK(h.on && h.status == HEALTH_STARTING && h.retries == 2);
	/* inside start_period, before a first pass: not counted */
	CHECK(health_result(&h, &bad, 1500) == HEALTH_SAME && h.failures == 0);
	CHECK(health_result(&h, &bad, 2100) == HEALTH_SAME && h.failures == 1);
	CHECK(health_result(&h, &ok, 2200) == HEALTH_BECAME_HEALTHY && h.failures == 0);
	CHECK(health_result(&h, &ok, 2300) == HEALTH_SAME);
	CHECK(health_result(&h, &bad, 2400) == HEALTH_SAME);
	CHECK(health_result(&h, &bad, 2500) == HEALTH_BECAME_UNHEALTHY && h.failures == 2);
	CHECK(health_result(&h, &bad, 2600) == HEALTH_SAME && h.failures == 3);
	CHECK(health_result(&h, &ok, 2700) == HEALTH_BECAME_HEALTHY);
	text = health_json(&h);
	CHECK(text != NULL && strstr(text, "\"status\":\"healthy\"") && strstr(text, "\"checks\":8"));
	free(text);
	/* the run ended: no status, no more counting, the last result kept */
	health_disarm(&h);
	CHECK(health_result(&h, &bad, 2800) == HEALTH_SAME && h.status == HEALTH_NONE);
	/* a run without a check */
	health_arm(&h, NULL, 0);
	CHECK(!h.on && h.dirty && health_json(&h) == NULL);
	json_object_put(spec);
}

/* Tasks: one input at a time, with the state and end each leads to. */
static enum tq_state tq_run(struct tq *m, enum tq_event ev, bool success, struct tq_out *out)
{
	struct tq_input in = {.ev = ev, .success = success};

	tq_step(m, &in, out);
	return m->state;
}

static void test_task_machine(void)
{
	struct tq m = {.retries = 2};
	struct tq_out o;

	/* exit 0: completed; a finished task refuses commands, naming its state */
	CHECK(tq_run(&m, TQ_EV_CLAIM, false, &o) == TQ_RUNNING && m.attempt == 1);
	CHECK(tq_run(&m, TQ_EV_EXITED, true, &o) == TQ_COMPLETED && !o.retry);
	CHECK(tq_run(&m, TQ_EV_CANCEL, false, &o) == TQ_COMPLETED && o.action == TQ_A_REFUSE);
	CHECK(strcmp(o.reason, "completed") == 0);
	CHECK(tq_run(&m, TQ_EV_CLAIM, false, &o) == TQ_COMPLETED && o.action == TQ_A_NONE);
	/* failures go back to pending while retries last, with a doubling backoff */
	memset(&m, 0, sizeof(m));
	m.retries = 2;
	tq_run(&m, TQ_EV_CLAIM, false, &o);
	CHECK(tq_run(&m, TQ_EV_EXITED, false, &o) == TQ_PENDING && o.retry && o.retry_in_ms == 1000);
	tq_run(&m, TQ_EV_CLAIM, false, &o);
	CHECK(tq_run(&m, TQ_EV_LOST, false, &o) == TQ_PENDING && o.retry_in_ms == 2000);
	CHECK(strcmp(o.reason, "worker offline") == 0);
	tq_run(&m, TQ_EV_CLAIM, false, &o);
	CHECK(m.attempt == 3 && tq_run(&m, TQ_EV_EXITED, false, &o) == TQ_FAILED && !o.retry);
	/* timeout: the stop decides the end, a late exit 0 does not make it completed */
	memset(&m, 0, sizeof(m));
	tq_run(&m, TQ_EV_CLAIM, false, &o);
	CHECK(tq_run(&m, TQ_EV_TIMEOUT, false, &o) == TQ_STOPPING && o.action == TQ_A_STOP);
	CHECK(strcmp(tq_state_name(m.state), "running") == 0);
	CHECK(tq_run(&m, TQ_EV_CANCEL, false, &o) == TQ_STOPPING && o.action == TQ_A_NONE);
	CHECK(tq_run(&m, TQ_EV_KILL, false, &o) == TQ_STOPPING); /* stays a timeout */
	CHECK(tq_run(&m, TQ_EV_EXITED, true, &o) == TQ_TIMEOUT && strcmp(o.reason, "timeout") == 0);
	/* cancel against exit: whichever comes first decides, once */
	memset(&m, 0, sizeof(m));
	tq_run(&m, TQ_EV_CLAIM, false, &o);
	CHECK(tq_run(&m, TQ_EV_CANCEL, false, &o) == TQ_STOPPING);
	CHECK(tq_run(&m, TQ_EV_EXITED, true, &o) == TQ_CANCELLED && strcmp(o.reason, "cancelled") == 0);
	CHECK(tq_run(&m, TQ_EV_EXITED, true, &o) == TQ_CANCELLED && o.action == TQ_A_NONE);
	memset(&m, 0, sizeof(m));
	tq_run(&m, TQ_EV_CLAIM, false, &o);
	CHECK(tq_run(&m, TQ_EV_KILL, false, &o) == TQ_STOPPING);
	CHECK(tq_run(&m, TQ_EV_EXITED, false, &o) == TQ_CANCELLED && strcmp(o.reason, "killed") == 0);
	/* paused: its time does not run out; resume, pause refused when not running */
	memset(&m, 0, sizeof(m));
	tq_run(&m, TQ_EV_CLAIM, false, &o);
	CHECK(tq_run(&m, TQ_EV_PAUSE, false, &o) == TQ_PAUSED);
	CHECK(tq_run(&m, TQ_EV_TIMEOUT, false, &o) == TQ_PAUSED && o.action == TQ_A_NONE);
	CHECK(tq_run(&m, TQ_EV_PAUSE, false, &o) == TQ_PAUSED && o.action == TQ_A_REFUSE);
	CHECK(tq_run(&m, TQ_EV_RESUME, false, &o) == TQ_RUNNING);
	CHECK(tq_run(&m, TQ_EV_RESUME, false, &o) == TQ_RUNNING && o.action == TQ_A_REFUSE);
	/* a pending task: cancelled at once, or when a task it waits for fails */
	memset(&m, 0, sizeof(m));
	CHECK(tq_run(&m, TQ_EV_DEP_ENDED, false, &o) == TQ_CANCELLED && o.action == TQ_A_CANCEL);
	CHECK(strstr(o.reason, "waits for") != NULL);
	memset(&m, 0, sizeof(m));
	CHECK(tq_run(&m, TQ_EV_CANCEL, false, &o) == TQ_CANCELLED && m.attempt == 0);
	/* every state has an entry for every event */
	for (int s = 0; s < TQ_NSTATES; s++)
		for (int e = 0; e < TQ_NEVENTS; e++)
			CHECK(tq_action_for((enum tq_state)s, (enum tq_event)e) <= TQ_A_CANCEL);
	CHECK(tq_backoff_ms(1) == 1000 && tq_backoff_ms(3) == 4000 && tq_backoff_ms(40) == 600000);
}

int main(void)
{
	test_table();
	test_deploy_during_delete();
	test_start_during_stop();
	test_restart_during_backoff();
	test_delete_during_crashloop();
	test_deploy_during_deploy();
	test_rollback_during_stop();
	test_stage_during_stop();
	test_ends();
	test_backoff();
	test_cap();
	test_policies();
	test_names();
	test_end_state();
	test_health_sequences();
	test_health_counting();
	test_task_machine();
	test_stat_parse();
	test_cpu();
	test_avg();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
