/* SPDX-License-Identifier: MIT */
/*
 * The project supervision state machine, pure: states, events, the table
 * actions[state][event] (the s6-supervise shape) and the restart policy
 * (exponential backoff, crash loop). No I/O and no clocks: project.c feeds
 * it events and times and carries out the actions it returns.
 */
#ifndef HOSTAGENT_SUPERVISE_H
#define HOSTAGENT_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The names are the projects.state values of the schema. */
enum sv_state {
	SV_STOPPED,
	SV_STARTING, /* a shim is spawned, "started" not yet seen */
	SV_RUNNING,
	SV_STOPPING,  /* a stop was sent; waiting for the exit */
	SV_BACKOFF,   /* waiting backoff_until before the next start */
	SV_CRASHLOOP, /* like backoff, at the maximum delay, after crashloop_after fast failures */
	SV_FAILED,    /* ended badly and the policy does not restart */
	SV_NSTATES
};

enum sv_event {
	SV_EV_START,   /* desired becomes running (start, restart, deploy) */
	SV_EV_STOP,    /* desired becomes stopped (stop, delete) */
	SV_EV_STARTED, /* the shim reports exec succeeded */
	SV_EV_EXITED,  /* the run ended (or exec failed) */
	SV_EV_TIMER,   /* backoff_until reached */
	SV_NEVENTS
};

enum sv_action {
	SV_A_NONE,     /* nothing to do: the state stays */
	SV_A_LAUNCH,   /* start a new run → STARTING */
	SV_A_STOP_JOB, /* send the stop sequence to the shim → STOPPING */
	SV_A_RUNNING,  /* → RUNNING */
	SV_A_EXITED,   /* unexpected end: apply sv_after_exit */
	SV_A_STOPPED,  /* an end we asked for → STOPPED (the caller may launch next) */
	SV_A_HALT,     /* cancel a pending restart → STOPPED */
};

enum sv_restart { SV_RESTART_NO, SV_RESTART_ON_FAILURE, SV_RESTART_ALWAYS };

struct sv_policy {
	enum sv_restart restart;
	int64_t backoff_ms;      /* first delay after a fast failure */
	int64_t backoff_max_ms;  /* cap of the doubling, and the crash-loop delay */
	int crashloop_after;     /* consecutive fast failures that make a crash loop */
	int64_t fast_failure_ms; /* a run shorter than this is a fast failure */
};

struct sv_decision {
	enum sv_state next; /* BACKOFF, CRASHLOOP, STOPPED or FAILED; STARTING when delay is 0 */
	int64_t delay_ms;   /* before the next launch, when restarting */
	bool restart;
};

enum sv_action sv_action_for(enum sv_state s, enum sv_event e);

/*
 * The restart policy after an unexpected end. success: exit code 0.
 * run_ms: how long the run lasted (0 for an exec failure). *fast_failures
 * is the project's counter: a run of at least fast_failure_ms resets it,
 * a shorter one increments it. Delays: base << (n - 1) capped at the max
 * for the n-th consecutive fast failure; after a long run, what is left of
 * one second since the start (runit's throttle: at most a start a second).
 */
void sv_after_exit(const struct sv_policy *p, bool success, int64_t run_ms, int *fast_failures,
                   struct sv_decision *out);

/*
 * The end state of a run and its reason: stopped (or killed) by request →
 * "cancelled" ("stopped by request"); timed out → "timeout"; exit 0 →
 * "completed"; else "failed" ("exited with code N", "killed by signal
 * SEGV"). reason gets the text; the state is a static string.
 */
const char *sv_end_state(bool has_code, int code, bool has_signal, int sig, bool by_request,
                         bool timed_out, char *reason, size_t len);

/* "stopped", "starting", ... : static strings, the schema's values. */
const char *sv_state_name(enum sv_state s);
/* The reverse; SV_STOPPED for anything unknown. */
enum sv_state sv_state_parse(const char *s);
/* "no", "on-failure", "always"; -1 for anything else. */
int sv_restart_parse(const char *s, enum sv_restart *out);

#endif
