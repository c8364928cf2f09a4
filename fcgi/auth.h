/* SPDX-License-Identifier: MIT */
/*
 * Bearer token authentication and scope checks for one request, and the
 * Idempotency-Key look-up that needs the token's identity.
 */
#ifndef HOSTAGENT_AUTH_H
#define HOSTAGENT_AUTH_H

struct request;
struct response;

/*
 * Authenticates req for req->route's scope (SCOPE_NONE: nothing to do;
 * RF_METRICS: read scope only when metrics_auth). Fills req->token,
 * req->scopes and req->authed. 0 allowed, -1 with resp filled: 401
 * unauthorized with WWW-Authenticate, 403 forbidden naming the scope, 503
 * when the database is unavailable.
 */
int auth_check(struct request *req, struct response *resp);

/*
 * Refreshes the token's last_used_at when auth_check found it due and no
 * transaction is open on req->store (auth_check itself does when none was);
 * otherwise it stays due for a later call. The worker calls it once the
 * request's read snapshot has ended, so that the snapshot stays read-only.
 */
void auth_touch(struct request *req);

/*
 * Idempotency-Key before the handler runs: 0 go on (no key, or first use);
 * 1 resp holds the replayed first response; -1 resp holds an error (400
 * for a bad key, 409 when the key was used with another body or path).
 * Needs req->body_sha256.
 */
int auth_idempotency(struct request *req, struct response *resp);

#endif
