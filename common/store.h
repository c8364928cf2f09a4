/* SPDX-License-Identifier: MIT */
/*
 * The database module: the only code that speaks SQL. store.c opens the
 * SQLite file (WAL, busy_timeout, foreign_keys), applies the numbered
 * migrations and caches prepared statements; store_*.c hold the queries of
 * each domain. SQLite itself stays behind common/store_sql.h, which only the
 * store's own files include. Connections are per process and opened after
 * fork, never before.
 */
#ifndef HOSTAGENT_STORE_H
#define HOSTAGENT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct store;

/*
 * Opens (creating if needed) the database at path and brings the schema to
 * the latest version. *out is owned by the caller (store_close). 0 or -1
 * with a reason in err.
 */
int store_open(const char *path, struct store **out, char *err, size_t errlen);
void store_close(struct store *s);

/*
 * A deferred BEGIN: the first read takes the snapshot every later read of
 * the transaction shares. End it with store_commit. 0 or -1.
 */
int store_begin_read(struct store *s);
/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. 0 or -1. */
int store_begin(struct store *s);
int store_commit(struct store *s);
void store_rollback(struct store *s);

/*
 * The last error of the connection, for logs (borrowed until the next store
 * call); "no database" when s is NULL.
 */
const char *store_errmsg(struct store *s);
/* true while a transaction (read or write) is open on the connection. */
bool store_in_transaction(struct store *s);
/* A real read of the database file (not just "SELECT 1" in memory), for /health. 0 or -1. */
int store_ping(struct store *s);

/* ---- commands (store_commands.c) ---- */
/* Appends a pending command; *id gets its id. Runs inside the caller's transaction, if any. */
int store_command_add(struct store *s, const char *kind, const char *target, const char *payload,
                      const char *request_id, int64_t *id);
struct store_command {
	int64_t id;
	char kind[48];
	char target[128];
	char *payload; /* malloc'd JSON text or NULL; store_command_clear frees it */
	char state[16];
	char *result; /* malloc'd JSON text or NULL */
	char reason[512];
	int64_t created_at;
};
void store_command_clear(struct store_command *c);
/* The oldest pending command with id > after: 1 found, 0 none, -1 error. */
int store_command_next(struct store *s, int64_t after, struct store_command *out);
/* Marks a command 'running' / 'applied' / 'failed' with an optional result and reason. */
int store_command_set(struct store *s, int64_t id, const char *state, const char *result,
                      const char *reason);
/* Re-queues commands left 'running' by a runner that died. Returns how many. */
int store_command_requeue(struct store *s);
/* Reads one command by id: 1 found, 0 not, -1 error. */
int store_command_get(struct store *s, int64_t id, struct store_command *out);

/*
 * 1 when a deploy or rollback of this project is still pending or running
 * (it names the run the project is to have), 0 when none, -1 on error.
 */
int store_command_open_for(struct store *s, const char *project);
/*
 * 1 when a start, restart, deploy or rollback of project newer than
 * command `after` is pending or running (a delete it follows must not take
 * effect: the later command wins, even across a runner restart), 0 when
 * none, -1 on error.
 */
int store_command_later_launch(struct store *s, const char *project, int64_t after);

/* ---- events (store_events.c) ---- */
/* Appends an event; data may be NULL. 0 or -1. */
int store_event_add(struct store *s, const char *type, const char *task_id, const char *project,
                    const char *level, const char *message, const char *data);
/*
 * The event that reports a change, written in the same transaction as the
 * change (readers of the event log never see one without the other). Every
 * pointer is borrowed for the call; level NULL means "info".
 */
struct store_event {
	const char *type, *task_id, *project, *level, *message, *data;
};
/* store_event_add of ev, inside the caller's transaction; NULL writes nothing. 0 or -1. */
int store_event_write(struct store *s, const struct store_event *ev);

/* ---- runner liveness and agent switches (store_agent.c) ---- */
struct store_runner {
	int pid;
	char version[32];
	char kill_mode[16];
	char limits[1024]; /* JSON text: limit name -> what enforces it; "" when not recorded */
	int64_t started_at, heartbeat_at, stopped_at;
	double loop_lag_ms;
};
/* The runner is the only writer of its row; limits is JSON text (or NULL). */
int store_runner_start(struct store *s, int pid, const char *version, const char *kill_mode,
                       const char *limits);
int store_runner_beat(struct store *s, double loop_lag_ms);
int store_runner_stopped(struct store *s);
/* 1 found, 0 the runner never ran, -1 error. */
int store_runner_get(struct store *s, struct store_runner *out);
/* agent_state key/value; get returns 1 found, 0 not, -1 error. */
int store_agent_get(struct store *s, const char *key, char *buf, size_t len);
int store_agent_set(struct store *s, const char *key, const char *value);

/* Queue and worker counts for /health (store_agent.c). */
struct store_counts {
	int64_t pending, running, paused, completed, failed;
	int64_t workers_total, workers_idle, workers_busy, workers_offline;
	int64_t projects_running;
};
int store_counts(struct store *s, struct store_counts *out);

#endif
