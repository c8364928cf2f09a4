-- SPDX-License-Identifier: MIT
-- Migration 1 of the hostagent database: the initial schema, applied when
-- PRAGMA user_version < 1. Released, so frozen: never edit it (SHA256SUMS);
-- a change to the schema is the next numbered file.
-- Times are INTEGER milliseconds since the epoch (UTC); the API formats them.
-- JSON columns hold text that json-c wrote.

-- API tokens: only the SHA-256 of a token is kept (hex); scopes is a
-- comma-separated subset of read,operate,admin.
CREATE TABLE tokens (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	hash TEXT NOT NULL UNIQUE,
	scopes TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	last_used_at INTEGER,
	expires_at INTEGER,
	revoked_at INTEGER
);

-- Uploaded artifacts, content-addressed; the file is <data>/artifacts/<sha256>.
CREATE TABLE artifacts (
	sha256 TEXT PRIMARY KEY,
	size INTEGER NOT NULL,
	format TEXT NOT NULL,
	entries INTEGER NOT NULL,
	unpacked INTEGER NOT NULL,
	created_at INTEGER NOT NULL
);

-- Long-running services. spec is the spec of the current release; release_id
-- the release that runs (or would run); desired what the user asked for.
CREATE TABLE projects (
	name TEXT PRIMARY KEY,
	spec TEXT NOT NULL,
	release_id INTEGER,
	desired TEXT NOT NULL DEFAULT 'running' CHECK (desired IN ('running', 'stopped')),
	state TEXT NOT NULL DEFAULT 'stopped' CHECK (state IN
		('stopped', 'starting', 'running', 'stopping', 'backoff', 'crashloop', 'failed')),
	state_reason TEXT,
	task_id TEXT,
	restarts INTEGER NOT NULL DEFAULT 0,
	fast_failures INTEGER NOT NULL DEFAULT 0,
	backoff_until INTEGER,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	deleted_at INTEGER
);

-- Every deploy is a release: the artifact extracted to
-- <data>/releases/<project>/<seq>, with the spec it was deployed with.
CREATE TABLE releases (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	project TEXT NOT NULL,
	seq INTEGER NOT NULL,
	artifact TEXT NOT NULL REFERENCES artifacts (sha256),
	spec TEXT NOT NULL,
	state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
		('pending', 'extracting', 'ready', 'failed', 'removed')),
	reason TEXT,
	created_at INTEGER NOT NULL,
	UNIQUE (project, seq)
);

-- Named ports held by projects; the primary key makes a collision impossible.
CREATE TABLE ports (
	port INTEGER PRIMARY KEY,
	project TEXT NOT NULL,
	name TEXT NOT NULL,
	fixed INTEGER NOT NULL DEFAULT 0,
	UNIQUE (project, name)
);

-- Every run of a process: a queued task (kind 'task') or one start of a
-- project (kind 'service'). Its files live in <data>/jobs/<id>.
CREATE TABLE tasks (
	id TEXT PRIMARY KEY,
	kind TEXT NOT NULL CHECK (kind IN ('service', 'task')),
	project TEXT,
	release_id INTEGER,
	artifact TEXT,
	spec TEXT NOT NULL,
	parameters TEXT,
	labels TEXT,
	priority INTEGER NOT NULL DEFAULT 0,
	timeout_s INTEGER,
	max_steps INTEGER,
	state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
		('pending', 'running', 'paused', 'completed', 'failed', 'timeout', 'cancelled')),
	reason TEXT,
	worker_id TEXT,
	lease_until INTEGER,
	attempts INTEGER NOT NULL DEFAULT 0,
	pid INTEGER,
	shim_pid INTEGER,
	cgroup TEXT,
	exit_code INTEGER,
	signal INTEGER,
	killed INTEGER NOT NULL DEFAULT 0,
	timed_out INTEGER NOT NULL DEFAULT 0,
	oom INTEGER NOT NULL DEFAULT 0,
	result TEXT,
	status TEXT,
	status_at INTEGER,
	steps_taken INTEGER NOT NULL DEFAULT 0,
	paused_ms INTEGER NOT NULL DEFAULT 0,
	paused_at INTEGER,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	started_at INTEGER,
	completed_at INTEGER
);
CREATE INDEX tasks_queue ON tasks (state, priority DESC, created_at);
CREATE INDEX tasks_project ON tasks (project, created_at);
CREATE INDEX tasks_created ON tasks (created_at);

