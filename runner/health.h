/* SPDX-License-Identifier: MIT */
/*
 * What a project's health check results mean, pure: the shim runs the
 * check and reports each outcome (shim_health.h); this counts failures in
 * a row, leaves out failures inside start_period before a first pass (a
 * service still warming up), and says when the run turned healthy or
 * unhealthy. No I/O and no clock of its own: project.c feeds it and writes
 * health_json() to projects.health.
 */
#ifndef HOSTAGENT_HEALTH_H
#define HOSTAGENT_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "shim_proto.h"

struct json_object;

enum health_status { HEALTH_NONE, HEALTH_STARTING, HEALTH_HEALTHY, HEALTH_UNHEALTHY };

struct health {
	bool on;                 /* the run's spec has a check */
	int retries;             /* failures in a row that make it unhealthy (at least 1) */
	int64_t start_period_ms; /* failures before a first pass in this window do not count */
	int64_t started_ms;      /* when the run started, on the caller's clock */
	enum health_status status;
	int failures; /* in a row */
	int64_t checks;
	bool has_last;
	struct shim_health last;
	bool dirty; /* changed since it was last written */
};

enum health_change { HEALTH_SAME, HEALTH_BECAME_HEALTHY, HEALTH_BECAME_UNHEALTHY };

/* A new run: spec_health is the spec's "health" (NULL or null: no check). */
void health_arm(struct health *h, struct json_object *spec_health, int64_t now_ms);
/* The run is over: the status is none, the last result is kept. */
void health_disarm(struct health *h);
/* One outcome; now_ms on the same clock as health_arm's. */
enum health_change health_result(struct health *h, const struct shim_health *r, int64_t now_ms);
/* "starting", "healthy", ...; "none" without a check. */
const char *health_status_name(enum health_status s);
/* projects.health as JSON text (malloc'd), or NULL for a project that never had a check. */
char *health_json(const struct health *h);

#endif
