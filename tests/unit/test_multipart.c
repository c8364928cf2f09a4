/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for fcgi/multipart.c: boundary extraction, framing, part
 * headers and their limits. Every body is copied into a buffer of exactly
 * its size so that AddressSanitizer catches any read past the end.
 */
#include "multipart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "unit.h"

#define BND   "XyZ"
#define CRLF  "\r\n"
#define CD(n) "Content-Disposition: form-data; name=\"" n "\"" CRLF

static struct mp_part parts[MP_MAX_PARTS + 4];
static size_t nparts;
static char err[256];
static unsigned char *cur; /* the exact-size copy being parsed */

/* Parses len bytes of s (copied to an exact-size heap buffer) with boundary b. */
static int parse_n(const char *s, size_t len, const char *b, size_t max)
{
	free(cur);
	cur = malloc(len ? len : 1);
	if (cur == NULL)
		abort();
	if (len > 0)
		memcpy(cur, s, len);
	err[0] = '\0';
	return mp_parse(cur, len, b, parts, max, &nparts, err, sizeof(err));
}

static int parse(const char *s)
{
	return parse_n(s, strlen(s), BND, MP_MAX_PARTS);
}

static int data_is(const struct mp_part *p, const char *s)
{
	return p != NULL && p->len == strlen(s) && memcmp(p->data, s, p->len) == 0;
}

static int err_has(const char *s)
{
	return strstr(err, s) != NULL;
}

/* A growable byte buffer for the bigger bodies. */
struct buf {
	char *p;
	size_t len, cap;
};

static void buf_add(struct buf *b, const void *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL)
			abort();
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_rep(struct buf *b, char ch, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_add(b, &ch, 1);
}

static void test_boundary(void)
{
	char out[MP_BOUNDARY_MAX + 1];
	char b70[128], ct[256];

	CHECK(mp_boundary("multipart/form-data; boundary=abc", out, sizeof(out)) == 0);
	CHECK(strcmp(out, "abc") == 0);
	CHECK(mp_boundary("multipart/form-data; boundary=\"a b:c\"", out, sizeof(out)) == 0);
	CHECK(strcmp(out, "a b:c") == 0);
	CHECK(mp_boundary("Multipart/Form-Data;BoUnDaRy=x", out, sizeof(out)) == 0);
	CHECK(strcmp(out, "x") == 0);
	CHECK(mp_boundary("  multipart/form-data ;  charset=utf-8 ; boundary = \"q\" ;", out,
	                  sizeof(out)) == 0);
	CHECK(strcmp(out, "q") == 0);
	CHECK(mp_boundary("multipart/form-data; boundary=------------------------d74496d66958873e",
	                  out, sizeof(out)) == 0);
	CHECK(strcmp(out, "------------------------d74496d66958873e") == 0);
	CHECK(mp_boundary("multipart/form-data; foo=\"x;boundary=y\"; boundary=z", out,
	                  sizeof(out)) == 0);
	CHECK(strcmp(out, "z") == 0);

	memset(b70, 'b', 70);
	b70[70] = '\0';
	snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%s", b70);
	CHECK(mp_boundary(ct, out, sizeof(out)) == 0 && strlen(out) == 70);
	CHECK(mp_boundary(ct, out, 70) == -1); /* no room for the NUL */
	snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%sb", b70);
	CHECK(mp_boundary(ct, out, sizeof(out)) == -1);

	CHECK(mp_boundary("multipart/form-data; boundary=\"\"", out, sizeof(out)) == -1);
	CHECK(mp_boundary("multipart/form-data; boundary=", out, sizeof(out)) == -1);
	CHECK(mp_boundary("multipart/form-data", out, sizeof(out)) == -1);
	CHECK(mp_boundary("multipart/form-data; charset=utf-8", out, sizeof(out)) == -1);
	CHECK(mp_boundary("multipart/mixed; boundary=abc", out, sizeof(out)) == -1);
	CHECK(mp_boundary("multipart/form-dataX; boundary=abc", out, sizeof(out)) == -1);
	CHECK(mp_boundary("text/plain; boundary=abc", out, sizeof(out)) == -1);
	CHECK(mp_boundary("multipart/form-data; boundary=a@b", out, sizeof(out)) == -1);
	CHECK(mp_boundary("multipart/form-data; boundary=\"abc \"", out, sizeof(out)) == -1);
	CHECK(mp_boundary("multipart/form-data; boundary=\"a\\\"b\"", out, sizeof(out)) == -1);
	CHECK(mp_boundary("multipart/form-data; boundary=\"abc", out, sizeof(out)) == -1);
	CHECK(mp_boundary("multipart/form-data; boundary=a; boundary=b", out, sizeof(out)) == -1);
	CHECK(mp_boundary("multipart/form-data; boundary=a junk", out, sizeof(out)) == -1);
	CHECK(mp_boundary("multipart/form-data; boundary", out, sizeof(out)) == -1);
	CHECK(mp_boundary("multipart/form-data; =a", out, sizeof(out)) == -1);
	CHECK(mp_boundary("", out, sizeof(out)) == -1);
	CHECK(mp_boundary(NULL, out, sizeof(out)) == -1);
	CHECK(mp_boundary("multipart/form-data; boundary=a", NULL, 10) == -1);
	CHECK(mp_boundary("multipart/form-data; boundary=a", out, 0) == -1);
	CHECK(mp_boundary("multipart/form-data; boundary=ab", out, 3) == 0 &&
	      strcmp(out, "ab") == 0);
}

