/* SPDX-License-Identifier: MIT */
/*
 * What enforces each job limit (docs/operations.md, "Limits"): the job's
 * cgroup where it has the controller, an rlimit the shim sets otherwise,
 * and a refusal where neither would act. Pure: a spec and a controller
 * mask in, a plan out. Writing the cgroup files is cgroup_fs's, setting
 * the rlimits the shim's, finding the controllers runner/cgroup.c's.
 */
#ifndef HOSTAGENT_JOB_LIMITS_H
#define HOSTAGENT_JOB_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cgroup_fs.h"

struct json_object;

/* A spec's limits under the names of docs/api.md; 0 is "not set". */
struct job_limits {
	uint64_t memory, open_files, processes, cpu_seconds, file_size;
	double cpu; /* cores */
};

/* The "limits" of a normalized spec (borrowed); absent, null or bad values are 0. */
void job_limits_from_spec(struct json_object *spec, struct job_limits *out);

/*
 * Splits in between the job's cgroup, whose controllers are ctrl
 * (CGFS_CTRL_* bits; 0 when the job has no cgroup), and the rlimits the
 * shim sets: rl gets open_files, file_size and cpu_seconds always, memory
 * (RLIMIT_AS) only without the memory controller, processes (RLIMIT_NPROC)
 * only without pids, and never cpu. root: the job runs as root, whom
 * RLIMIT_NPROC does not limit. Returns 0, or -1 with the reason in err
 * when a limit would not be acted on: cpu without the cpu controller,
 * processes for a root job without the pids controller.
 */
int job_limits_plan(const struct job_limits *in, unsigned ctrl, bool root, struct cgfs_limits *cg,
                    struct job_limits *rl, char *err, size_t errlen);

/* rl as spec.json's "limits": the set ones, by name. A new object (caller puts it). */
struct json_object *job_limits_rlimits_json(const struct job_limits *rl);

/*
 * The runner row's "limits": every limit name mapped to what enforces it
 * on a host whose job cgroups have the controllers ctrl (swap: they have
 * memory.swap.max). Each value starts with "cgroup ", "rlimit " or
 * "none" (docs/api.md, GET /). A new object (caller puts it).
 */
struct json_object *job_limits_enforcement(unsigned ctrl, bool swap);

#endif
