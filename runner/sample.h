/* SPDX-License-Identifier: MIT */
/*
 * The one-second sample of every running job's tree and of the host.
 */
#ifndef HOSTAGENT_SAMPLE_H
#define HOSTAGENT_SAMPLE_H

struct runner;

/* One sample of every running job's tree and of the host, in one transaction. */
void sample_tick(struct runner *r);

#endif
