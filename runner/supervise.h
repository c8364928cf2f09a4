/* SPDX-License-Identifier: MIT */
/*
 * The project supervision state machine, pure: states, events (every
 * command and every observation), the table actions[state][event] in the
 * s6-supervise shape, the queue of commands that wait for a stop to
 * finish, and the restart policy. sv_step() takes one input and returns
 * the effects to carry out; it does no I/O and reads no clock, so whole
 * sequences are unit-tested (tests/unit/test_supervise.c). project.c
 * feeds it and carries out its effects.
 */
#ifndef HOSTAGENT_SUPERVISE_H
#define HOSTAGENT_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* projects.state values, plus DELETED (the row then has deleted_at, and state 'stopped'). */
enum sv_state {
	SV_STOPPED,
	SV_STARTING, /* a shim is spawned, "started" not yet seen */
	SV_RUNNING,
	SV_CHECKING,  /* started, no health check passed yet ('starting' in projects.state) */
	SV_UNHEALTHY, /* health checks failed retries times in a row; the run goes on */
	SV_RECYCLING, /* unhealthy, and stopped to be restarted: its end is a failure
	                 ('unhealthy' in projects.state) */
	SV_STOPPING,  /* a stop was sent; waiting for the exit */
	SV_BACKOFF,   /* waiting for the backoff timer before the next start */
	SV_CRASHLOOP, /* like backoff, at the maximum delay, after crashloop_after fast failures */
	SV_FAILED,    /* ended badly and the policy does not restart */
	SV_DELETED,
	SV_NSTATES
};

enum sv_event {
	/* commands (a projects.* command row, or none for recovery) */
	SV_EV_START,   /* run the current release */
	SV_EV_STOP,    /* end the run, stay stopped */
	SV_EV_RESTART, /* end the run, start a new one */
	SV_EV_SWITCH,  /* run release_id as task_id (deploy, rollback): its release is ready */
	SV_EV_STAGE,   /* make release_id current without starting it (deploy with start=false) */
	SV_EV_SIGNAL,  /* a signal to the run's tree */
	SV_EV_DELETE,  /* end the run and delete the project */
	/* observations */
	SV_EV_STARTED, /* the run exec'd */
	SV_EV_EXITED,  /* the run ended, or its launch failed in a way a retry may mend */
	SV_EV_FAILED,  /* the launch cannot succeed (no ready release, no command) */
	SV_EV_TIMER,   /* the backoff timer fired */
	SV_EV_HEALTHY, /* a health check passed after none had, or after it was unhealthy */
	SV_EV_UNHEALTHY, /* health checks failed retries times in a row */
	SV_NEVENTS
};

enum sv_action {
	SV_A_NONE,    /* nothing changes; a command is settled at once */
	SV_A_LAUNCH,  /* start a run → STARTING */
	SV_A_STOP,    /* stop the run and keep the command until it has ended → STOPPING */
	SV_A_QUEUE,   /* a stop is under way: keep the command until the run has ended */
	SV_A_RUNNING, /* the run exec'd → RUNNING (CHECKING with a health check); launch settled */
	SV_A_HEALTHY, /* the first pass, or a recovery → RUNNING */
	SV_A_UNHEALTHY, /* → UNHEALTHY, or RECYCLING (stop the run) when the policy restarts */
	SV_A_POLICY,  /* an end nobody asked for: the restart policy decides */
	SV_A_ENDED,   /* the end a stop asked for → STOPPED, then the kept commands in order */
	SV_A_FAIL,    /* the launch cannot succeed → FAILED */
	SV_A_HALT,    /* a stop with no run: a pending restart is cancelled → STOPPED */
	SV_A_DELETE,  /* nothing runs: the project is deleted → DELETED */
	SV_A_STAGE,   /* the release becomes current; the state stays (a deleted one is back) */
	SV_A_SIGNAL,  /* signal the run */
	SV_A_NOTRUN,  /* refused: nothing runs */
	SV_A_REFUSE,  /* refused: the project was deleted */
};

enum sv_restart { SV_RESTART_NO, SV_RESTART_ON_FAILURE, SV_RESTART_ALWAYS };

struct sv_policy {
	enum sv_restart restart;
	int64_t backoff_ms;      /* first delay after a fast failure */
	int64_t backoff_max_ms;  /* cap of the doubling, and the crash-loop delay */
	int crashloop_after;     /* consecutive fast failures that make a crash loop */
	int64_t fast_failure_ms; /* a run shorter than this is a fast failure */
};