static void test_basic(void)
{
	static const char body[] = "--" BND CRLF CD(
	    "spec") "Content-Type: application/json" CRLF CRLF "{\"name\":\"web\"}" CRLF "--" BND
	    CRLF "Content-Disposition: form-data; name=\"artifact\"; filename=\"app.tar.gz\"" CRLF
	            "Content-Type: application/gzip" CRLF CRLF "\x1f\x8b\x08" CRLF "--" BND
	            "--" CRLF;
	const struct mp_part *p;

	CHECK(parse(body) == 0);
	CHECK(nparts == 2);
	p = mp_find(parts, nparts, "spec");
	CHECK(p == &parts[0]);
	CHECK(data_is(p, "{\"name\":\"web\"}"));
	CHECK(strcmp(p->content_type, "application/json") == 0);
	CHECK(p->filename[0] == '\0');
	p = mp_find(parts, nparts, "artifact");
	CHECK(p == &parts[1]);
	CHECK(data_is(p, "\x1f\x8b\x08"));
	CHECK(strcmp(p->filename, "app.tar.gz") == 0);
	CHECK(strcmp(p->content_type, "application/gzip") == 0);
	CHECK(p->data >= cur && p->data + p->len <= cur + sizeof(body) - 1);
	CHECK(mp_find(parts, nparts, "missing") == NULL);
	CHECK(mp_find(parts, nparts, NULL) == NULL);
	CHECK(mp_find(NULL, 3, "spec") == NULL);
	CHECK(mp_find(parts, 0, "spec") == NULL);
	CHECK(err[0] == '\0');
	/* a NULL err buffer is allowed */
	CHECK(mp_parse(cur, sizeof(body) - 1, BND, parts, MP_MAX_PARTS, &nparts, NULL, 0) == 0);
	CHECK(mp_parse(cur, 10, BND, parts, MP_MAX_PARTS, &nparts, NULL, 0) == -1);
}

