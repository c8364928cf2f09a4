/* SPDX-License-Identifier: MIT */
/*
 * A zero-copy multipart/form-data parser (RFC 7578, framing from RFC 2046)
 * over a complete request body in memory (the handler mmaps the file nginx
 * wrote). It only splits the body into parts; it does not stream, decode
 * transfer encodings, or know what the parts mean to the API.
 */
#ifndef HOSTAGENT_MULTIPART_H
#define HOSTAGENT_MULTIPART_H

#include <stddef.h>

#define MP_MAX_PARTS 16
/* Longest boundary RFC 2046 allows. */
#define MP_BOUNDARY_MAX 70
/* Largest header block of one part, the blank line included. */
#define MP_HEADER_MAX 8192

struct mp_part {
	char name[128];         /* form field name from Content-Disposition, NUL-terminated */
	char filename[256];     /* "" when absent; raw bytes as sent, not guaranteed UTF-8 */
	char content_type[128]; /* "" when absent */
	/* Points into the caller's body buffer (borrowed: valid while the body is). */
	const unsigned char *data;
	size_t len;
};

/*
 * Extracts the boundary from a Content-Type value such as
 * 'multipart/form-data; boundary="abc"' (quoted or not, parameter names
 * case-insensitive, 1..70 characters from RFC 2046's bchars). The media type
 * must be multipart/form-data. out (caller's, outlen bytes) gets the
 * NUL-terminated boundary. 0, or -1 when there is none, it is invalid or
 * it does not fit.
 */
int mp_boundary(const char *content_type, char *out, size_t outlen);

/*
 * Parses body[0..len) completely: preamble, parts, the closing delimiter
 * (a body without it is -1 "truncated"), the epilogue is ignored. Header
 * lines end in CRLF or bare LF. Every part needs Content-Disposition:
 * form-data with a name; filename (or filename*=UTF-8''..., which wins) and
 * Content-Type are optional. At most max_parts parts and MP_HEADER_MAX bytes
 * of headers per part.
 *
 * body is borrowed and never read outside [0, len); parts (caller's array of
 * max_parts) is filled and its data pointers borrow from body. Returns 0
 * with *nparts set, or -1 with *nparts = 0 and a one-line reason in err
 * (caller's buffer, may be NULL). The cost is linear in len.
 */
int mp_parse(const unsigned char *body, size_t len, const char *boundary, struct mp_part *parts,
             size_t max_parts, size_t *nparts, char *err, size_t errlen);

/* The first part named name, or NULL. The result borrows from parts. */
const struct mp_part *mp_find(const struct mp_part *parts, size_t n, const char *name);

#endif
