/* SPDX-License-Identifier: MIT */
/*
 * The supervision table, the command queue and the restart policy (see
 * supervise.h). Every (state, event) pair has an explicit entry, so an
 * event that arrives in an unexpected state (a late "started" after a
 * kill, a timer after a stop) is a deliberate no-op rather than an
 * accident, and what happens after a stop is the queue, not a flag.
 */
#include "supervise.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

#define N  SV_A_NONE
#define L  SV_A_LAUNCH
#define S  SV_A_STOP
#define Q  SV_A_QUEUE
#define G  SV_A_STAGE
#define X  SV_A_SIGNAL
#define NR SV_A_NOTRUN
#define D  SV_A_DELETE
#define H  SV_A_HALT
#define P  SV_A_POLICY
#define U  SV_A_UNHEALTHY

static const enum sv_action actions[SV_NSTATES][SV_NEVENTS] = {
    /*             START  STOP  RESTART SWITCH STAGE SIGNAL DELETE STARTED EXITED FAILED
                   TIMER HEALTHY UNHEALTHY */
    [SV_STOPPED] = {L, N, L, L, G, NR, D, N, N, N, N, N, N},
    [SV_STARTING] = {N, S, S, S, G, X, S, SV_A_RUNNING, P, SV_A_FAIL, N, N, N},
    [SV_RUNNING] = {N, S, S, S, G, X, S, N, P, N, N, N, U},
    [SV_CHECKING] = {N, S, S, S, G, X, S, N, P, N, N, SV_A_HEALTHY, U},
    [SV_UNHEALTHY] = {N, S, S, S, G, X, S, N, P, N, N, SV_A_HEALTHY, N},
    [SV_RECYCLING] = {N, S, S, S, G, X, S, N, P, N, N, N, N},
    [SV_STOPPING] = {Q, Q, Q, Q, Q, X, Q, N, SV_A_ENDED, SV_A_ENDED, N, N, N},
    [SV_BACKOFF] = {L, H, L, L, G, NR, D, N, N, N, L, N, N},
    [SV_CRASHLOOP] = {L, H, L, L, G, NR, D, N, N, N, L, N, N},
    [SV_FAILED] = {L, H, L, L, G, NR, D, N, N, N, N, N, N},
    [SV_DELETED] = {SV_A_REFUSE, N, SV_A_REFUSE, L, G, SV_A_REFUSE, N, N, N, N, N, N, N},
};

#undef N
#undef L
#undef S
#undef Q
#undef G
#undef X
#undef NR
#undef D
#undef H
#undef P
#undef U

enum sv_action sv_action_for(enum sv_state s, enum sv_event e)
{
	if ((unsigned)s >= SV_NSTATES || (unsigned)e >= SV_NEVENTS)
		return SV_A_NONE;
	return actions[s][e];
}

static struct sv_fx *fx_add(struct sv_out *out, enum sv_fx_kind kind)
{
	static struct sv_fx overflow; /* unreachable: SV_FX_MAX covers a full queue */
	struct sv_fx *f = out->n < SV_FX_MAX ? &out->fx[out->n++] : &overflow;

	memset(f, 0, sizeof(*f));
	f->kind = kind;
	return f;
}

static void settle(struct sv_out *out, const struct sv_cmd *c, bool ok, const char *result,
                   const char *reason)
{
	struct sv_fx *f;

	if (c->id == 0)
		return;
	f = fx_add(out, SV_FX_SETTLE);
	f->cmd_id = c->id;
	f->ok = ok;
	f->result = result;
	f->reason = reason;
}

/* A command that will never take effect: settled as superseded, its task cancelled. */
static void supersede(struct sv_out *out, const struct sv_cmd *c)
{
	if (c->ev == SV_EV_SWITCH && c->task_id[0] != '\0') {
		struct sv_fx *f = fx_add(out, SV_FX_CANCEL_TASK);
		snprintf(f->task_id, sizeof(f->task_id), "%s", c->task_id);
		f->reason = "superseded by a later command";
	}
	settle(out, c, true, SV_RESULT_SUPERSEDED, NULL);
}