static void test_framing(void)
{
	static const char one[] = "--a\r\n" CD("x") "\r\nA-a\r\n--ab\r\n--a--";

	/* preamble, with a line that only looks like a delimiter */
	CHECK(parse("preamble" CRLF "--" BND "X" CRLF "more" CRLF "--" BND CRLF CD("a") CRLF
	            "1" CRLF "--" BND "--") == 0);
	CHECK(nparts == 1 && data_is(&parts[0], "1"));
	/* no CRLF after the close delimiter, and an epilogue */
	CHECK(parse("--" BND CRLF CD("a") CRLF "x" CRLF "--" BND "--") == 0 && nparts == 1);
	CHECK(parse("--" BND CRLF CD("a") CRLF "x" CRLF "--" BND "--" CRLF "epilogue --" BND CRLF
	                                       "junk") == 0 &&
	      nparts == 1 && data_is(&parts[0], "x"));
	/* transport padding after the boundary */
	CHECK(parse("--" BND " \t" CRLF CD("a") CRLF "x" CRLF "--" BND "\t " CRLF CD("b") CRLF
	            "y" CRLF "--" BND "--") == 0);
	CHECK(nparts == 2 && data_is(&parts[0], "x") && data_is(&parts[1], "y"));
	/* the boundary inside data, in every way that is not a delimiter line */
	CHECK(parse("--" BND CRLF CD("a") CRLF "--" BND "x" CRLF "--" BND "Q" CRLF
	                                       "a--" BND CRLF CRLF "--" BND "-x" CRLF "--" BND
	                                       " x" CRLF "--XyY" CRLF "--" BND "--") == 0);
	CHECK(nparts == 1 &&
	      data_is(&parts[0], "--" BND "x" CRLF "--" BND "Q" CRLF "a--" BND CRLF CRLF "--" BND
	                         "-x" CRLF "--" BND " x" CRLF "--XyY"));
	/* only the close delimiter: no parts, which the caller reports */
	CHECK(parse("--" BND "--" CRLF) == 0 && nparts == 0);
	CHECK(parse("preamble" CRLF "--" BND "--") == 0 && nparts == 0);
	/* empty part data */
	CHECK(parse("--" BND CRLF CD("a") CRLF CRLF "--" BND "--") == 0);
	CHECK(nparts == 1 && parts[0].len == 0 && parts[0].data != NULL);
	/* a part with headers only: the delimiter's CRLF ends the last header line */
	CHECK(parse("--" BND CRLF CD("a") "--" BND "--") == 0);
	CHECK(nparts == 1 && parts[0].len == 0 && strcmp(parts[0].name, "a") == 0);
	/* data that is just CRLFs */
	CHECK(parse("--" BND CRLF CD("a") CRLF CRLF CRLF "--" BND "--") == 0);
	CHECK(nparts == 1 && data_is(&parts[0], CRLF));
	/* a one-character boundary */
	CHECK(parse_n(one, strlen(one), "a", 4) == 0);
	CHECK(nparts == 1 && data_is(&parts[0], "A-a\r\n--ab"));
}

static void test_lf_only(void)
{
	CHECK(parse("--" BND "\n"
	            "Content-Disposition: form-data; name=\"a\"\n"
	            "Content-Type: text/plain\n\nline1\nline2\n--" BND "\n"
	            "Content-Disposition: form-data; name=\"b\"\n\n\n--" BND "--\n") == 0);
	CHECK(nparts == 2);
	CHECK(data_is(&parts[0], "line1\nline2"));
	CHECK(strcmp(parts[0].content_type, "text/plain") == 0);
	CHECK(parts[1].len == 0);
	/* mixed: CRLF headers, LF delimiter; only one CR before the LF belongs to the delimiter */
	CHECK(parse("--" BND CRLF CD("a") CRLF "x\r\r\n--" BND "\n" CD("b") "\n"
	                                                                    "y\n--" BND "--") == 0);
	CHECK(nparts == 2 && data_is(&parts[0], "x\r") && data_is(&parts[1], "y"));
	/* a bare-LF delimiter line counts even inside a CRLF body: the boundary must not occur */
	CHECK(parse("--" BND CRLF CD("a") CRLF "x\n--" BND CRLF CD("b") CRLF "y" CRLF "--" BND
	                                                                     "--") == 0);
	CHECK(nparts == 2 && data_is(&parts[0], "x") && data_is(&parts[1], "y"));
}

