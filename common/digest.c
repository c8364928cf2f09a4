/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 helpers (declared in util.h). Kept apart from util.c so that a
 * program that needs no digest, the per-run shim above all, does not load
 * libcrypto.
 */
#include "util.h"

#include <openssl/evp.h>

/*
 * OpenSSL 3 looks the algorithm up again on every EVP_Digest(): on an
 * authenticated request that fetch cost more than the hash itself. The
 * implementation and a context are kept per process (each handler worker
 * is single-threaded and creates them after fork, on first use).
 */
void util_sha256_hex(const void *buf, size_t len, char out[65])
{
	static EVP_MD *md;
	static EVP_MD_CTX *ctx;
	unsigned char d[32];
	unsigned int dlen = sizeof(d);

	if (md == NULL)
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (ctx == NULL)
		ctx = EVP_MD_CTX_new();
	if (md == NULL || ctx == NULL || EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, buf, len) != 1 || EVP_DigestFinal_ex(ctx, d, &dlen) != 1)
		EVP_Digest(buf, len, d, &dlen, EVP_sha256(), NULL); /* the slow path still works */
	util_hex(d, 32, out);
}