static void cancel_timer(struct sv_out *out)
{
	fx_add(out, SV_FX_CANCEL_TIMER);
}

static void set_release(struct sv *m, struct sv_out *out, int64_t release_id)
{
	struct sv_fx *f;

	if (release_id == 0 || release_id == m->release_id)
		return;
	m->release_id = release_id;
	f = fx_add(out, SV_FX_RELEASE);
	f->release_id = release_id;
}

static void undelete(struct sv *m, struct sv_out *out)
{
	if (m->state == SV_DELETED)
		fx_add(out, SV_FX_UNDELETE);
}

/* Starts a run for cmd (a command, or the timer/policy when cmd->id is 0). */
static void launch(struct sv *m, const struct sv_cmd *c, bool by_hand, struct sv_out *out)
{
	struct sv_fx *f;

	cancel_timer(out);
	undelete(m, out);
	m->desired_running = true;
	if (c->ev == SV_EV_SWITCH)
		set_release(m, out, c->release_id);
	if (by_hand)
		m->fast_failures = 0; /* a start by hand leaves a crash loop */
	else
		m->restarts++;
	m->launching = *c;
	f = fx_add(out, SV_FX_LAUNCH);
	f->release_id = m->release_id;
	if (c->ev == SV_EV_SWITCH)
		snprintf(f->task_id, sizeof(f->task_id), "%s", c->task_id);
	m->state = SV_STARTING;
	out->reason = "starting";
}

static void stop(struct sv *m, const struct sv_cmd *c, struct sv_out *out)
{
	/* the launching command's run exists and is stopped: the run's end is its task's end */
	if (m->launching.id != 0 && m->launching.id != c->id)
		settle(out, &m->launching, true, SV_RESULT_SUPERSEDED, NULL);
	memset(&m->launching, 0, sizeof(m->launching));
	fx_add(out, SV_FX_STOP);
	m->state = SV_STOPPING;
	out->reason = "stopping";
	m->queue[0] = *c;
	m->nqueue = 1;
}

static void queue(struct sv *m, const struct sv_cmd *c, struct sv_out *out)
{
	if (m->nqueue == SV_QUEUE_MAX) {
		if (c->ev == SV_EV_SWITCH && c->task_id[0] != '\0') {
			struct sv_fx *f = fx_add(out, SV_FX_CANCEL_TASK);
			snprintf(f->task_id, sizeof(f->task_id), "%s", c->task_id);
			f->reason = "too many commands are waiting for the stop to finish";
		}
		settle(out, c, false, NULL, "too many commands are waiting for the stop to finish");
		return;
	}
	m->queue[m->nqueue++] = *c;
}

static void policy(struct sv *m, const struct sv_input *in, const struct sv_policy *pol,
                   struct sv_out *out)
{
	static const struct sv_cmd none;
	struct sv_decision d;
	struct sv_fx *f;

	/* a run stopped for failing its checks failed, whatever its exit code */
	bool success = in->success && m->state != SV_RECYCLING;

	sv_after_exit(pol, success, in->run_ms, &m->fast_failures, &d);
	settle(out, &m->launching, success, success ? SV_RESULT_STATE : NULL, in->why);
	memset(&m->launching, 0, sizeof(m->launching));
	out->reason = in->why;
	if (!m->desired_running || !d.restart) {
		m->state = d.restart ? SV_STOPPED : d.next;
		return;
	}
	if (d.next == SV_STARTING) {
		launch(m, &none, false, out);
		out->reason = in->why;
		return;
	}
	m->state = d.next;
	f = fx_add(out, SV_FX_TIMER);
	f->delay_ms = d.delay_ms;
	f->release_id = m->release_id;
}