static void test_truncated(void)
{
	static const char body[] = "--" BND CRLF CD("spec") CRLF
	    "{}" CRLF "--" BND CRLF
	    "Content-Disposition: form-data; name=\"artifact\"; filename=\"a.tar\"" CRLF CRLF
	    "DATA" CRLF "--" BND "--" CRLF;
	size_t full = sizeof(body) - 1, close_end = full - 2;
	int bad = 0;

	/* every cut before the end of the close delimiter fails; after it, only epilogue is lost */
	for (size_t k = 0; k < full; k++) {
		int r = parse_n(body, k, BND, MP_MAX_PARTS);
		if (k < close_end && (r != -1 || nparts != 0))
			bad++;
		if (k >= close_end && (r != 0 || nparts != 2))
			bad++;
	}
	CHECK(bad == 0);
	CHECK(parse_n(body, full - 10, BND, MP_MAX_PARTS) == -1 && err_has("truncated"));
	CHECK(parse("--" BND CRLF CD("a") CRLF "x") == -1 && err_has("truncated"));
	CHECK(parse("--" BND CRLF CD("a") CRLF "x" CRLF "--" BND CRLF) == -1 &&
	      err_has("truncated"));
	CHECK(parse("--" BND CRLF CD("a") CRLF "x" CRLF "--" BND "-") == -1);
	CHECK(parse("--" BND) == -1);
	CHECK(parse("") == -1);
	CHECK(mp_parse(NULL, 0, BND, parts, MP_MAX_PARTS, &nparts, err, sizeof(err)) == -1);
	CHECK(parse("no delimiter at all" CRLF) == -1 && err_has("no boundary"));
	/* the wrong boundary is as good as none */
	CHECK(parse_n(body, full, "XyZZ", MP_MAX_PARTS) == -1);
	CHECK(parse_n(body, full, "Xy", MP_MAX_PARTS) == -1);
}

static void add_part(struct buf *b, int i)
{
	char s[128];

	snprintf(s, sizeof(s), "--" BND CRLF CD("f%d") CRLF "v%d" CRLF, i, i);
	buf_str(b, s);
}

static void test_part_count(void)
{
	struct buf b = {0};
	int i;

	for (i = 0; i < MP_MAX_PARTS; i++)
		add_part(&b, i);
	buf_str(&b, "--" BND "--" CRLF);
	CHECK(parse_n(b.p, b.len, BND, MP_MAX_PARTS) == 0 && nparts == MP_MAX_PARTS);
	CHECK(data_is(&parts[15], "v15") && strcmp(parts[15].name, "f15") == 0);
	CHECK(parse_n(b.p, b.len, BND, 2) == -1 && nparts == 0 && err_has("too many parts"));
	b.len = 0;
	for (i = 0; i < MP_MAX_PARTS + 1; i++)
		add_part(&b, i);
	buf_str(&b, "--" BND "--" CRLF);
	CHECK(parse_n(b.p, b.len, BND, MP_MAX_PARTS) == -1 && err_has("too many parts"));
	CHECK(nparts == 0);
	CHECK(parse_n(b.p, b.len, BND, 0) == -1);
	CHECK(mp_parse((const unsigned char *)"--" BND "--", 7, BND, NULL, 0, &nparts, err,
	               sizeof(err)) == 0 &&
	      nparts == 0);
	free(b.p);
}

/* A part whose header block, blank line included, is exactly size bytes. */
static void header_block(struct buf *b, size_t size)
{
	static const char head[] = "--" BND CRLF;
	static const char cd[] = CD("big") "X-Pad: ";
	size_t pad = size - (sizeof(cd) - 1) - 4;

	b->len = 0;
	buf_str(b, head);
	buf_str(b, cd);
	buf_rep(b, 'p', pad);
	buf_str(b, CRLF CRLF "data" CRLF "--" BND "--" CRLF);
}

