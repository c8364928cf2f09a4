/* SPDX-License-Identifier: MIT */
/*
 * The artifacts table: content-addressed uploads and what uses them. Plain
 * rows with named fields; the API's JSON is built from them in fcgi/, never
 * here. Writers run inside the caller's store_begin/store_commit.
 */
#ifndef HOSTAGENT_STORE_ARTIFACTS_H
#define HOSTAGENT_STORE_ARTIFACTS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct store_artifact {
	char sha256[65];
	char format[16];
	int64_t size, entries, unpacked;
	int64_t created_at; /* ms; set by store_artifact_insert, read by the getters */
};

/* An artifact with what uses it. */
struct store_artifact_info {
	struct store_artifact a;
	char **projects; /* malloc'd array of nprojects malloc'd names: live projects running it */
	size_t nprojects;
	char **tasks; /* malloc'd array of ntasks malloc'd ids: pending, running or paused tasks */
	size_t ntasks;
	int64_t releases; /* release rows naming it (current or kept for rollback) */
};
/* Frees what info owns and zeroes it. */
void store_artifact_info_clear(struct store_artifact_info *info);
/* Clears each of n entries and frees the array itself. */
void store_artifact_info_free(struct store_artifact_info *arr, size_t n);

/* 1 inserted, 0 it existed already, -1 error. */
int store_artifact_insert(struct store *s, const struct store_artifact *a);
/* 1 when the artifact row exists, 0 not, -1 error. */
int store_artifact_exists(struct store *s, const char *sha256);
/* One artifact with its users: 1 found (out owned by the caller, _clear), 0 not, -1 error. */
int store_artifact_get(struct store *s, const char *sha256, struct store_artifact_info *out);
/*
 * A page, newest first: *arr (n entries, store_artifact_info_free) and the
 * total count. 0 or -1 (nothing to free then).
 */
int store_artifact_list(struct store *s, int limit, int offset, struct store_artifact_info **arr,
                        size_t *n, int64_t *total);

struct store_artifact_use {
	int64_t projects, tasks, releases;
	char project[128]; /* one project using it, for the message */
	char task[40];     /* one live task using it */
};
int store_artifact_usage(struct store *s, const char *sha256, struct store_artifact_use *u);
/* 1 deleted, 0 no such row, -1 error. */
int store_artifact_delete(struct store *s, const char *sha256);

#endif