/*
 * Failing checks: UNHEALTHY, and when the policy restarts a failed run,
 * the run is stopped and its end is taken as a failure (POLICY then).
 */
static void unhealthy(struct sv *m, const struct sv_input *in, const struct sv_policy *pol,
                      struct sv_out *out)
{
	struct sv_fx *f;

	m->state = SV_UNHEALTHY;
	out->reason = in->why;
	if (pol->restart == SV_RESTART_NO || !m->desired_running)
		return;
	m->state = SV_RECYCLING;
	f = fx_add(out, SV_FX_STOP);
	f->reason = in->why;
}

static bool launches(enum sv_event e)
{
	return e == SV_EV_START || e == SV_EV_RESTART || e == SV_EV_SWITCH;
}

/*
 * A kept command that a later kept one undoes never takes effect (the
 * later command wins): a launch that a later stop, restart, switch or
 * delete would end at once, a switch whose release a later stage replaces,
 * a delete that a later launch or stage revokes.
 */
static bool overtaken(const struct sv_cmd *c, const struct sv_cmd *later, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		enum sv_event e = later[i].ev;
		if (launches(c->ev) && (e == SV_EV_STOP || e == SV_EV_RESTART ||
		                        e == SV_EV_SWITCH || e == SV_EV_DELETE))
			return true;
		if (c->ev == SV_EV_SWITCH && e == SV_EV_STAGE)
			return true;
		if (c->ev == SV_EV_DELETE && (launches(e) || e == SV_EV_STAGE))
			return true;
	}
	return false;
}

static void command(struct sv *m, const struct sv_input *in, enum sv_action a,
                    const struct sv_policy *pol, struct sv_out *out);

/* The run a stop asked for has ended: STOPPED, then every kept command in order. */
static void ended(struct sv *m, struct sv_out *out)
{
	struct sv_cmd kept[SV_QUEUE_MAX];
	size_t n = m->nqueue;

	memcpy(kept, m->queue, n * sizeof(kept[0]));
	m->nqueue = 0;
	m->state = SV_STOPPED;
	out->reason = "stopped by request";
	for (size_t i = 0; i < n; i++) {
		struct sv_input in = {.ev = kept[i].ev, .cmd = kept[i]};
		if (overtaken(&kept[i], kept + i + 1, n - i - 1)) {
			supersede(out, &kept[i]);
			continue;
		}
		command(m, &in, sv_action_for(m->state, in.ev), NULL, out);
	}
}

static void delete (struct sv *m, const struct sv_cmd *c, struct sv_out *out)
{
	struct sv_fx *f;

	if (m->switch_pending > c->id) {
		supersede(out, c); /* a later deploy is on its way: it wins */
		return;
	}
	cancel_timer(out);
	m->desired_running = false;
	f = fx_add(out, SV_FX_DELETE);
	f->purge = c->purge;
	m->state = SV_DELETED;
	out->reason = "deleted";
	settle(out, c, true, c->purge ? "{\"purged\":true}" : "{\"purged\":false}", NULL);
}

