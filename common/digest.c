/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 helpers (declared in util.h). Kept apart from util.c so that a
 * program that needs no digest, the per-run shim above all, does not load
 * libcrypto.
 */
#include "util.h"

#include <openssl/evp.h>

void util_sha256_hex(const void *buf, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = sizeof(md);

	EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
	util_hex(md, 32, out);
}
