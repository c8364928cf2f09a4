/* SPDX-License-Identifier: MIT */
/*
 * The ports table: named ports held by projects. The primary key (port)
 * makes a collision impossible; a deploy replaces a project's rows inside
 * its transaction.
 */
#ifndef HOSTAGENT_STORE_PORTS_H
#define HOSTAGENT_STORE_PORTS_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

#define STORE_PORTS_MAX 64
struct store_port {
	char name[40];
	int port;
	bool fixed;
};
/* The project's ports by name, at most max, into out[0..*n). 0 or -1. */
int store_ports_of(struct store *s, const char *project, struct store_port *out, size_t max,
                   size_t *n);
/* The project holding port: 1 (name in project), 0 free, -1 error. */
int store_port_holder(struct store *s, int port, char *project, size_t len);
/* Ports held in [lo, hi], ascending, at most max. */
int store_ports_in_range(struct store *s, int lo, int hi, int *out, size_t max, size_t *n);
/* Replaces every port row of project by ports[0..n). */
int store_ports_replace(struct store *s, const char *project, const struct store_port *ports,
                        size_t n);

#endif