static void command(struct sv *m, const struct sv_input *in, enum sv_action a,
                    const struct sv_policy *pol, struct sv_out *out)
{
	const struct sv_cmd *c = &in->cmd;
	struct sv_fx *f;

	switch (a) {
	case SV_A_LAUNCH:
		launch(m, c, true, out);
		break;
	case SV_A_STOP:
		m->desired_running = launches(c->ev);
		stop(m, c, out);
		break;
	case SV_A_QUEUE:
		queue(m, c, out);
		break;
	case SV_A_HALT:
		cancel_timer(out);
		m->desired_running = false;
		m->state = SV_STOPPED;
		out->reason = "stopped by request";
		settle(out, c, true, NULL, NULL);
		break;
	case SV_A_DELETE:
		delete (m, c, out);
		break;
	case SV_A_STAGE:
		if (m->state == SV_DELETED) {
			undelete(m, out);
			m->state = SV_STOPPED;
			m->desired_running = false;
			out->reason = "deployed with start=false";
		}
		set_release(m, out, c->release_id);
		settle(out, c, true, "{\"started\":false}", NULL);
		break;
	case SV_A_SIGNAL:
		f = fx_add(out, SV_FX_SIGNAL);
		f->cmd_id = c->id;
		f->signal = c->signal;
		break;
	case SV_A_NOTRUN:
		settle(out, c, false, NULL, "the project is not running");
		break;
	case SV_A_REFUSE:
		settle(out, c, false, NULL, "the project was deleted");
		break;
	default: /* NONE: already so */
		if (c->ev == SV_EV_SWITCH)
			supersede(out, c);
		else
			settle(out, c, true,
			       sv_has_run(m->state) && m->state != SV_STOPPING
			           ? "{\"already\":\"running\"}"
			           : NULL,
			       NULL);
		break;
	}
}

void sv_step(struct sv *m, const struct sv_input *in, const struct sv_policy *pol,
             struct sv_out *out)
{
	static const struct sv_cmd none;
	enum sv_action a = sv_action_for(m->state, in->ev);

	out->reason = NULL;
	switch (a) {
	case SV_A_RUNNING:
		m->state = in->checked ? SV_CHECKING : SV_RUNNING;
		out->reason = in->checked ? "started; waiting for a passing health check" : "started";
		settle(out, &m->launching, true, SV_RESULT_STATE, NULL);
		memset(&m->launching, 0, sizeof(m->launching));
		return;
	case SV_A_HEALTHY:
		m->state = SV_RUNNING;
		out->reason = "healthy";
		return;
	case SV_A_UNHEALTHY:
		unhealthy(m, in, pol, out);
		return;
	case SV_A_POLICY:
		policy(m, in, pol, out);
		return;
	case SV_A_ENDED:
		ended(m, out);
		return;
	case SV_A_FAIL:
		m->state = SV_FAILED;
		out->reason = in->why;
		settle(out, &m->launching, false, NULL, in->why);
		memset(&m->launching, 0, sizeof(m->launching));
		return;
	default:
		break;
	}
	if (in->ev == SV_EV_TIMER) {
		if (a == SV_A_LAUNCH && m->desired_running)
			launch(m, &none, false, out);
		return;
	}
	if (in->ev >= SV_EV_STARTED)
		return; /* an observation with nothing to do in this state */
	command(m, in, a, pol, out);
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
    [SV_CHECKING] = "starting", [SV_UNHEALTHY] = "unhealthy", [SV_RECYCLING] = "unhealthy",
    [SV_STOPPING] = "stopping", [SV_BACKOFF] = "backoff",   [SV_CRASHLOOP] = "crashloop",
    [SV_FAILED] = "failed",     [SV_DELETED] = "deleted",
};

bool sv_has_run(enum sv_state s)
{
	return s == SV_STARTING || s == SV_CHECKING || s == SV_RUNNING || s == SV_UNHEALTHY ||
	       s == SV_RECYCLING || s == SV_STOPPING;
}

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

static const char *const event_names[SV_NEVENTS] = {
    [SV_EV_START] = "start",   [SV_EV_STOP] = "stop",       [SV_EV_RESTART] = "restart",
    [SV_EV_SWITCH] = "switch", [SV_EV_STAGE] = "stage",     [SV_EV_SIGNAL] = "signal",
    [SV_EV_DELETE] = "delete", [SV_EV_STARTED] = "started", [SV_EV_EXITED] = "exited",
    [SV_EV_FAILED] = "failed", [SV_EV_TIMER] = "timer",     [SV_EV_HEALTHY] = "healthy",
    [SV_EV_UNHEALTHY] = "unhealthy",
};

const char *sv_event_name(enum sv_event e)
{
	return (unsigned)e < SV_NEVENTS ? event_names[e] : "?";
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