static void test_headers_limit(void)
{
	struct buf b = {0};

	header_block(&b, MP_HEADER_MAX);
	CHECK(parse_n(b.p, b.len, BND, MP_MAX_PARTS) == 0 && nparts == 1 &&
	      data_is(&parts[0], "data"));
	header_block(&b, MP_HEADER_MAX + 1);
	CHECK(parse_n(b.p, b.len, BND, MP_MAX_PARTS) == -1 && err_has("header block exceeds"));
	header_block(&b, 1 << 20);
	CHECK(parse_n(b.p, b.len, BND, MP_MAX_PARTS) == -1 && err_has("header block exceeds"));
	/* many short header lines add up too */
	b.len = 0;
	buf_str(&b, "--" BND CRLF CD("a"));
	for (int i = 0; i < 1100; i++)
		buf_str(&b, "X-A: b" CRLF);
	buf_str(&b, CRLF "d" CRLF "--" BND "--");
	CHECK(parse_n(b.p, b.len, BND, MP_MAX_PARTS) == -1 && err_has("header block exceeds"));
	/* a huge part without any newline is not mistaken for headers */
	b.len = 0;
	buf_str(&b, "--" BND CRLF);
	buf_rep(&b, 'z', 100000);
	buf_str(&b, CRLF "--" BND "--");
	CHECK(parse_n(b.p, b.len, BND, MP_MAX_PARTS) == -1);
	free(b.p);
}

static void test_binary(void)
{
	struct buf b = {0};
	unsigned char bin[1024];

	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(i * 7 + (i >> 8));
	bin[0] = 0;
	bin[1] = '\r';
	bin[2] = '\n';
	bin[3] = '-';
	bin[sizeof(bin) - 1] = '\r'; /* data may end in CR: the CRLF before "--" is stripped once */
	buf_str(&b, "--" BND CRLF
	            "Content-Disposition: form-data; name=\"artifact\"; filename=\"x\"" CRLF
	            "Content-Type: application/octet-stream" CRLF CRLF);
	buf_add(&b, bin, sizeof(bin));
	buf_str(&b, CRLF "--" BND "--" CRLF);
	CHECK(parse_n(b.p, b.len, BND, MP_MAX_PARTS) == 0 && nparts == 1);
	CHECK(parts[0].len == sizeof(bin) && memcmp(parts[0].data, bin, sizeof(bin)) == 0);
	free(b.p);
}

