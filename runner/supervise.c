/* SPDX-License-Identifier: MIT */
/*
 * The supervision table and the restart policy (see supervise.h). Every
 * (state, event) pair has an explicit entry, so an event that arrives in an
 * unexpected state (a late "started" after a kill, a timer after a stop) is
 * a deliberate no-op rather than an accident.
 */
#include "supervise.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

#define N SV_A_NONE

static const enum sv_action actions[SV_NSTATES][SV_NEVENTS] = {
    /*               START        STOP           STARTED       EXITED        TIMER */
    [SV_STOPPED] = {SV_A_LAUNCH, N, N, N, N},
    [SV_STARTING] = {N, SV_A_STOP_JOB, SV_A_RUNNING, SV_A_EXITED, N},
    [SV_RUNNING] = {N, SV_A_STOP_JOB, N, SV_A_EXITED, N},
    /* a START while stopping is remembered by the caller (desired) and honoured at the exit */
    [SV_STOPPING] = {N, N, N, SV_A_STOPPED, N},
    [SV_BACKOFF] = {SV_A_LAUNCH, SV_A_HALT, N, N, SV_A_LAUNCH},
    [SV_CRASHLOOP] = {SV_A_LAUNCH, SV_A_HALT, N, N, SV_A_LAUNCH},
    [SV_FAILED] = {SV_A_LAUNCH, SV_A_HALT, N, N, N},
};

#undef N

enum sv_action sv_action_for(enum sv_state s, enum sv_event e)
{
	if ((unsigned)s >= SV_NSTATES || (unsigned)e >= SV_NEVENTS)
		return SV_A_NONE;
	return actions[s][e];
}

static int64_t backoff_delay(const struct sv_policy *p, int n)
{
	int64_t d = p->backoff_ms;

	for (int i = 1; i < n && d < p->backoff_max_ms; i++)
		d *= 2;
	return d > p->backoff_max_ms ? p->backoff_max_ms : d;
}

void sv_after_exit(const struct sv_policy *p, bool success, int64_t run_ms, int *fast_failures,
                   struct sv_decision *out)
{
	bool fast = run_ms < p->fast_failure_ms;

	*fast_failures = fast ? *fast_failures + 1 : 0;
	out->restart =
	    p->restart == SV_RESTART_ALWAYS || (p->restart == SV_RESTART_ON_FAILURE && !success);
	out->delay_ms = 0;
	if (!out->restart) {
		out->next = success ? SV_STOPPED : SV_FAILED;
		return;
	}
	if (*fast_failures >= p->crashloop_after) {
		out->next = SV_CRASHLOOP;
		out->delay_ms = p->backoff_max_ms;
		return;
	}
	if (*fast_failures > 0)
		out->delay_ms = backoff_delay(p, *fast_failures);
	else if (run_ms < 1000)
		out->delay_ms = 1000 - run_ms;
	out->next = out->delay_ms > 0 ? SV_BACKOFF : SV_STARTING;
}

static const char *const state_names[SV_NSTATES] = {
    [SV_STOPPED] = "stopped",   [SV_STARTING] = "starting", [SV_RUNNING] = "running",
    [SV_STOPPING] = "stopping", [SV_BACKOFF] = "backoff",   [SV_CRASHLOOP] = "crashloop",
    [SV_FAILED] = "failed",
};

const char *sv_state_name(enum sv_state s)
{
	return (unsigned)s < SV_NSTATES ? state_names[s] : "stopped";
}

enum sv_state sv_state_parse(const char *s)
{
	for (int i = 0; i < SV_NSTATES; i++)
		if (s != NULL && strcmp(s, state_names[i]) == 0)
			return (enum sv_state)i;
	return SV_STOPPED;
}

int sv_restart_parse(const char *s, enum sv_restart *out)
{
	static const char *const names[] = {"no", "on-failure", "always"};

	for (int i = 0; i < 3; i++) {
		if (s != NULL && strcmp(s, names[i]) == 0) {
			*out = (enum sv_restart)i;
			return 0;
		}
	}
	return -1;
}

const char *sv_end_state(bool has_code, int code, bool has_signal, int sig, bool by_request,
                         bool timed_out, char *reason, size_t len)
{
	const char *name = util_signal_name(sig);

	if (by_request) {
		snprintf(reason, len, "stopped by request");
		return "cancelled";
	}
	if (has_code)
		snprintf(reason, len, "exited with code %d", code);
	else if (has_signal && name != NULL)
		snprintf(reason, len, "killed by signal %s", name);
	else if (has_signal)
		snprintf(reason, len, "killed by signal %d", sig);
	else
		snprintf(reason, len, "ended without an exit status");
	if (timed_out)
		return "timeout";
	return has_code && code == 0 ? "completed" : "failed";
}
