-- SPDX-License-Identifier: MIT
-- Migration 5: the task queue (docs/architecture.md, "Tasks: the queue").
-- Released, so frozen: never edit it (SHA256SUMS).
--
-- What a task is for and how often it may run again: problem_id (the Task
-- Executor's "what to solve", for filters and worker matching), retries
-- (failed runs that go back to pending), not_before (a retry's backoff: no
-- claim before then), runs_on (this host's slots, or external workers).
ALTER TABLE tasks ADD COLUMN problem_id TEXT;
ALTER TABLE tasks ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN not_before INTEGER;
ALTER TABLE tasks ADD COLUMN runs_on TEXT NOT NULL DEFAULT 'internal'
	CHECK (runs_on IN ('internal', 'external'));

-- Every attempt of a task, kept: the claim adds the row, the end closes it.
-- tasks.attempts is the number of the current (last) one, and fences a
-- worker's result: one for an attempt that is not the current one is refused.
CREATE TABLE task_attempts (
	task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
	attempt INTEGER NOT NULL,
	worker_id TEXT NOT NULL,
	state TEXT NOT NULL DEFAULT 'running' CHECK (state IN
		('running', 'completed', 'failed', 'timeout', 'cancelled', 'lost')),
	reason TEXT,
	exit_code INTEGER,
	signal INTEGER,
	claimed_at INTEGER NOT NULL,
	started_at INTEGER,
	ended_at INTEGER,
	PRIMARY KEY (task_id, attempt)
);

-- The claim reads the pending tasks only, best first: a partial index stays
-- as small as the queue however many finished tasks the table holds. It
-- replaces tasks_queue, which also held every finished row.
DROP INDEX tasks_queue;
CREATE INDEX tasks_claim ON tasks (runs_on, priority DESC, created_at)
	WHERE state = 'pending' AND kind = 'task';
-- Lists by state, newest first (GET /api/v1/tasks?status=...).
CREATE INDEX tasks_state_created ON tasks (state, created_at);
-- A task that ends other than completed cancels the tasks that wait for it.
CREATE INDEX task_deps_after ON task_deps (after_id);
-- A worker's tasks (heartbeat, lost worker).
CREATE INDEX tasks_worker ON tasks (worker_id) WHERE state IN ('running', 'paused');
