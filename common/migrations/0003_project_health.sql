-- SPDX-License-Identifier: MIT
-- Migration 3: projects may be 'unhealthy' (health checks failing) and, for
-- the steering that comes next, 'paused'; the runner keeps the health
-- check's status in projects.health. SQLite cannot change a CHECK in place,
-- so the table is rebuilt with the same columns in the same order; nothing
-- refers to it by foreign key, and it has no index or trigger of its own.
CREATE TABLE projects_v3 (
	name TEXT PRIMARY KEY,
	spec TEXT NOT NULL,
	release_id INTEGER,
	desired TEXT NOT NULL DEFAULT 'running' CHECK (desired IN ('running', 'stopped')),
	state TEXT NOT NULL DEFAULT 'stopped' CHECK (state IN
		('stopped', 'starting', 'running', 'unhealthy', 'paused', 'stopping', 'backoff',
		 'crashloop', 'failed')),
	state_reason TEXT,
	task_id TEXT,
	restarts INTEGER NOT NULL DEFAULT 0,
	fast_failures INTEGER NOT NULL DEFAULT 0,
	backoff_until INTEGER,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	deleted_at INTEGER,
	-- the runner's: {"status", "failures", "last": {"at", "ok", "code", "output",
	-- "duration_ms"}}, NULL for a project without a check
	health TEXT
);
INSERT INTO projects_v3 (name, spec, release_id, desired, state, state_reason, task_id,
	restarts, fast_failures, backoff_until, created_at, updated_at, deleted_at)
	SELECT name, spec, release_id, desired, state, state_reason, task_id, restarts,
		fast_failures, backoff_until, created_at, updated_at, deleted_at FROM projects;
DROP TABLE projects;
ALTER TABLE projects_v3 RENAME TO projects;
