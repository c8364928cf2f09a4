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

int mp_boundary(const char *content_type, char *out, size_t outlen)
{
	static const char type[] = "multipart/form-data";
	char pname[16], val[MP_BOUNDARY_MAX + 1];
	const char *p;
	long blen = -1;
	size_t n;
	int more;

	if (content_type == NULL || out == NULL)
		return -1;
	p = mp_skip_ws(content_type);
	n = strcspn(p, "; \t");
	if (n != sizeof(type) - 1 || strncasecmp(p, type, n) != 0)
		return -1;
	p += n;
	while ((more = mp_param_name(&p, pname, sizeof(pname))) == 1) {
		if (strcasecmp(pname, "boundary") != 0) {
			if (mp_param_value(&p, NULL, 0) < 0)
				return -1;
			continue;
		}
		if (blen >= 0)
			return -1; /* two boundaries: which one would the sender mean? */
		blen = mp_param_value(&p, val, sizeof(val));
		if (blen < 0)
			return -1;
	}
	if (more < 0 || blen < 0 || mp_boundary_ok(val, (size_t)blen) < 0 || (size_t)blen >= outlen)
		return -1;
	memcpy(out, val, (size_t)blen + 1);
	return 0;
}

/*
 * After "--boundary": "--" makes it the close delimiter (what follows is
 * epilogue); otherwise transport padding (SP, HT) and a line end must
 * follow, else the bytes are data that merely begin like a delimiter.
 */
static int mp_delim_tail(const struct mp_ctx *c, size_t q, struct mp_delim *d)
{
	const unsigned char *b = c->body;

	d->close = 0;
	if (c->len - q >= 2 && b[q] == '-' && b[q + 1] == '-') {
		d->close = 1;
		d->next = q + 2;
		return 1;
	}
	while (q < c->len && mp_is_ws(b[q]))
		q++;
	if (q < c->len && b[q] == '\n')
		d->next = q + 1;
	else if (c->len - q >= 2 && b[q] == '\r' && b[q + 1] == '\n')
		d->next = q + 2;
	else
		return 0;
	return 1;
}

/*
 * Finds the first delimiter "\n--boundary" (the CR before the LF is
 * optional) at or after from, where the current part begins. Linear: the
 * boundary cannot contain '\n', so a failed comparison never covers a
 * newline the next memchr would have to revisit.
 */
static int mp_next_delim(const struct mp_ctx *c, size_t from, struct mp_delim *d)
{
	const unsigned char *b = c->body, *nl;
	size_t p, need = 3 + c->blen;

	while (from < c->len) {
		nl = memchr(b + from, '\n', c->len - from);
		if (nl == NULL)
			return -1;
		p = (size_t)(nl - b);
		if (c->len - p >= need && b[p + 1] == '-' && b[p + 2] == '-' &&
		    memcmp(b + p + 3, c->bnd, c->blen) == 0 && mp_delim_tail(c, p + need, d)) {
			d->data_end = (p > from && b[p - 1] == '\r') ? p - 1 : p;
			return 0;
		}
		from = p + 1;
	}
	return -1;
}

/* The first delimiter may open the body, without a line end before it. */
static int mp_first_delim(const struct mp_ctx *c, struct mp_delim *d)
{
	if (c->len >= 2 + c->blen && c->body[0] == '-' && c->body[1] == '-' &&
	    memcmp(c->body + 2, c->bnd, c->blen) == 0 && mp_delim_tail(c, 2 + c->blen, d)) {
		d->data_end = 0;
		return 0;
	}
	return mp_next_delim(c, 0, d);
}

