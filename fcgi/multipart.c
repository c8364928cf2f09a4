/* SPDX-License-Identifier: MIT */
/*
 * multipart/form-data framing (RFC 2046 section 5.1.1, RFC 7578): finds the
 * delimiter lines in a body held in memory and parses each part's headers.
 * Part data is never copied. It does not decode Content-Transfer-Encoding
 * (only the identity encodings are accepted) nor interpret the parts.
 */
#include "multipart.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* One delimiter line found in the body. */
struct mp_delim {
	size_t data_end; /* end of the previous part's data: the CRLF before "--" is not data */
	size_t next;     /* first byte after the delimiter line */
	int close;       /* the close delimiter "--boundary--" */
};

struct mp_ctx {
	const unsigned char *body;
	size_t len;
	const char *bnd;
	size_t blen;
	char *err;
	size_t errlen;
};

/* Content-Disposition parameters and headers already seen in one part. */
enum {
	MP_SEEN_DISPOSITION = 1 << 0,
	MP_SEEN_TYPE = 1 << 1,
	MP_SEEN_ENCODING = 1 << 2,
	MP_SEEN_NAME = 1 << 3,
	MP_SEEN_FILENAME = 1 << 4,
	MP_SEEN_FILENAME_EXT = 1 << 5,
};

__attribute__((format(printf, 2, 3))) static int mp_fail(struct mp_ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->err != NULL && c->errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int mp_is_ws(int ch)
{
	return ch == ' ' || ch == '\t';
}

static const char *mp_skip_ws(const char *p)
{
	while (mp_is_ws(*p))
		p++;
	return p;
}

/* RFC 2046 bchars: 1..70 of them, and the last one is not a space. */
static int mp_boundary_ok(const char *s, size_t len)
{
	static const char extra[] = "'()+_,-./:=? ";

	if (len < 1 || len > MP_BOUNDARY_MAX || s[len - 1] == ' ')
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= 'A' && ch <= 'Z') || (ch != '\0' && strchr(extra, ch) != NULL)))
			return -1;
	}
	return 0;
}

/*
 * Reads one parameter value (a token or a quoted-string) at *pp into dst
 * (size bytes, NUL-terminated; NULL to skip it) and advances *pp past it.
 * Inside quotes only \" and \\ are escapes: browsers send Windows paths
 * with bare backslashes, which are kept as they are.
 * Returns the length, -1 when malformed, -2 when it does not fit.
 */
static long mp_param_value(const char **pp, char *dst, size_t size)
{
	const char *p = *pp;
	size_t n = 0;
	int quoted = (*p == '"');
	char ch;

	if (quoted)
		p++;
	for (;; n++) {
		if (quoted) {
			if (*p == '\0')
				return -1;
			if (*p == '"')
				break;
			ch = *p++;
			if (ch == '\\' && (*p == '"' || *p == '\\'))
				ch = *p++;
		} else {
			if (*p == '\0' || *p == ';' || *p == '"' || mp_is_ws(*p))
				break;
			ch = *p++;
		}
		if (dst != NULL && n + 1 >= size)
			return -2;
		if (dst != NULL)
			dst[n] = ch;
	}
	if (quoted)
		p++;
	else if (n == 0)
		return -1;
	if (dst != NULL)
		dst[n] = '\0';
	*pp = p;
	return (long)n;
}

/*
 * Steps over "; name=" at *pp: copies the parameter name into name (""
 * when longer than any name we know) and leaves *pp at the value. 1 when
 * there is a parameter, 0 at the end of the header value, -1 when malformed.
 */
static int mp_param_name(const char **pp, char *name, size_t size)
{
	const char *p = mp_skip_ws(*pp);
	size_t n;

	if (*p == '\0')
		return 0;
	if (*p != ';')
		return -1;
	p = mp_skip_ws(p + 1);
	if (*p == '\0')
		return 0; /* a trailing ';' is harmless */
	n = strcspn(p, "=; \t\"");
	if (n == 0)
		return -1;
	if (n < size) {
		memcpy(name, p, n);
		name[n] = '\0';
	} else {
		name[0] = '\0';
	}
	p = mp_skip_ws(p + n);
	if (*p != '=')
		return -1;
	*pp = mp_skip_ws(p + 1);
	return 1;
}
