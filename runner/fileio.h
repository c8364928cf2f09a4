/* SPDX-License-Identifier: MIT */
/*
 * Atomic file replacement for the runner and the shim: write path.tmp,
 * rename it into place. Readers never see half a file. Only files whose
 * loss on power failure matters (exit.json) pay for fsync; the rest
 * (spec.json, shim.json, logstate.json) are rewritten from memory anyway,
 * and an fsync costs milliseconds on the launch path.
 */
#ifndef HOSTAGENT_FILEIO_H
#define HOSTAGENT_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* 0 or -1 (errno set; the tmp file is removed). durable: fsync file and directory. */
int fileio_replace(const char *path, const void *buf, size_t len, mode_t mode, bool durable);

#endif
