/* SPDX-License-Identifier: MIT */
/*
 * The ports table (see store_ports.h).
 */
#include "store_ports.h"

#include "store_sql.h"

static const char sql_ports_of[] = "SELECT name, port, fixed FROM ports WHERE project = ?"
                                   " ORDER BY name";
static const char sql_port_holder[] = "SELECT project FROM ports WHERE port = ?";
static const char sql_ports_range[] =
    "SELECT port FROM ports WHERE port BETWEEN ? AND ? ORDER BY port";
static const char sql_ports_clear[] = "DELETE FROM ports WHERE project = ?";
static const char sql_port_add[] =
    "INSERT INTO ports (port, project, name, fixed) VALUES (?, ?, ?, ?)";

int store_ports_of(struct store *s, const char *project, struct store_port *out, size_t max,
                   size_t *n)
{
	sqlite3_stmt *st = store_prep(s, sql_ports_of);
	int rc;

	if (st == NULL)
		return -1;
	*n = 0;
	store_bind_text(st, 1, project);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
		store_col_copy(st, 0, out[*n].name, sizeof(out[*n].name));
		out[*n].port = sqlite3_column_int(st, 1);
		out[(*n)++].fixed = sqlite3_column_int(st, 2) != 0;
	}
	sqlite3_reset(st);
	return (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : -1;
}

int store_port_holder(struct store *s, int port, char *project, size_t len)
{
	sqlite3_stmt *st = store_prep(s, sql_port_holder);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int(st, 1, port);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		store_col_copy(st, 0, project, len);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_ports_in_range(struct store *s, int lo, int hi, int *out, size_t max, size_t *n)
{
	sqlite3_stmt *st = store_prep(s, sql_ports_range);
	int rc;

	if (st == NULL)
		return -1;
	*n = 0;
	sqlite3_bind_int(st, 1, lo);
	sqlite3_bind_int(st, 2, hi);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max)
		out[(*n)++] = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : -1;
}

int store_ports_replace(struct store *s, const char *project, const struct store_port *ports,
                        size_t n)
{
	sqlite3_stmt *st = store_prep(s, sql_ports_clear);

	if (st == NULL)
		return -1;
	store_bind_text(st, 1, project);
	if (store_step_done(st) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		st = store_prep(s, sql_port_add);
		if (st == NULL)
			return -1;
		sqlite3_bind_int(st, 1, ports[i].port);
		store_bind_text(st, 2, project);
		store_bind_text(st, 3, ports[i].name);
		sqlite3_bind_int(st, 4, ports[i].fixed);
		if (store_step_done(st) < 0)
			return -1;
	}
	return 0;
}
