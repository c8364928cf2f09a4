/* SPDX-License-Identifier: MIT */
/*
 * Settling a command: the leaf every command handler ends in. It touches
 * the commands table only and calls nothing in the runner, so any module
 * may settle the command it was given without knowing who dispatched it.
 */
#ifndef HOSTAGENT_SETTLE_H
#define HOSTAGENT_SETTLE_H

#include <stdbool.h>
#include <stdint.h>

struct store;

/* Marks command id 'applied' (ok) or 'failed' with result (JSON text) and reason, both optional. */
void settle_command(struct store *s, int64_t id, bool ok, const char *result, const char *reason);

#endif
