/* SPDX-License-Identifier: MIT */
/*
 * Authorization: "Bearer hat_..." → shape check → SHA-256 → active token
 * row → scopes (admin ⊃ operate ⊃ read). Only the hash ever reaches the
 * database. Also the Idempotency-Key pre-check, which is keyed by token.
 */
#include "auth.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "envelope.h"
#include "log.h"
#include "request.h"
#include "store_idem.h"
#include "token.h"

#define IDEM_KEY_MAX 255

static const char *scope_name(enum token_scope s)
{
	switch (s) {
	case SCOPE_READ:
		return "read";
	case SCOPE_OPERATE:
		return "operate";
	case SCOPE_ADMIN:
		return "admin";
	default:
		return "none";
	}
}

static int unauthorized(struct response *resp, const char *why)
{
	resp_error(resp, 401, "unauthorized", "%s", why);
	resp_header(resp, "WWW-Authenticate", "Bearer realm=\"hostagent\"");
	return -1;
}

int auth_check(struct request *req, struct response *resp)
{
	enum token_scope need = req->route->scope;
	const char *tok;
	char hash[65], canon[64];
	int rc;

	if (req->route->flags & RF_METRICS)
		need = req->cfg->metrics_auth ? SCOPE_READ : SCOPE_NONE;
	if (need == SCOPE_NONE)
		return 0;
	if (req->authorization == NULL)
		return unauthorized(resp, "missing Authorization: Bearer <token>");
	tok = token_from_header(req->authorization);
	if (tok == NULL || !token_well_formed(tok))
		return unauthorized(resp, "malformed bearer token");
	if (req->store == NULL) {
		resp_error(resp, 503, "unavailable",
		           "database unavailable: cannot check the token");
		return -1;
	}
	token_hash(tok, hash);
	rc = store_token_find(req->store, hash, &req->token);
	if (rc < 0) {
		resp_error(resp, 500, "internal", "token look-up failed");
		return -1;
	}
	if (rc == 0)
		return unauthorized(resp, "invalid, revoked or expired token");
	if (token_scopes_parse(req->token.scopes, &req->scopes, canon, sizeof(canon)) < 0)
		req->scopes = 0;
	req->authed = true;
	/* inside the route's read snapshot the write waits for its COMMIT */
	req->touch_due = store_token_touch_due(&req->token);
	if (!store_in_transaction(req->store))
		auth_touch(req);
	if (!token_scope_allows(req->scopes, need)) {
		resp_error(resp, 403, "forbidden", "this token lacks the '%s' scope (it has: %s)",
		           scope_name(need), req->token.scopes);
		return -1;
	}
	return 0;
}

void auth_touch(struct request *req)
{
	if (!req->touch_due || req->store == NULL || store_in_transaction(req->store))
		return;
	req->touch_due = false;
	/* a failed touch only loses a last_used_at update: never fail the request */
	if (store_token_touch(req->store, &req->token) < 0)
		log_warn("token %s: cannot record its use: %s", req->token.id,
		         store_errmsg(req->store));
}

int auth_idempotency(struct request *req, struct response *resp)
{
	struct store_idem row;
	int rc;

	if (req->idem_key == NULL || !(req->route->flags & RF_IDEMPOTENT) || !req->authed)
		return 0;
	if (strlen(req->idem_key) > IDEM_KEY_MAX) {
		resp_error(resp, 400, "bad_request", "Idempotency-Key is longer than %d characters",
		           IDEM_KEY_MAX);
		return -1;
	}
	rc = store_idem_get(req->store, req->token.id, req->idem_key, &row);
	if (rc < 0) {
		resp_error(resp, 500, "internal", "idempotency look-up failed");
		return -1;
	}
	if (rc == 0)
		return 0;
	if (strcmp(row.method, req->method) != 0 || strcmp(row.path, req->path) != 0) {
		resp_error(resp, 409, "conflict", "Idempotency-Key was already used for %s %s",
		           row.method, row.path);
		rc = -1;
	} else if (strcmp(row.body_sha256, req->body_sha256) != 0) {
		resp_error(resp, 409, "conflict",
		           "Idempotency-Key was already used with a different request body");
		rc = -1;
	} else if (resp_from_stored(resp, row.status, row.response) < 0) {
		resp_error(resp, 500, "internal", "stored idempotent response is unreadable");
		rc = -1;
	} else {
		resp_header(resp, "Idempotent-Replayed", "true");
		rc = 1;
	}
	store_idem_clear(&row);
	return rc;
}
