-- SPDX-License-Identifier: MIT
-- Migration 6: lists by state count and page through an index that holds
-- the kind too, so that GET /api/v1/tasks?status=pending counts its total
-- from the index alone, without reading a row of the table.
-- Released, so frozen: never edit it (SHA256SUMS).
DROP INDEX tasks_state_created;
CREATE INDEX tasks_state_kind_created ON tasks (state, kind, created_at);
