/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for fcgi/multipart.c. The first input byte picks the
 * boundary ("XyZ", or 1..70 bytes taken from the input), the rest is
 * the body, parsed from an exact-size copy so that any over-read trips
 * AddressSanitizer. The whole input also goes through mp_boundary().
 * Invariants are checked with __builtin_trap(): this is a test, not the agent.
 */
#include "multipart.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_parts(const unsigned char *body, size_t len, const struct mp_part *parts,
                        size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct mp_part *p = &parts[i];
		if (p->data < body || p->len > len || (size_t)(p->data - body) > len - p->len)
			__builtin_trap();
		if (strnlen(p->name, sizeof(p->name)) >= sizeof(p->name) || p->name[0] == '\0' ||
		    strnlen(p->filename, sizeof(p->filename)) >= sizeof(p->filename) ||
		    strnlen(p->content_type, sizeof(p->content_type)) >= sizeof(p->content_type))
			__builtin_trap();
		if (mp_find(parts, n, p->name) == NULL)
			__builtin_trap();
	}
}

static void fuzz_boundary(const uint8_t *data, size_t size)
{
	char *ct = malloc(size + 1);
	char out[MP_BOUNDARY_MAX + 1];

	if (ct == NULL)
		return;
	memcpy(ct, data, size);
	ct[size] = '\0';
	if (mp_boundary(ct, out, sizeof(out)) == 0 &&
	    (out[0] == '\0' || strlen(out) > MP_BOUNDARY_MAX))
		__builtin_trap();
	free(ct);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mp_part parts[MP_MAX_PARTS];
	char boundary[MP_BOUNDARY_MAX + 1] = "XyZ";
	char err[128];
	unsigned char *body;
	size_t n = 99, blen;

	fuzz_boundary(data, size);
	if (size < 1)
		return 0;
	/* half the inputs use "XyZ", which the seeds and the dictionary know */
	blen = data[0] < 0x80 ? 0 : (size_t)(data[0] & 0x7f) % MP_BOUNDARY_MAX + 1;
	data++;
	size--;
	if (blen > 0 && blen <= size) {
		memcpy(boundary, data, blen);
		boundary[blen] = '\0';
		data += blen;
		size -= blen;
	}
	body = malloc(size ? size : 1);
	if (body == NULL)
		return 0;
	memcpy(body, data, size);
	if (mp_parse(body, size, boundary, parts, MP_MAX_PARTS, &n, err, sizeof(err)) == 0)
		check_parts(body, size, parts, n);
	else if (n != 0 || strnlen(err, sizeof(err)) == 0)
		__builtin_trap();
	free(body);
	return 0;
}
