/* SPDX-License-Identifier: MIT */
/*
 * Job limits: one table says, for each limit name, the controller that
 * enforces it in the job's cgroup and the rlimit that stands in without
 * it (see job_limits.h). The plan of a run and the runner row's description
 * of the host are both read from that table, so they cannot disagree.
 */
#include "job_limits.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "util.h"

enum lim { L_MEMORY, L_PROCESSES, L_CPU, L_OPEN_FILES, L_FILE_SIZE, L_CPU_SECONDS };

static const struct limit_def {
	const char *name;
	unsigned ctrl;       /* the controller that enforces it in the cgroup; 0: none does */
	const char *cgroup;  /* ...and how, when the job's cgroup has it */
	const char *instead; /* how otherwise */
} defs[] = {
    [L_MEMORY] = {"memory", CGFS_CTRL_MEMORY, "cgroup memory.max",
                  "rlimit RLIMIT_AS (address space, not resident memory): no memory controller"},
    [L_PROCESSES] = {"processes", CGFS_CTRL_PIDS, "cgroup pids.max",
                     "rlimit RLIMIT_NPROC (counted per user; refused for root jobs): no pids "
                     "controller"},
    [L_CPU] = {"cpu", CGFS_CTRL_CPU, "cgroup cpu.max", "none: no cpu controller (refused)"},
    [L_OPEN_FILES] = {"open_files", 0, NULL, "rlimit RLIMIT_NOFILE"},
    [L_FILE_SIZE] = {"file_size", 0, NULL, "rlimit RLIMIT_FSIZE"},
    [L_CPU_SECONDS] = {"cpu_seconds", 0, NULL, "rlimit RLIMIT_CPU"},
};

/* The integer fields of struct job_limits, in the order of defs (cpu is apart). */
static uint64_t *field(struct job_limits *l, enum lim i)
{
	switch (i) {
	case L_MEMORY:
		return &l->memory;
	case L_PROCESSES:
		return &l->processes;
	case L_OPEN_FILES:
		return &l->open_files;
	case L_FILE_SIZE:
		return &l->file_size;
	case L_CPU_SECONDS:
		return &l->cpu_seconds;
	default:
		return NULL;
	}
}

/* A positive integer, or a size string ("512m"); 0 for anything else. */
static uint64_t count_of(struct json_object *v)
{
	uint64_t n = 0;

	if (json_object_is_type(v, json_type_string))
		return util_parse_size(json_object_get_string(v), &n) == 0 ? n : 0;
	if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0)
		return (uint64_t)json_object_get_int64(v);
	return 0;
}

void job_limits_from_spec(struct json_object *spec, struct job_limits *out)
{
	struct json_object *lim, *v;

	memset(out, 0, sizeof(*out));
	if (!json_object_object_get_ex(spec, "limits", &lim) ||
	    !json_object_is_type(lim, json_type_object))
		return;
	for (size_t i = 0; i < ARRAY_SIZE(defs); i++)
		if (field(out, (enum lim)i) != NULL &&
		    json_object_object_get_ex(lim, defs[i].name, &v))
			*field(out, (enum lim)i) = count_of(v);
	if (json_object_object_get_ex(lim, "cpu", &v) &&
	    (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)) &&
	    json_object_get_double(v) > 0)
		out->cpu = json_object_get_double(v);
}

int job_limits_plan(const struct job_limits *in, unsigned ctrl, bool root, struct cgfs_limits *cg,
                    struct job_limits *rl, char *err, size_t errlen)
{
	memset(cg, 0, sizeof(*cg));
	*rl = *in;
	rl->cpu = 0; /* no rlimit stands in for cpu.max */
	if (in->cpu > 0 && !(ctrl & CGFS_CTRL_CPU)) {
		snprintf(err, errlen,
		         "limits.cpu: this job's cgroup has no cpu controller, so nothing would "
		         "enforce it (deploy without it, or give the runner the cpu controller)");
		return -1;
	}
	if (in->processes > 0 && root && !(ctrl & CGFS_CTRL_PIDS)) {
		snprintf(err, errlen,
		         "limits.processes: the job runs as root, whom RLIMIT_NPROC does not "
		         "limit, and its cgroup has no pids controller");
		return -1;
	}
	cg->cpu = in->cpu;
	if (ctrl & CGFS_CTRL_MEMORY) {
		cg->memory = in->memory;
		rl->memory = 0;
	}
	if (ctrl & CGFS_CTRL_PIDS) {
		cg->pids = in->processes;
		rl->processes = 0;
	}
	return 0;
}

struct json_object *job_limits_rlimits_json(const struct job_limits *rl)
{
	struct json_object *o = json_object_new_object();
	struct job_limits copy = *rl;

	for (size_t i = 0; o != NULL && i < ARRAY_SIZE(defs); i++) {
		uint64_t *v = field(&copy, (enum lim)i);
		if (v != NULL && *v > 0)
			json_object_object_add(o, defs[i].name, json_object_new_int64((int64_t)*v));
	}
	return o;
}

struct json_object *job_limits_enforcement(unsigned ctrl, bool swap)
{
	struct json_object *o = json_object_new_object();

	for (size_t i = 0; o != NULL && i < ARRAY_SIZE(defs); i++) {
		const char *how =
		    defs[i].ctrl != 0 && (ctrl & defs[i].ctrl) ? defs[i].cgroup : defs[i].instead;
		if (i == L_MEMORY && (ctrl & CGFS_CTRL_MEMORY) && swap)
			how = "cgroup memory.max, memory.swap.max 0";
		json_object_object_add(o, defs[i].name, json_object_new_string(how));
	}
	return o;
}
