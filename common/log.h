/* SPDX-License-Identifier: MIT */
/*
 * The agent's own log: one line per message, "time level daemon[pid]: text",
 * written to stderr and appended to a file under the data directory so that
 * GET /api/v1/agent/logs can bundle it. It never exits the process.
 */
#ifndef HOSTAGENT_LOG_H
#define HOSTAGENT_LOG_H

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/*
 * name: the daemon's name ("fcgi", "runner", "shim"); file: a path to append
 * to, or NULL for stderr only. Safe to call again (reload) to change them.
 */
void log_init(const char *name, enum log_level level, const char *file);
/* "debug", "info", "warn"/"warning", "error"; -1 if unknown. */
int log_level_parse(const char *s);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

#endif