static void test_disposition(void)
{
	/* escapes: \" and \\ only; other backslashes stay (Windows paths) */
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data; name=\"a\\\"b\"; "
	            "filename=\"C:\\dir\\f.txt\"" CRLF CRLF "x" CRLF "--" BND "--") == 0);
	CHECK(strcmp(parts[0].name, "a\"b") == 0 &&
	      strcmp(parts[0].filename, "C:\\dir\\f.txt") == 0);
	CHECK(parse("--" BND CRLF
	            "Content-Disposition: form-data; name=\"a\"; filename=\"x\\\\y\"" CRLF CRLF
	            "x" CRLF "--" BND "--") == 0);
	CHECK(strcmp(parts[0].filename, "x\\y") == 0);
	/* unquoted tokens, odd case and spacing, unknown parameters */
	CHECK(parse("--" BND CRLF
	            "content-disposition:FORM-DATA ;NAME=spec ; size=10;filename=a.json;" CRLF CRLF
	            "x" CRLF "--" BND "--") == 0);
	CHECK(strcmp(parts[0].name, "spec") == 0 && strcmp(parts[0].filename, "a.json") == 0);
	/* a name with ';' and '=' inside quotes */
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data; name=\"a;b=c\"" CRLF CRLF
	            "x" CRLF "--" BND "--") == 0 &&
	      strcmp(parts[0].name, "a;b=c") == 0);
	/* filename* (RFC 8187) wins over filename in either order */
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data; name=\"a\"; filename=\"plain\"; "
	            "filename*=UTF-8''%E2%82%ac%20rates.tar" CRLF CRLF "x" CRLF "--" BND
	            "--") == 0);
	CHECK(strcmp(parts[0].filename, "\xe2\x82\xac rates.tar") == 0);
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data; name=\"a\"; "
	            "filename*=utf-8'en'x.tar; filename=\"plain\"" CRLF CRLF "x" CRLF "--" BND
	            "--") == 0);
	CHECK(strcmp(parts[0].filename, "x.tar") == 0);
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data; name=\"a\"; "
	            "filename*=ISO-8859-1''x" CRLF CRLF "x" CRLF "--" BND "--") == -1 &&
	      err_has("UTF-8"));
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data; name=\"a\"; "
	            "filename*=UTF-8''%zz" CRLF CRLF "x" CRLF "--" BND "--") == -1);
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data; name=\"a\"; "
	            "filename*=UTF-8''%4" CRLF CRLF "x" CRLF "--" BND "--") == -1);
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data; name=\"a\"; "
	            "filename*=UTF-8''a%00b" CRLF CRLF "x" CRLF "--" BND "--") == -1);
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data; name=\"a\"; "
	            "filename*=UTF-8'x" CRLF CRLF "x" CRLF "--" BND "--") == -1);
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data; name=\"a\"; "
	            "filename*=UTF-8''a%0Ab" CRLF CRLF "x" CRLF "--" BND "--") == -1 &&
	      err_has("control character"));
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data; name=\"a\"; "
	            "filename*=UTF-8''a%7f" CRLF CRLF "x" CRLF "--" BND "--") == -1);
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data; name=\"a\"; "
	            "filename*=UTF-8''%C3%A9%e2%82%AC" CRLF CRLF "x" CRLF "--" BND "--") == 0 &&
	      strcmp(parts[0].filename, "\xc3\xa9\xe2\x82\xac") == 0);
	/* what must be refused */
	CHECK(parse("--" BND CRLF "Content-Type: text/plain" CRLF CRLF "x" CRLF "--" BND "--") ==
	          -1 &&
	      err_has("no Content-Disposition"));
	CHECK(parse("--" BND CRLF "Content-Disposition: attachment; name=\"a\"" CRLF CRLF "x" CRLF
	            "--" BND "--") == -1 &&
	      err_has("not form-data"));
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data" CRLF CRLF "x" CRLF "--" BND
	            "--") == -1 &&
	      err_has("no name"));
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data; name=\"\"" CRLF CRLF "x" CRLF
	            "--" BND "--") == -1);
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data; name=\"a\"; name=\"b\"" CRLF CRLF
	            "x" CRLF "--" BND "--") == -1 &&
	      err_has("duplicate"));
	CHECK(parse("--" BND CRLF CD("a") CD("b") CRLF "x" CRLF "--" BND "--") == -1 &&
	      err_has("duplicate"));
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data; name=\"a" CRLF CRLF "x" CRLF
	            "--" BND "--") == -1);
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data; name=\"a\"x" CRLF CRLF "x" CRLF
	            "--" BND "--") == -1);
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data; name" CRLF CRLF "x" CRLF "--" BND
	            "--") == -1);
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data name=\"a\"" CRLF CRLF "x" CRLF
	            "--" BND "--") == -1);
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data; =\"a\"" CRLF CRLF "x" CRLF
	            "--" BND "--") == -1);
}

