/* SPDX-License-Identifier: MIT */
/*
 * Token generation, hashing and scope arithmetic: pure apart from the
 * random source, and unit-tested.
 */
#include "token.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int token_generate(char token[TOKEN_LEN], char id[TOKEN_ID_LEN])
{
	unsigned char r[32], idb[6];
	char hex[13];
	size_t o = 4;

	if (util_random(r, sizeof(r)) < 0 || util_random(idb, sizeof(idb)) < 0)
		return -1;
	memcpy(token, "hat_", 4);
	/* 256 bits as 43 base64url characters, 6 bits at a time */
	for (int bit = 0; bit < 256; bit += 6) {
		int byte = bit / 8, shift = bit % 8;
		unsigned v = (unsigned)r[byte] << 8 | (byte + 1 < 32 ? r[byte + 1] : 0);
		token[o++] = b64url[(v >> (10 - shift)) & 63];
	}
	token[o] = '\0';
	util_hex(idb, sizeof(idb), hex);
	snprintf(id, TOKEN_ID_LEN, "tok_%s", hex);
	return 0;
}

void token_hash(const char *token, char hash[65])
{
	util_sha256_hex(token, strlen(token), hash);
}

int token_well_formed(const char *token)
{
	size_t n;

	if (token == NULL || strncmp(token, "hat_", 4) != 0)
		return 0;
	n = strlen(token + 4);
	if (n != 43)
		return 0;
	return strspn(token + 4, b64url) == n;
}

static const struct {
	const char *name;
	unsigned bit;
} scope_names[] = {{"read", SCOPE_READ}, {"operate", SCOPE_OPERATE}, {"admin", SCOPE_ADMIN}};

int token_scopes_parse(const char *s, unsigned *mask, char *out, size_t outlen)
{
	char buf[256], *save = NULL;
	unsigned m = 0;
	size_t o = 0;

	if (s == NULL || util_fmt(buf, sizeof(buf), "%s", s) < 0)
		return -1;
	for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		size_t i;
		for (i = 0; i < ARRAY_SIZE(scope_names); i++)
			if (strcmp(t, scope_names[i].name) == 0)
				break;
		if (i == ARRAY_SIZE(scope_names))
			return -1;
		m |= scope_names[i].bit;
	}
	if (m == 0)
		return -1;
	if (out != NULL && outlen > 0) {
		out[0] = '\0';
		for (size_t i = 0; i < ARRAY_SIZE(scope_names); i++) {
			if (!(m & scope_names[i].bit))
				continue;
			int n = snprintf(out + o, outlen - o, "%s%s", o ? "," : "",
			                 scope_names[i].name);
			if (n < 0 || (size_t)n >= outlen - o)
				return -1;
			o += (size_t)n;
		}
	}
	*mask = m;
	return 0;
}

int token_scope_allows(unsigned granted, enum token_scope needed)
{
	unsigned eff = granted;

	if (eff & SCOPE_ADMIN)
		eff |= SCOPE_OPERATE;
	if (eff & SCOPE_OPERATE)
		eff |= SCOPE_READ;
	return needed == SCOPE_NONE || (eff & (unsigned)needed) != 0;
}

const char *token_from_header(const char *hdr)
{
	if (hdr == NULL || strncasecmp(hdr, "Bearer ", 7) != 0)
		return NULL;
	hdr += 7;
	while (*hdr == ' ')
		hdr++;
	return *hdr ? hdr : NULL;
}
