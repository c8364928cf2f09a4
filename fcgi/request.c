/* SPDX-License-Identifier: MIT */
/*
 * Reading one request: params, query string and body. libfcgi ignores
 * CONTENT_LENGTH and reports a cut-off upload only as a short read with
 * FCGX_GetError(in) != 0, so a body is accepted only when both agree
 * (docs/platform-notes.md, libfcgi). A body nginx wrote to a file (BODY_FILE) is used in place
 * and unlinked when the request ends.
 */
#include "request.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "config.h"
#include "envelope.h"
#include "log.h"
#include "util.h"

#define CHUNK 65536

const char *req_param(const struct request *r, const char *name)
{
	if (r->fx == NULL)
		return NULL;
	return FCGX_GetParam(name, r->fx->envp);
}

static const char *nonempty(const char *s)
{
	return (s != NULL && *s != '\0') ? s : NULL;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

int url_decode(char *s, bool plus_space)
{
	char *w = s;

	for (const char *p = s; *p; p++) {
		if (*p == '%') {
			int hi = hexval((unsigned char)p[1]),
			    lo = hi < 0 ? -1 : hexval((unsigned char)p[2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			*w++ = (char)(hi << 4 | lo);
			p += 2;
		} else {
			*w++ = (plus_space && *p == '+') ? ' ' : *p;
		}
	}
	*w = '\0';
	return 0;
}

int req_query_parse(struct request *r, const char *qs)
{
	char *save = NULL, *tok;

	free(r->query_buf);
	r->query_buf = NULL;
	r->n_query = 0;
	if (qs == NULL || *qs == '\0')
		return 0;
	r->query_buf = strdup(qs);
	if (r->query_buf == NULL)
		return -1;
	for (tok = strtok_r(r->query_buf, "&", &save); tok; tok = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(tok, '=');
		if (r->n_query == REQ_MAX_QUERY)
			return -1;
		if (eq != NULL)
			*eq++ = '\0';
		if (url_decode(tok, true) < 0 || (eq != NULL && url_decode(eq, true) < 0))
			return -1;
		r->query[r->n_query].key = tok;
		r->query[r->n_query++].value = eq ? eq : "";
	}
	return 0;
}

const char *req_query(const struct request *r, const char *key)
{
	for (size_t i = 0; i < r->n_query; i++)
		if (strcmp(r->query[i].key, key) == 0)
			return r->query[i].value;
	return NULL;
}

const char *req_path_param(const struct request *r, size_t i)
{
	return i < r->n_params ? r->params[i] : "";
}

/* DOCUMENT_URI is what nginx matched (decoded, normalized); REQUEST_URI is the fallback. */
static int init_path(struct request *r)
{
	const char *p = nonempty(req_param(r, "DOCUMENT_URI")), *q;

	if (p != NULL) {
		r->path = p;
		return 0;
	}
	p = nonempty(req_param(r, "REQUEST_URI"));
	if (p == NULL)
		p = "/";
	q = strchrnul(p, '?');
	r->path_buf = strndup(p, (size_t)(q - p));
	if (r->path_buf == NULL || url_decode(r->path_buf, false) < 0)
		return -1;
	r->path = r->path_buf;
	return 0;
}

static void init_headers(struct request *r)
{
	const char *v;
	char *end;

	r->authorization = nonempty(req_param(r, "HTTP_AUTHORIZATION"));
	r->idem_key = nonempty(req_param(r, "HTTP_IDEMPOTENCY_KEY"));
	r->content_type = nonempty(req_param(r, "CONTENT_TYPE"));
	r->last_event_id = nonempty(req_param(r, "HTTP_LAST_EVENT_ID"));
	r->body_file = nonempty(req_param(r, "BODY_FILE"));
	r->auth_only = nonempty(req_param(r, "HOSTAGENT_AUTH_ONLY")) != NULL;
	r->content_length = -1;
	v = nonempty(req_param(r, "CONTENT_LENGTH"));
	if (v != NULL) {
		errno = 0;
		long long n = strtoll(v, &end, 10);
		r->content_length = (errno || *end || n < 0) ? -2 : n;
	}
	v = nonempty(req_param(r, "REQUEST_ID"));
	if (v == NULL || util_fmt(r->request_id, sizeof(r->request_id), "%s", v) < 0) {
		unsigned char b[16];
		/* without nginx (cgi-fcgi, tests) there is no $request_id: make one */
		if (util_random(b, sizeof(b)) == 0)
			util_hex(b, sizeof(b), r->request_id);
	}
	/* only an absolute path is ever unlinked: it is nginx's temp file */
	if (r->body_file != NULL && r->body_file[0] == '/')
		util_fmt(r->body_path, sizeof(r->body_path), "%s", r->body_file);
}

int req_init(struct request *r, FCGX_Request *fx, const struct config *cfg, struct store *st,
             struct response *resp)
{
	const char *m;

	memset(r, 0, sizeof(*r));
	r->fx = fx;
	r->cfg = cfg;
	r->store = st;
	r->body_fd = -1;
	r->start_mono = util_mono_ms();
	m = nonempty(req_param(r, "REQUEST_METHOD"));
	snprintf(r->method, sizeof(r->method), "%s", m ? m : "GET");
	init_headers(r);
	if (init_path(r) < 0) {
		resp_error(resp, 400, "bad_request", "malformed request path");
		return -1;
	}
	if (req_query_parse(r, req_param(r, "QUERY_STRING")) < 0) {
		resp_error(resp, 400, "bad_request",
		           "malformed query string (bad %%-escape, NUL byte or more than %d "
		           "parameters)",
		           REQ_MAX_QUERY);
		return -1;
	}
	if (r->content_length == -2) {
		resp_error(resp, 400, "bad_request", "malformed Content-Length");
		return -1;
	}
	return 0;
}

void req_clear(struct request *r)
{
	if (r->body != NULL) {
		if (r->body_mapped)
			munmap(r->body, r->body_len);
		else
			free(r->body);
	}
	if (r->body_fd >= 0)
		close(r->body_fd);
	if (r->body_path[0] != '\0' && unlink(r->body_path) < 0 && errno != ENOENT)
		log_warn("cannot remove body file %s: %s", r->body_path, strerror(errno));
	json_object_put(r->json);
	free(r->query_buf);
	free(r->path_buf);
	memset(r, 0, sizeof(*r));
	r->body_fd = -1;
}

int req_content_type_is(const char *ct, const char *type)
{
	size_t n = strlen(type);

	if (ct == NULL)
		return 0;
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, type, n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ')
		ct++;
	return *ct == '\0' || *ct == ';';
}

int req_json_parse(const char *text, size_t len, struct json_object **out, char *err, size_t errlen)
{
	struct json_tokener *tok = json_tokener_new();
	enum json_tokener_error jerr;
	struct json_object *o;

	*out = NULL;
	if (tok == NULL || len > INT32_MAX) {
		snprintf(err, errlen, "out of memory");
		json_tokener_free(tok);
		return -1;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_success && json_tokener_get_parse_end(tok) < len) {
		/* trailing whitespace is fine, a second value is not */
		size_t i = json_tokener_get_parse_end(tok);
		while (i < len && isspace((unsigned char)text[i]))
			i++;
		if (i < len) {
			snprintf(err, errlen, "trailing data after the JSON value at offset %zu",
			         i);
			goto fail;
		}
	} else if (jerr == json_tokener_continue) {
		snprintf(err, errlen, "unexpected end of input");
		goto fail;
	} else if (jerr != json_tokener_success) {
		snprintf(err, errlen, "%s at offset %zu", json_tokener_error_desc(jerr),
		         json_tokener_get_parse_end(tok));
		goto fail;
	}
	json_tokener_free(tok);
	*out = o;
	return 0;
fail:
	json_object_put(o);
	json_tokener_free(tok);
	return -1;
}

/* nginx's body file: a regular file (never followed through a symlink). */
static int body_open_file(struct request *r, struct response *resp, uint64_t max)
{
	struct stat st;
	int fd = open(r->body_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		resp_error(resp, 500, "internal", "cannot open the request body file: %s",
		           fd < 0 ? strerror(errno) : "not a regular file");
		goto fail;
	}
	if ((uint64_t)st.st_size > max) {
		resp_error(resp, 413, "payload_too_large", "body is %lld bytes, the limit is %llu",
		           (long long)st.st_size, (unsigned long long)max);
		goto fail;
	}
	if (r->content_length >= 0 && st.st_size != r->content_length) {
		resp_error(resp, 400, "bad_request", "upload cut off: %lld of %lld bytes received",
		           (long long)st.st_size, (long long)r->content_length);
		goto fail;
	}
	r->body_fd = fd;
	r->body_size = (uint64_t)st.st_size;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Creates <data>/tmp/upload/body-<random> for a body that came on stdin. */
static int body_create_spool(struct request *r, struct response *resp)
{
	unsigned char b[8];
	char hex[17];

	if (util_random(b, sizeof(b)) < 0)
		goto fail;
	util_hex(b, sizeof(b), hex);
	if (util_fmt(r->body_path, sizeof(r->body_path), "%s/tmp/upload/body-%s", r->cfg->data_dir,
	             hex) < 0)
		goto fail;
	r->body_fd = open(r->body_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (r->body_fd >= 0)
		return 0;
fail:
	resp_error(resp, 500, "internal", "cannot create an upload file in %s/tmp/upload: %s",
	           r->cfg->data_dir, strerror(errno));
	r->body_path[0] = '\0';
	return -1;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Copies exactly CONTENT_LENGTH bytes of stdin to the spool file; a short
 * read or a stream error is a client that went away mid-upload (400).
 */
static int body_spool(struct request *r, struct response *resp, uint64_t max)
{
	static char buf[CHUNK];
	uint64_t total = 0, want = (uint64_t)r->content_length;
	int n;

	if (r->content_length < 0) {
		resp_error(resp, 400, "bad_request", "Content-Length is required for this upload");
		return -1;
	}
	if (want > max) {
		resp_error(resp, 413, "payload_too_large", "body is %llu bytes, the limit is %llu",
		           (unsigned long long)want, (unsigned long long)max);
		return -1;
	}
	if (body_create_spool(r, resp) < 0)
		return -1;
	while (total < want) {
		n = FCGX_GetStr(buf, (int)(want - total < CHUNK ? want - total : CHUNK), r->fx->in);
		if (n <= 0)
			break;
		if (write_all(r->body_fd, buf, (size_t)n) < 0) {
			resp_error(resp, 500, "internal", "cannot write the upload: %s",
			           strerror(errno));
			return -1;
		}
		total += (uint64_t)n;
	}
	if (FCGX_GetError(r->fx->in) != 0 || total != want) {
		resp_error(resp, 400, "bad_request", "upload cut off: %llu of %llu bytes received",
		           (unsigned long long)total, (unsigned long long)want);
		return -1;
	}
	r->body_size = total;
	return lseek(r->body_fd, 0, SEEK_SET) < 0 ? -1 : 0;
}

/* The body as a file: nginx's, or stdin spooled to one. */
static int body_to_file(struct request *r, struct response *resp)
{
	uint64_t max = r->cfg->upload_max_bytes;

	if (r->content_length > 0 && (uint64_t)r->content_length > max) {
		resp_error(resp, 413, "payload_too_large", "body is %lld bytes, the limit is %llu",
		           (long long)r->content_length, (unsigned long long)max);
		return -1;
	}
	if (r->body_file != NULL)
		return body_open_file(r, resp, max);
	if (r->fx == NULL) {
		resp_error(resp, 400, "bad_request", "no request body");
		return -1;
	}
	return body_spool(r, resp, max);
}

/* A multipart body is parsed in place: map the whole file. */
static int body_map(struct request *r, struct response *resp)
{
	void *p;

	if (r->body_size == 0) {
		resp_error(resp, 400, "bad_request", "empty multipart body");
		return -1;
	}
	p = mmap(NULL, r->body_size, PROT_READ, MAP_PRIVATE, r->body_fd, 0);
	if (p == MAP_FAILED) {
		resp_error(resp, 500, "internal", "cannot map the request body: %s",
		           strerror(errno));
		return -1;
	}
	r->body = p;
	r->body_len = r->body_size;
	r->body_mapped = true;
	return 0;
}

/* Reads a JSON body (at most json_max_bytes) into memory. */
static int body_read_mem(struct request *r, struct response *resp)
{
	uint64_t max = r->cfg->json_max_bytes;
	size_t len = 0;
	int n;

	if (r->body_file != NULL) {
		if (util_read_file(r->body_file, max, (char **)&r->body, &len) < 0)
			goto fail_file;
		r->body_len = len;
		return 0;
	}
	if (r->content_length <= 0 || r->fx == NULL)
		return 0;
	if ((uint64_t)r->content_length > max)
		goto too_large;
	r->body = malloc((size_t)r->content_length + 1);
	if (r->body == NULL) {
		resp_error(resp, 500, "internal", "out of memory");
		return -1;
	}
	while (len < (size_t)r->content_length) {
		n = FCGX_GetStr((char *)r->body + len, (int)((size_t)r->content_length - len),
		                r->fx->in);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	r->body[len] = '\0';
	r->body_len = len;
	if (FCGX_GetError(r->fx->in) != 0 || len != (size_t)r->content_length) {
		resp_error(resp, 400, "bad_request", "body cut off: %zu of %lld bytes received",
		           len, (long long)r->content_length);
		return -1;
	}
	return 0;
fail_file:
	if (errno != EFBIG) {
		resp_error(resp, 500, "internal", "cannot read the request body: %s",
		           strerror(errno));
		return -1;
	}
too_large:
	resp_error(resp, 413, "payload_too_large", "JSON bodies are limited to %llu bytes",
	           (unsigned long long)max);
	return -1;
}

static int body_json(struct request *r, struct response *resp)
{
	char err[256];
	size_t i = 0;

	if (r->content_type != NULL && !req_content_type_is(r->content_type, "application/json")) {
		resp_error(resp, 415, "unsupported_media_type",
		           "Content-Type must be application/json%s (got '%.100s')",
		           (r->route->flags & RF_MULTIPART) ? " or multipart/form-data" : "",
		           r->content_type);
		return -1;
	}
	if (body_read_mem(r, resp) < 0)
		return -1;
	while (i < r->body_len && isspace(r->body[i]))
		i++;
	if (i == r->body_len)
		return 0; /* empty: handlers decide whether they need a body */
	if (req_json_parse((const char *)r->body, r->body_len, &r->json, err, sizeof(err)) < 0) {
		resp_error(resp, 400, "bad_request", "malformed JSON: %s", err);
		return -1;
	}
	return 0;
}

static int hash_fd(int fd, char out[65])
{
	static unsigned char buf[CHUNK];
	unsigned char md[32];
	unsigned int mdlen = sizeof(md);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	ssize_t n;
	int rc = -1;

	if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		goto done;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || !EVP_DigestUpdate(ctx, buf, (size_t)n))
			goto done;
	}
	if (!EVP_DigestFinal_ex(ctx, md, &mdlen) || lseek(fd, 0, SEEK_SET) < 0)
		goto done;
	util_hex(md, 32, out);
	rc = 0;
done:
	EVP_MD_CTX_free(ctx);
	return rc;
}

int req_body_load(struct request *r, struct response *resp, bool hash)
{
	unsigned flags = r->route != NULL ? r->route->flags : 0;
	int rc = 0;

	if (flags & RF_RAW) {
		rc = body_to_file(r, resp);
	} else if ((flags & RF_MULTIPART) &&
	           req_content_type_is(r->content_type, "multipart/form-data")) {
		rc = body_to_file(r, resp);
		if (rc == 0)
			rc = body_map(r, resp);
	} else if (flags & RF_JSON) {
		rc = body_json(r, resp);
	}
	if (rc < 0 || !hash)
		return rc;
	if (r->body_fd >= 0 && !r->body_mapped) {
		if (hash_fd(r->body_fd, r->body_sha256) < 0) {
			resp_error(resp, 500, "internal", "cannot hash the request body: %s",
			           strerror(errno));
			return -1;
		}
	} else {
		util_sha256_hex(r->body ? (const void *)r->body : "", r->body_len, r->body_sha256);
	}
	return 0;
}