-- Chains: a task waits for every row's after_id to complete.
CREATE TABLE task_deps (
	task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
	after_id TEXT NOT NULL,
	PRIMARY KEY (task_id, after_id)
);

-- Every state change, as the event stream and webhooks see it.
CREATE TABLE events (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	ts INTEGER NOT NULL,
	type TEXT NOT NULL,
	task_id TEXT,
	project TEXT,
	worker_id TEXT,
	level TEXT NOT NULL DEFAULT 'info',
	message TEXT,
	data TEXT
);
CREATE INDEX events_task ON events (task_id, id);
CREATE INDEX events_project ON events (project, id);

-- The desired changes the handlers write and the runner applies, in id
-- order. 'running' marks one the runner has started (e.g. an extraction in a
-- helper process); at start-up the runner takes those up again.
CREATE TABLE commands (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	kind TEXT NOT NULL,
	target TEXT,
	payload TEXT,
	state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
		('pending', 'running', 'applied', 'failed')),
	result TEXT,
	reason TEXT,
	request_id TEXT,
	created_at INTEGER NOT NULL,
	applied_at INTEGER
);
CREATE INDEX commands_open ON commands (state, id) WHERE state IN ('pending', 'running');

-- Internal execution slots and external workers of the task queue.
CREATE TABLE workers (
	id TEXT PRIMARY KEY,
	backend_type TEXT NOT NULL,
	status TEXT NOT NULL DEFAULT 'idle' CHECK (status IN ('idle', 'busy', 'offline')),
	last_heartbeat INTEGER,
	capabilities TEXT,
	tasks_completed INTEGER NOT NULL DEFAULT 0,
	tasks_failed INTEGER NOT NULL DEFAULT 0,
	registered_at INTEGER NOT NULL
);

CREATE TABLE webhooks (
	id TEXT PRIMARY KEY,
	url TEXT NOT NULL,
	events TEXT NOT NULL,
	secret TEXT,
	created_at INTEGER NOT NULL
);
CREATE TABLE webhook_deliveries (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	event_id INTEGER NOT NULL,
	state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
	attempts INTEGER NOT NULL DEFAULT 0,
	next_at INTEGER,
	response_code INTEGER,
	error TEXT,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);

-- Idempotency-Key: the first response to (token, key) is replayed.
CREATE TABLE idempotency_keys (
	token_id TEXT NOT NULL,
	key TEXT NOT NULL,
	method TEXT NOT NULL,
	path TEXT NOT NULL,
	body_sha256 TEXT NOT NULL,
	status INTEGER NOT NULL,
	response TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (token_id, key)
);

-- The runner's liveness: one row, rewritten every heartbeat_ms.
CREATE TABLE runner (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	pid INTEGER,
	version TEXT,
	started_at INTEGER,
	heartbeat_at INTEGER,
	loop_lag_ms REAL,
	kill_mode TEXT,
	stopped_at INTEGER
);

-- Small switches both daemons read (draining, queue accepting, ...).
CREATE TABLE agent_state (
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

-- The runner's one-second samples of each running job's process tree, so
-- that reads never wait for a second sample to compute a CPU percentage.
CREATE TABLE task_usage (
	task_id TEXT PRIMARY KEY,
	sampled_at INTEGER NOT NULL,
	cpu_pct REAL,
	rss_bytes INTEGER,
	threads INTEGER,
	fds INTEGER,
	procs INTEGER
);

-- The runner's one-second samples of the host (GET /api/v1/host).
CREATE TABLE host_usage (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	sampled_at INTEGER NOT NULL,
	cpu_pct REAL,
	avg1 REAL,
	avg5 REAL,
	avg15 REAL
);
