/* SPDX-License-Identifier: MIT */
/*
 * settle_command (see settle.h). A command that cannot be recorded stays
 * 'running' and is taken up again by the next runner, so every command
 * handler is safe to apply twice.
 */
#include "settle.h"

#include "log.h"
#include "store.h"

void settle_command(struct store *s, int64_t id, bool ok, const char *result, const char *reason)
{
	if (id == 0)
		return;
	if (store_command_set(s, id, ok ? "applied" : "failed", result, reason) < 0)
		log_error("command %lld: cannot record its outcome", (long long)id);
	if (!ok)
		log_warn("command %lld failed: %s", (long long)id, reason ? reason : "");
}