static void test_lengths(void)
{
	struct buf b = {0};
	char s[600];

	/* name: 127 bytes fit, 128 do not */
	for (int n = 127; n <= 128; n++) {
		b.len = 0;
		buf_str(&b, "--" BND CRLF "Content-Disposition: form-data; name=\"");
		buf_rep(&b, 'n', (size_t)n);
		buf_str(&b, "\"" CRLF CRLF "x" CRLF "--" BND "--");
		CHECK(parse_n(b.p, b.len, BND, MP_MAX_PARTS) == (n == 127 ? 0 : -1));
		CHECK(n == 128 || strlen(parts[0].name) == 127);
	}
	/* filename: 255 fit, 256 do not; the same through filename* */
	for (int n = 255; n <= 256; n++) {
		b.len = 0;
		buf_str(&b, "--" BND CRLF CD("a"));
		b.len -= 2;
		buf_str(&b, "; filename=\"");
		buf_rep(&b, 'f', (size_t)n);
		buf_str(&b, "\"" CRLF CRLF "x" CRLF "--" BND "--");
		CHECK(parse_n(b.p, b.len, BND, MP_MAX_PARTS) == (n == 255 ? 0 : -1));
		b.len = 0;
		buf_str(&b, "--" BND CRLF CD("a"));
		b.len -= 2;
		buf_str(&b, "; filename*=UTF-8''");
		for (int i = 0; i < n; i++)
			buf_str(&b, "%41");
		buf_str(&b, CRLF CRLF "x" CRLF "--" BND "--");
		CHECK(parse_n(b.p, b.len, BND, MP_MAX_PARTS) == (n == 255 ? 0 : -1));
		CHECK(n == 256 ||
		      (strlen(parts[0].filename) == 255 && parts[0].filename[0] == 'A'));
	}
	/* content type: 127 fit, 128 do not */
	for (int n = 127; n <= 128; n++) {
		memset(s, 't', (size_t)n);
		s[n] = '\0';
		b.len = 0;
		buf_str(&b, "--" BND CRLF CD("a") "Content-Type: ");
		buf_str(&b, s);
		buf_str(&b, CRLF CRLF "x" CRLF "--" BND "--");
		CHECK(parse_n(b.p, b.len, BND, MP_MAX_PARTS) == (n == 127 ? 0 : -1));
	}
	free(b.p);
}

static void test_header_syntax(void)
{
	static const char nul[] =
	    "--" BND CRLF "Content-Disposition: form-data; name=\"a\0b\"" CRLF CRLF "d" CRLF
	    "--" BND "--";

	/* folded header (obsolete, honoured) */
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data;" CRLF "\t name=\"x\";" CRLF
	            " filename=\"f\"" CRLF CRLF "d" CRLF "--" BND "--") == 0);
	CHECK(strcmp(parts[0].name, "x") == 0 && strcmp(parts[0].filename, "f") == 0);
	CHECK(parse("--" BND CRLF " folded: first" CRLF CD("a") CRLF "d" CRLF "--" BND "--") == -1);
	/* unknown headers are ignored, known ones are case-insensitive */
	CHECK(parse("--" BND CRLF "X-Whatever: 1" CRLF CD(
	          "a") "CONTENT-TYPE:  text/x  " CRLF "Content-Transfer-Encoding: binary" CRLF CRLF
	               "d" CRLF "--" BND "--") == 0);
	CHECK(strcmp(parts[0].content_type, "text/x") == 0);
	CHECK(parse("--" BND CRLF CD("a") "Content-Transfer-Encoding: base64" CRLF CRLF "ZA==" CRLF
	                                  "--" BND "--") == -1 &&
	      err_has("Content-Transfer-Encoding"));
	CHECK(parse("--" BND CRLF CD("a") "Content-Type: a" CRLF "Content-Type: b" CRLF CRLF
	                                  "d" CRLF "--" BND "--") == -1);
	CHECK(parse("--" BND CRLF CD("a") "no colon here" CRLF CRLF "d" CRLF "--" BND "--") == -1 &&
	      err_has("malformed header"));
	CHECK(parse("--" BND CRLF CD("a") ": empty name" CRLF CRLF "d" CRLF "--" BND "--") == -1);
	CHECK(parse("--" BND CRLF "Content-Disposition : form-data; name=\"a\"" CRLF CRLF "d" CRLF
	            "--" BND "--") == -1);
	/* control bytes in a header: NUL, bare CR, DEL */
	CHECK(parse_n(nul, sizeof(nul) - 1, BND, MP_MAX_PARTS) == -1 &&
	      err_has("control character"));
	CHECK(parse("--" BND CRLF CD("a") "X: a\rb" CRLF CRLF "d" CRLF "--" BND "--") == -1);
	CHECK(parse("--" BND CRLF CD("a") "X: a\x7f" CRLF CRLF "d" CRLF "--" BND "--") == -1);
	/* non-ASCII bytes in a name are kept (UTF-8 field names) */
	CHECK(parse("--" BND CRLF "Content-Disposition: form-data; name=\"\xc3\xa9\"" CRLF CRLF
	            "d" CRLF "--" BND "--") == 0 &&
	      strcmp(parts[0].name, "\xc3\xa9") == 0);
	/* duplicate field names are kept; mp_find gives the first */
	CHECK(parse("--" BND CRLF CD("a") CRLF "1" CRLF "--" BND CRLF CD("a") CRLF "2" CRLF "--" BND
	                                                                           "--") == 0);
	CHECK(nparts == 2 && mp_find(parts, nparts, "a") == &parts[0]);
	/* an error in a later part fails the whole body */
	CHECK(parse("--" BND CRLF CD("a") CRLF "1" CRLF "--" BND CRLF CRLF "2" CRLF "--" BND
	                                       "--") == -1 &&
	      nparts == 0 && err_has("part 2"));
}

