-- SPDX-License-Identifier: MIT
-- Migration 2: active tokens in list order without a sort (the token list is
-- the most frequent authenticated read). Released, so frozen: never edit it.
CREATE INDEX tokens_active ON tokens (created_at DESC, id) WHERE revoked_at IS NULL;
