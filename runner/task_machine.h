/* SPDX-License-Identifier: MIT */
/*
 * The task state machine, pure, in the shape of supervise.h: states (the
 * schema's tasks.state, plus stopping), events (every command and every
 * observation of a queued task's run), the table actions[state][event],
 * and the retry policy. tq_step() takes one input and says what to do;
 * no I/O, no clock. The queue's slots (and the external workers' routes)
 * will feed it; tests/unit/test_supervise.c walks its sequences.
 */
#ifndef HOSTAGENT_TASK_MACHINE_H
#define HOSTAGENT_TASK_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

enum tq_state {
	TQ_PENDING,
	TQ_RUNNING,  /* claimed, and then exec'd */
	TQ_PAUSED,   /* frozen; its running time does not count */
	TQ_STOPPING, /* a cancel or the timeout stopped it: 'running' until it has ended */
	TQ_COMPLETED,
	TQ_FAILED,
	TQ_TIMEOUT,
	TQ_CANCELLED,
	TQ_NSTATES
};

enum tq_event {
	/* commands */
	TQ_EV_CANCEL, /* stop signal to the tree, then SIGKILL: cancelled */
	TQ_EV_KILL,   /* SIGKILL to the tree now: cancelled, reason killed */
	TQ_EV_PAUSE,
	TQ_EV_RESUME,
	/* observations */
	TQ_EV_CLAIM,      /* a slot or a worker took it */
	TQ_EV_EXITED,     /* the run ended (success: exit 0) */
	TQ_EV_TIMEOUT,    /* its running time passed its timeout */
	TQ_EV_LOST,       /* its worker went silent past the lease, or its shim vanished */
	TQ_EV_DEP_ENDED,  /* a task it waits for ended other than completed */
	TQ_NEVENTS
};

enum tq_action {
	TQ_A_NONE,    /* nothing changes (a late observation, a command already so) */
	TQ_A_REFUSE,  /* a command that cannot apply in this state: 409 naming it */
	TQ_A_RUN,     /* → RUNNING: start the run */
	TQ_A_STOP,    /* → STOPPING: the stop sequence; the end is decided now (timeout, cancelled) */
	TQ_A_KILL,    /* SIGKILL the tree; the end is cancelled, reason killed */
	TQ_A_PAUSE,   /* freeze; → PAUSED once frozen */
	TQ_A_RESUME,  /* thaw; → RUNNING */
	TQ_A_END,     /* → the end state (or PENDING again for a retry) */
	TQ_A_CANCEL,  /* a task that never ran → CANCELLED */
};

/* One task as the machine keeps it. */
struct tq {
	enum tq_state state;
	int attempt;        /* of the current run; 0 before the first claim */
	int retries;        /* failed runs that go back to pending */
	enum tq_state stop_end; /* STOPPING: TIMEOUT or CANCELLED */
	bool killed;        /* the end was a kill */
};

struct tq_input {
	enum tq_event ev;
	bool success; /* EXITED */
};

struct tq_out {
	enum tq_action action;
	enum tq_state next;  /* the state after the step */
	bool retry;          /* END of a failed or lost run that goes back to PENDING */
	int64_t retry_in_ms; /* its backoff: tq_backoff_ms(attempt) */
	const char *reason;  /* static: why, for the event and the row ("worker offline", ...) */
};

/* The table's entry; TQ_A_NONE out of range. */
enum tq_action tq_action_for(enum tq_state s, enum tq_event e);
/* One input through the table: updates m, fills out. */
void tq_step(struct tq *m, const struct tq_input *in, struct tq_out *out);
/* The backoff before the retry that follows attempt n: 1 s doubling, at most 10 min. */
int64_t tq_backoff_ms(int attempt);
/* "pending", ..., "cancelled"; STOPPING is "running" (the row's). */
const char *tq_state_name(enum tq_state s);
/* A terminal state: completed, failed, timeout or cancelled. */
bool tq_terminal(enum tq_state s);

#endif