/* One command as the machine keeps it. */
struct sv_cmd {
	int64_t id;         /* the command row; 0 for none */
	enum sv_event ev;   /* one of the command events */
	int64_t release_id; /* SWITCH, STAGE */
	char task_id[40];   /* SWITCH: the pending task to run; "" for a new one */
	bool purge;         /* DELETE */
	int signal;         /* SIGNAL */
};

/* At most this many commands wait for one stop; one more is refused, never dropped. */
#define SV_QUEUE_MAX 16

/* The machine's state; the I/O half mirrors it in projects.*. */
struct sv {
	enum sv_state state;
	bool desired_running;
	int64_t release_id; /* the release a launch runs */
	int fast_failures, restarts;
	struct sv_cmd launching; /* settled when the current launch exec's or fails (id 0: none) */
	int64_t switch_pending;  /* id of the newest deploy still extracting (0: none): a delete
	                            older than it never takes effect */
	struct sv_cmd queue[SV_QUEUE_MAX];
	size_t nqueue;
};

struct sv_input {
	enum sv_event ev;
	struct sv_cmd cmd; /* command events */
	bool success;      /* EXITED: exit code 0 */
	bool checked;      /* STARTED: the run has a health check, so it is not running until it passes */
	int64_t run_ms;    /* EXITED: how long the run lasted (0: it never ran) */
	const char *why;   /* EXITED, FAILED: what happened, for reasons (borrowed) */
};

enum sv_fx_kind {
	SV_FX_LAUNCH,       /* start a run of release_id; task_id names a pending task, or "" */
	SV_FX_STOP,         /* the stop sequence to the current run (reason: why, when not asked) */
	SV_FX_SIGNAL,       /* signal to the current run; settle cmd_id with the outcome */
	SV_FX_TIMER,        /* (re)arm the backoff timer in delay_ms */
	SV_FX_CANCEL_TIMER, /* no restart is pending any more */
	SV_FX_RELEASE,      /* release_id is now the current release */
	SV_FX_DELETE,       /* mark the project deleted (and purge its files) */
	SV_FX_UNDELETE,     /* a deleted project is back */
	SV_FX_CANCEL_TASK,  /* task_id will never run: it ends 'cancelled' with reason */
	SV_FX_SETTLE,       /* command cmd_id is over: ok, result, reason */
};

/* Results a settle may carry (JSON text). SV_RESULT_STATE: the I/O half writes state and task. */
#define SV_RESULT_STATE      "state"
#define SV_RESULT_SUPERSEDED "{\"superseded\":true}"

struct sv_fx {
	enum sv_fx_kind kind;
	int64_t cmd_id;
	bool ok, purge;
	const char *result; /* static JSON text, SV_RESULT_STATE, or NULL */
	const char *reason; /* static or the input's why */
	int64_t release_id, delay_ms;
	int signal;
	char task_id[40];
};

#define SV_FX_MAX (4 * SV_QUEUE_MAX + 8)

struct sv_out {
	struct sv_fx fx[SV_FX_MAX];
	size_t n;
	const char *reason; /* why the state is what it is after the step (static or input's) */
};

/* The table's entry; SV_A_NONE for anything out of range. */
enum sv_action sv_action_for(enum sv_state s, enum sv_event e);

/*
 * One input through the table: updates m and appends the effects to carry
 * out, in order, to out (which the caller zeroes). Effects are carried out
 * after the call; one that fails (a launch) becomes the next input.
 */
void sv_step(struct sv *m, const struct sv_input *in, const struct sv_policy *pol,
             struct sv_out *out);

struct sv_decision {
	enum sv_state next; /* BACKOFF, CRASHLOOP, STOPPED or FAILED; STARTING when delay is 0 */
	int64_t delay_ms;   /* before the next launch, when restarting */
	bool restart;
};

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

/* A run exists (or is being started or stopped) in this state. */
bool sv_has_run(enum sv_state s);
/* "stopped", "starting", ..., "deleted": static strings (the schema's values but the last). */
const char *sv_state_name(enum sv_state s);
/* The reverse; SV_STOPPED for anything unknown. */
enum sv_state sv_state_parse(const char *s);
/* "no", "on-failure", "always"; -1 for anything else. */
int sv_restart_parse(const char *s, enum sv_restart *out);
/* "start", "stop", ...: the event's name, for logs and tests. */
const char *sv_event_name(enum sv_event e);

#endif
