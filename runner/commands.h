/* SPDX-License-Identifier: MIT */
/*
 * Applying the commands the handlers write, in id order: each kind goes to
 * the module that owns it (project.c, bundle_logs.c, the task ops of
 * jobs.c), which settles it through settle.h.
 */
#ifndef HOSTAGENT_COMMANDS_H
#define HOSTAGENT_COMMANDS_H

struct runner;

/* Applies every pending command in id order. */
void commands_apply(struct runner *r);

#endif
