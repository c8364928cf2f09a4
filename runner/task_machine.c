/* SPDX-License-Identifier: MIT */
/*
 * The task table and the retry policy (see task_machine.h). As in
 * supervise.c, every (state, event) pair has an explicit entry: a late
 * exit after a cancel, a timeout of a paused run, a claim of a finished
 * task are deliberate no-ops, and a command that cannot apply is refused
 * naming the state, never a 2xx that does nothing.
 */
#include "task_machine.h"

#include <stddef.h>

#define N  TQ_A_NONE
#define R  TQ_A_REFUSE
#define S  TQ_A_STOP
#define K  TQ_A_KILL
#define E  TQ_A_END
#define C  TQ_A_CANCEL

static const enum tq_action actions[TQ_NSTATES][TQ_NEVENTS] = {
    /*              CANCEL KILL PAUSE       RESUME       CLAIM     EXITED TIMEOUT LOST DEP */
    [TQ_PENDING] = {C, C, R, R, TQ_A_RUN, N, N, N, C},
    [TQ_RUNNING] = {S, K, TQ_A_PAUSE, R, N, E, S, E, N},
    [TQ_PAUSED] = {S, K, R, TQ_A_RESUME, N, E, N, E, N},
    [TQ_STOPPING] = {N, K, R, R, N, E, N, E, N},
    [TQ_COMPLETED] = {R, R, R, R, N, N, N, N, N},
    [TQ_FAILED] = {R, R, R, R, N, N, N, N, N},
    [TQ_TIMEOUT] = {R, R, R, R, N, N, N, N, N},
    [TQ_CANCELLED] = {R, R, R, R, N, N, N, N, N},
};

#undef N
#undef R
#undef S
#undef K
#undef E
#undef C

enum tq_action tq_action_for(enum tq_state s, enum tq_event e)
{
	if ((unsigned)s >= TQ_NSTATES || (unsigned)e >= TQ_NEVENTS)
		return TQ_A_NONE;
	return actions[s][e];
}

bool tq_terminal(enum tq_state s)
{
	return s == TQ_COMPLETED || s == TQ_FAILED || s == TQ_TIMEOUT || s == TQ_CANCELLED;
}

int64_t tq_backoff_ms(int attempt)
{
	int64_t d = 1000;

	for (int i = 1; i < attempt && d < 600000; i++)
		d *= 2;
	return d > 600000 ? 600000 : d;
}

/* A run is over: its end state, or back to pending while retries last. */
static void end(struct tq *m, const struct tq_input *in, struct tq_out *out)
{
	bool lost = in->ev == TQ_EV_LOST;

	if (m->state == TQ_STOPPING) {
		out->next = m->stop_end;
		out->reason = m->killed ? "killed" : m->stop_end == TQ_TIMEOUT ? "timeout" : "cancelled";
		return;
	}
	if (!lost && in->success) {
		out->next = TQ_COMPLETED;
		return;
	}
	out->reason = lost ? "worker offline" : NULL;
	if (m->attempt <= m->retries) {
		out->retry = true;
		out->retry_in_ms = tq_backoff_ms(m->attempt);
		out->next = TQ_PENDING;
		return;
	}
	out->next = TQ_FAILED;
}

void tq_step(struct tq *m, const struct tq_input *in, struct tq_out *out)
{
	out->action = tq_action_for(m->state, in->ev);
	out->next = m->state;
	out->retry = false;
	out->retry_in_ms = 0;
	out->reason = NULL;
	switch (out->action) {
	case TQ_A_RUN:
		m->attempt++;
		m->killed = false;
		out->next = TQ_RUNNING;
		break;
	case TQ_A_STOP:
		m->stop_end = in->ev == TQ_EV_TIMEOUT ? TQ_TIMEOUT : TQ_CANCELLED;
		out->next = TQ_STOPPING;
		break;
	case TQ_A_KILL:
		if (m->state != TQ_STOPPING || m->stop_end != TQ_TIMEOUT)
			m->stop_end = TQ_CANCELLED; /* a kill during a timeout's stop stays a timeout */
		m->killed = m->stop_end == TQ_CANCELLED;
		out->next = TQ_STOPPING;
		break;
	case TQ_A_PAUSE:
		out->next = TQ_PAUSED;
		break;
	case TQ_A_RESUME:
		out->next = TQ_RUNNING;
		break;
	case TQ_A_END:
		end(m, in, out);
		break;
	case TQ_A_CANCEL:
		out->next = TQ_CANCELLED;
		out->reason = in->ev == TQ_EV_DEP_ENDED ? "a task it waits for did not complete"
		              : in->ev == TQ_EV_KILL    ? "killed"
		                                        : "cancelled";
		break;
	case TQ_A_REFUSE:
		out->reason = tq_state_name(m->state);
		break;
	default:
		break;
	}
	m->state = out->next;
}

const char *tq_state_name(enum tq_state s)
{
	static const char *const names[TQ_NSTATES] = {
	    [TQ_PENDING] = "pending",     [TQ_RUNNING] = "running", [TQ_PAUSED] = "paused",
	    [TQ_STOPPING] = "running",    [TQ_COMPLETED] = "completed",
	    [TQ_FAILED] = "failed",       [TQ_TIMEOUT] = "timeout", [TQ_CANCELLED] = "cancelled",
	};

	return (unsigned)s < TQ_NSTATES ? names[s] : "pending";
}
