/* SPDX-License-Identifier: MIT */
/*
 * Project supervision, the I/O half of supervise.c's machine: it turns
 * project commands and its job's observations into the machine's inputs,
 * carries out the effects the machine returns (launching a run: its task
 * row, job directory and shim; stopping one; timers; settling commands),
 * and writes every change of state with its event in one transaction.
 */
#ifndef HOSTAGENT_PROJECT_H
#define HOSTAGENT_PROJECT_H

#include <stdint.h>

#include "health.h"
#include "supervise.h"

struct runner;
struct job;
struct store_task;
struct json_object;
struct store_command;

/* A supervised project, mirrored in projects.* (the database is the truth at start-up). */
struct project {
	struct runner *r; /* back pointer for callbacks (borrowed) */
	char name[64];
	struct sv sv;
	char task_id[40]; /* the current (or last) run */
	struct job *job;  /* the current run, NULL when none */
	int64_t backoff_until;
	uint64_t timer; /* backoff timer id, 0 when none */
	/*
	 * The newest deploy or rollback, delete, and stop: a deploy whose
	 * extraction ends after a later deploy, rollback or delete only makes
	 * its release ready; after a later stop, its release is current but
	 * not started.
	 */
	int64_t last_switch_id, last_delete_id, last_stop_id;
	int extracting; /* deploys whose extraction is under way (they refer to us) */
	struct health health; /* the current run's health check */
	bool forget;    /* deleted: freed once nothing refers to it any more */
	struct project *next;
};

/* Loads every live project and resumes backoff timers. 0 or -1. */
int project_load_all(struct runner *r);
/* A project.* command (deploy, start, stop, restart, signal, rollback, delete); settles it. */
void project_command(struct runner *r, const struct store_command *c, struct json_object *payload);
/* For jobs_recover: a recovered run of a project belongs to it again. */
void project_adopt(void *r, struct job *j, const struct store_task *t);
/* After recovery: projects whose run vanished are restarted or marked stopped. */
void project_settle_all(struct runner *r);

#endif