static void test_bad_args(void)
{
	char b71[72];

	memset(b71, 'b', 71);
	b71[71] = '\0';
	CHECK(parse_n("--" BND "--", 7, "", MP_MAX_PARTS) == -1 && err_has("boundary"));
	CHECK(parse_n("--" BND "--", 7, b71, MP_MAX_PARTS) == -1);
	CHECK(parse_n("--a\nb--", 7, "a\nb", MP_MAX_PARTS) == -1);
	CHECK(parse_n("--" BND "--", 7, NULL, MP_MAX_PARTS) == -1);
	CHECK(mp_parse((const unsigned char *)"x", 1, BND, parts, 1, NULL, err, sizeof(err)) == -1);
	CHECK(mp_parse(NULL, 5, BND, parts, 1, &nparts, err, sizeof(err)) == -1);
}

/* Near-miss delimiters everywhere: the scan must stay linear. */
static void test_linear(void)
{
	char bnd[MP_BOUNDARY_MAX + 1];
	struct buf b = {0};
	clock_t t0;
	double secs;

	memset(bnd, 'a', MP_BOUNDARY_MAX);
	bnd[MP_BOUNDARY_MAX] = '\0';
	buf_str(&b, "--");
	buf_str(&b, bnd);
	buf_str(&b, CRLF CD("a") CRLF);
	while (b.len < (8u << 20)) {
		buf_str(&b, "\r\n--");
		buf_add(&b, bnd, MP_BOUNDARY_MAX - 1);
		buf_str(&b, "b");
	}
	buf_str(&b, CRLF "--");
	buf_str(&b, bnd);
	buf_str(&b, "--");
	t0 = clock();
	CHECK(parse_n(b.p, b.len, bnd, MP_MAX_PARTS) == 0 && nparts == 1);
	secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	CHECK(secs < 2.0);
	/* 8 MiB of newlines and padding after a delimiter-like prefix */
	b.len = 0;
	buf_str(&b, "--" BND CRLF CD("a") CRLF);
	while (b.len < (8u << 20))
		buf_str(&b, "\n--" BND "          x");
	buf_str(&b, CRLF "--" BND "--");
	t0 = clock();
	CHECK(parse_n(b.p, b.len, BND, MP_MAX_PARTS) == 0 && nparts == 1);
	secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	CHECK(secs < 2.0);
	free(b.p);
}

int main(void)
{
	test_boundary();
	test_basic();
	test_framing();
	test_lf_only();
	test_truncated();
	test_part_count();
	test_headers_limit();
	test_binary();
	test_disposition();
	test_lengths();
	test_header_syntax();
	test_bad_args();
	test_linear();
	free(cur);
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