static int mp_hex(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* filename*=UTF-8'lang'percent-encoded (RFC 8187); the language is ignored. */
static int mp_ext_filename(struct mp_ctx *c, const char *v, struct mp_part *part, size_t idx)
{
	const char *q = strchr(v, '\'');
	size_t n = 0;
	int ch, hi, lo;

	if (q == NULL || q - v != 5 || strncasecmp(v, "utf-8", 5) != 0)
		return mp_fail(c, "part %zu: filename* must use the UTF-8 charset", idx);
	q = strchr(q + 1, '\'');
	if (q == NULL)
		return mp_fail(c, "part %zu: malformed filename*", idx);
	for (q++; *q != '\0'; n++) {
		ch = (unsigned char)*q++;
		if (ch == '%') {
			hi = mp_hex(q[0]);
			lo = hi < 0 ? -1 : mp_hex(q[1]);
			if (lo < 0)
				return mp_fail(c, "part %zu: bad percent-encoding in filename*",
				               idx);
			ch = hi * 16 + lo;
			q += 2;
		}
		if (ch < 0x20 || ch == 0x7f)
			return mp_fail(c, "part %zu: control character in filename*", idx);
		if (n + 1 >= sizeof(part->filename))
			return mp_fail(c, "part %zu: filename is too long", idx);
		part->filename[n] = (char)ch;
	}
	part->filename[n] = '\0';
	return 0;
}

/* One Content-Disposition parameter, its name already read, *pp at its value. */
static int mp_disposition_param(struct mp_ctx *c, const char *pname, const char **pp,
                                struct mp_part *part, size_t idx, unsigned *seen)
{
	char ext[1024];
	unsigned bit = 0;
	long r;

	if (strcasecmp(pname, "name") == 0)
		bit = MP_SEEN_NAME;
	else if (strcasecmp(pname, "filename") == 0)
		bit = MP_SEEN_FILENAME;
	else if (strcasecmp(pname, "filename*") == 0)
		bit = MP_SEEN_FILENAME_EXT;
	if (*seen & bit)
		return mp_fail(c, "part %zu: duplicate %s parameter", idx, pname);
	*seen |= bit;
	if (bit == MP_SEEN_NAME)
		r = mp_param_value(pp, part->name, sizeof(part->name));
	else if (bit == MP_SEEN_FILENAME) /* filename* wins when both are sent */
		r = mp_param_value(pp, (*seen & MP_SEEN_FILENAME_EXT) ? NULL : part->filename,
		                   sizeof(part->filename));
	else if (bit == MP_SEEN_FILENAME_EXT)
		r = mp_param_value(pp, ext, sizeof(ext));
	else
		r = mp_param_value(pp, NULL, 0);
	if (r == -2)
		return mp_fail(c, "part %zu: %s is too long", idx, pname);
	if (r < 0)
		return mp_fail(c, "part %zu: malformed Content-Disposition", idx);
	if (bit == MP_SEEN_FILENAME_EXT)
		return mp_ext_filename(c, ext, part, idx);
	return 0;
}

/* Content-Disposition: form-data; name="..."[; filename="..."] */
static int mp_disposition(struct mp_ctx *c, const char *v, struct mp_part *part, size_t idx)
{
	char pname[16];
	unsigned seen = 0;
	size_t n = strcspn(v, "; \t");
	int more;

	if (n != 9 || strncasecmp(v, "form-data", 9) != 0)
		return mp_fail(c, "part %zu: Content-Disposition is not form-data", idx);
	v += n;
	while ((more = mp_param_name(&v, pname, sizeof(pname))) == 1)
		if (mp_disposition_param(c, pname, &v, part, idx, &seen) < 0)
			return -1;
	if (more < 0)
		return mp_fail(c, "part %zu: malformed Content-Disposition", idx);
	if (part->name[0] == '\0')
		return mp_fail(c, "part %zu: Content-Disposition has no name", idx);
	return 0;
}

/*
 * One logical header "Name: value" in h (hlen bytes, h has room for a NUL).
 * Headers other than the three below are ignored, as RFC 7578 asks.
 */
static int mp_header(struct mp_ctx *c, char *h, size_t hlen, struct mp_part *part, size_t idx,
                     unsigned *seen)
{
	char *colon, *v, *e;
	unsigned bit;

	h[hlen] = '\0';
	colon = strchr(h, ':');
	if (colon == NULL || colon == h || strcspn(h, " \t:") != (size_t)(colon - h))
		return mp_fail(c, "part %zu: malformed header line", idx);
	*colon = '\0';
	v = (char *)mp_skip_ws(colon + 1);
	for (e = h + hlen; e > v && mp_is_ws(e[-1]); e--)
		;
	*e = '\0';
	if (strcasecmp(h, "content-disposition") == 0)
		bit = MP_SEEN_DISPOSITION;
	else if (strcasecmp(h, "content-type") == 0)
		bit = MP_SEEN_TYPE;
	else if (strcasecmp(h, "content-transfer-encoding") == 0)
		bit = MP_SEEN_ENCODING;
	else
		return 0;
	if (*seen & bit)
		return mp_fail(c, "part %zu: duplicate %s header", idx, h);
	*seen |= bit;
	if (bit == MP_SEEN_DISPOSITION)
		return mp_disposition(c, v, part, idx);
	if (bit == MP_SEEN_TYPE) {
		if (strlen(v) >= sizeof(part->content_type))
			return mp_fail(c, "part %zu: Content-Type is too long", idx);
		strcpy(part->content_type, v);
		return 0;
	}
	/* Decoding base64 or quoted-printable is not worth it: no client sends them. */
	if (strcasecmp(v, "7bit") != 0 && strcasecmp(v, "8bit") != 0 &&
	    strcasecmp(v, "binary") != 0)
		return mp_fail(c, "part %zu: unsupported Content-Transfer-Encoding '%.32s'", idx,
		               v);
	return 0;
}

/* Header bytes are text: CTLs (NUL and bare CR included) mean a broken or hostile sender. */
static int mp_line_ok(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
			return -1;
	return 0;
}

/*
 * Parses the header block at the start of [start, end) and sets *data to
 * where the part's data begins: after the blank line, or at end when the
 * part holds headers only (RFC 2046 lets the delimiter's CRLF end the last
 * header line of a part without a body). A line that starts with SP or HT
 * continues the previous header (obsolete folding, cheap to honour).
 */
static int mp_headers(struct mp_ctx *c, size_t start, size_t end, struct mp_part *part, size_t idx,
                      size_t *data)
{
	const unsigned char *b = c->body, *nl;
	char hbuf[MP_HEADER_MAX + 1];
	size_t lim = end - start > MP_HEADER_MAX ? start + MP_HEADER_MAX : end;
	size_t pos, hlen = 0, llen, next;
	unsigned seen = 0;

	for (*data = end, pos = start; pos < end; pos = next) {
		nl = memchr(b + pos, '\n', lim - pos);
		if (nl == NULL && lim < end)
			return mp_fail(c, "part %zu: header block exceeds %d bytes", idx,
			               MP_HEADER_MAX);
		next = nl != NULL ? (size_t)(nl - b) + 1 : end;
		llen = (nl != NULL ? (size_t)(nl - b) : end) - pos;
		if (nl != NULL && llen > 0 && b[pos + llen - 1] == '\r')
			llen--;
		if (llen == 0) {
			*data = next;
			break;
		}
		if (mp_line_ok(b + pos, llen) < 0)
			return mp_fail(c, "part %zu: control character in a header", idx);
		if (mp_is_ws(b[pos])) {
			if (hlen == 0)
				return mp_fail(c, "part %zu: continuation line without a header",
				               idx);
			hbuf[hlen++] = ' ';
			for (; llen > 0 && mp_is_ws(b[pos]); llen--)
				pos++;
		} else if (hlen > 0) {
			if (mp_header(c, hbuf, hlen, part, idx, &seen) < 0)
				return -1;
			hlen = 0;
		}
		memcpy(hbuf + hlen, b + pos, llen);
		hlen += llen;
	}
	if (hlen > 0 && mp_header(c, hbuf, hlen, part, idx, &seen) < 0)
		return -1;
	if (!(seen & MP_SEEN_DISPOSITION))
		return mp_fail(c, "part %zu has no Content-Disposition header", idx);
	return 0;
}

int mp_parse(const unsigned char *body, size_t len, const char *boundary, struct mp_part *parts,
             size_t max_parts, size_t *nparts, char *err, size_t errlen)
{
	struct mp_ctx c = {.body = body, .len = len, .bnd = boundary, .err = err, .errlen = errlen};
	struct mp_delim d;
	size_t n = 0, start, data;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (nparts != NULL)
		*nparts = 0;
	if (boundary == NULL || nparts == NULL || (parts == NULL && max_parts > 0) ||
	    (body == NULL && len > 0))
		return mp_fail(&c, "invalid arguments");
	c.blen = strnlen(boundary, MP_BOUNDARY_MAX + 1);
	if (mp_boundary_ok(boundary, c.blen) < 0)
		return mp_fail(&c, "invalid boundary");
	if (mp_first_delim(&c, &d) < 0)
		return mp_fail(&c,
		               "no boundary delimiter in the body (wrong boundary or truncated)");
	while (!d.close) {
		start = d.next;
		if (n == max_parts)
			return mp_fail(&c, "too many parts (at most %zu)", max_parts);
		if (mp_next_delim(&c, start, &d) < 0)
			return mp_fail(&c, "truncated body: no closing boundary");
		memset(&parts[n], 0, sizeof(parts[n]));
		if (mp_headers(&c, start, d.data_end, &parts[n], n + 1, &data) < 0)
			return -1;
		parts[n].data = body + data;
		parts[n].len = d.data_end - data;
		n++;
	}
	*nparts = n;
	return 0;
}

const struct mp_part *mp_find(const struct mp_part *parts, size_t n, const char *name)
{
	if (parts == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(parts[i].name, name) == 0)
			return &parts[i];
	return NULL;
}
