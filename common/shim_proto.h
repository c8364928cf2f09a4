/* SPDX-License-Identifier: MIT */
/*
 * The runner–shim protocol, defined once: every message type, its fields,
 * and one encoder and one decoder that both ends use (the imsg idea). A
 * message is one JSON object per SOCK_SEQPACKET packet (packet.h); the
 * exit record is the same EXITED message, also kept as <jobdir>/exit.json.
 * docs/architecture.md ("Shim protocol") lists the wire form.
 */
#ifndef HOSTAGENT_SHIM_PROTO_H
#define HOSTAGENT_SHIM_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum shim_msg_type {
	SHIM_MSG_NONE,
	/* runner → shim ("op") */
	SHIM_OP_STATUS, /* answer with SHIM_EV_STATUS */
	SHIM_OP_SIGNAL, /* signal to the job's whole tree */
	SHIM_OP_STOP,   /* signal, then SIGKILL to the tree after timeout_ms */
	SHIM_OP_KILL,   /* SIGKILL to the tree now */
	SHIM_OP_PAUSE,  /* freeze the tree */
	SHIM_OP_RESUME, /* thaw it */
	/* shim → runner ("ev") */
	SHIM_EV_STARTED,     /* the job has exec'd */
	SHIM_EV_EXEC_FAILED, /* it never ran; exit.reason says why */
	SHIM_EV_EXITED,      /* the run is over; exit.json is written */
	SHIM_EV_STATUS,      /* the answer to SHIM_OP_STATUS */
	SHIM_EV_HEALTH,      /* one health check ran: its outcome */
	SHIM_MSG_NTYPES
};

/* How a run ended: the EXITED message and exit.json. */
struct shim_exit {
	bool has_code, has_signal, core;
	int exit_code, signal;
	bool killed;                  /* the shim sent SIGKILL (a kill, or a stop that timed out) */
	bool timed_out;               /* the run's own time limit ran out */
	bool oom;                     /* the kernel's OOM killer ended it */
	bool stopped;                 /* a stop was requested */
	int64_t started_at, ended_at; /* ms since the epoch */
	char reason[256];
	char post_stop[160]; /* how a failing post_stop hook ended, "" when it did not fail */
};

/* One run of the job's health check: the HEALTH message. */
struct shim_health {
	bool ok;
	int code;            /* the check's exit code, the HTTP status, or -1 (none) */
	int64_t at;          /* when it started, ms since the epoch */
	int64_t duration_ms;
	char output[320];    /* the tail of its output, or what went wrong */
};

struct shim_msg {
	enum shim_msg_type type;
	int signal;            /* SIGNAL; STOP (0: the spec's stop_signal) */
	int64_t timeout_ms;    /* STOP (< 0: the spec's stop_timeout) */
	pid_t pid, shim_pid;   /* STARTED, STATUS, EXITED (pid) */
	uint64_t start_time;   /* STARTED, STATUS: the job's start in /proc/<pid>/stat ticks */
	int64_t started_at;    /* STARTED, STATUS: ms since the epoch */
	char state[16];        /* STATUS: running, paused, stopping, exited */
	bool paused;           /* STATUS */
	int64_t shim_rss;      /* STATUS: the shim's own resident bytes */
	int err;               /* EXEC_FAILED: errno, 0 when none applies */
	struct shim_exit exit; /* EXITED; EXEC_FAILED (reason, ended_at) */
	struct shim_health health; /* HEALTH */
};

/* "stop", "exited", ...: the wire name of a type, or NULL. */
const char *shim_msg_name(enum shim_msg_type t);

/*
 * Encodes m as JSON text into buf (NUL-terminated). Returns the length,
 * or -1 when it does not fit or the type is unknown.
 */
int shim_msg_encode(const struct shim_msg *m, char *buf, size_t len);
/*
 * Decodes one message; fields the type does not carry are zero. 0, or -1
 * for text that is not a message of a known type (m->type is then NONE).
 */
int shim_msg_decode(const char *text, struct shim_msg *m);
/* Encodes and sends m as one packet on fd. 0, or -1 (errno set). */
int shim_msg_send(int fd, const struct shim_msg *m);

/* Reads <jobdir>/exit.json: 1 found, 0 absent, -1 unreadable or malformed. */
int shim_exit_read(const char *jobdir, struct shim_exit *e);

#endif
