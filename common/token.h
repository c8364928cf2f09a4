/* SPDX-License-Identifier: MIT */
/*
 * API token format, hashing and scopes. A token is "hat_" followed by 43
 * base64url characters (256 random bits); only its SHA-256 is stored.
 * Scopes nest: admin implies operate, operate implies read.
 */
#ifndef HOSTAGENT_TOKEN_H
#define HOSTAGENT_TOKEN_H

#include <stddef.h>

#define TOKEN_LEN    48 /* "hat_" + 43 + NUL, rounded */
#define TOKEN_ID_LEN 20 /* "tok_" + 12 hex + NUL, rounded */

enum token_scope { SCOPE_NONE = 0, SCOPE_READ = 1, SCOPE_OPERATE = 2, SCOPE_ADMIN = 4 };

/* Fresh token and its public id. 0 or -1. */
int token_generate(char token[TOKEN_LEN], char id[TOKEN_ID_LEN]);
/* SHA-256 hex of the token text. */
void token_hash(const char *token, char hash[65]);
/* Plausible shape ("hat_" + base64url) before any database look-up. */
int token_well_formed(const char *token);
/*
 * Parses "read,operate" (commas or spaces) into a bit set, normalized back
 * into canonical text ("read,operate", in that order) in out. -1 on an
 * unknown or empty scope list.
 */
int token_scopes_parse(const char *s, unsigned *mask, char *out, size_t outlen);
/* 1 when the granted mask satisfies the needed scope (nesting applied). */
int token_scope_allows(unsigned granted, enum token_scope needed);
/*
 * Extracts the token from an Authorization header value "Bearer <token>"
 * (case-insensitive scheme). Returns a pointer into hdr, or NULL.
 */
const char *token_from_header(const char *hdr);

#endif
