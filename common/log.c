/* SPDX-License-Identifier: MIT */
/*
 * The agent's own log lines, to stderr and to an append-only file. One
 * write(2) per line, so that lines from several processes never interleave.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util.h"

static char log_name[32] = "hostagent";
static enum log_level log_min = LOG_LVL_INFO;
static int log_fd = -1;

void log_init(const char *name, enum log_level level, const char *file)
{
	snprintf(log_name, sizeof(log_name), "%s", name);
	log_min = level;
	if (log_fd >= 0) {
		close(log_fd);
		log_fd = -1;
	}
	if (file != NULL)
		log_fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int log_level_parse(const char *s)
{
	if (s == NULL)
		return -1;
	if (strcasecmp(s, "debug") == 0)
		return LOG_LVL_DEBUG;
	if (strcasecmp(s, "info") == 0)
		return LOG_LVL_INFO;
	if (strcasecmp(s, "warn") == 0 || strcasecmp(s, "warning") == 0)
		return LOG_LVL_WARN;
	if (strcasecmp(s, "error") == 0)
		return LOG_LVL_ERROR;
	return -1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *names[] = {"debug", "info", "warn", "error"};
	char line[2048], ts[UTIL_TIME_LEN];
	int saved = errno, n, m;
	va_list ap;

	if (level < log_min)
		return;
	n = snprintf(line, sizeof(line), "%s %s %s[%d]: ", util_time_fmt(util_now_ms(), ts),
	             names[level], log_name, (int)getpid());
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nothing sensible to do: the log must never stop the daemon */
	}
	if (log_fd >= 0 && write(log_fd, line, (size_t)n) < 0) {
		/* same */
	}
	errno = saved;
}
