/* SPDX-License-Identifier: MIT */
/*
 * The worker's sequence for an authenticated read, on a real database file:
 * read snapshot → auth_check → another connection commits → COMMIT →
 * auth_touch. auth_check must not write inside the snapshot (the other
 * writer would wait for our write lock, and our upgrade would fail with
 * SQLITE_BUSY_SNAPSHOT); last_used_at must be refreshed after it.
 */
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "envelope.h"
#include "request.h"
#include "routes.h"
#include "store.h"
#include "token.h"
#include "util.h"

#include "unit.h"

static char dir[] = "/tmp/hostagent-auth-XXXXXX";
static char db[256];

static const struct route *find_route(const char *method, const char *path)
{
	char params[ROUTE_MAX_PARAMS][ROUTE_PARAM_LEN], allow[128];
	const struct route *rt = NULL;
	size_t np = 0;

	if (route_match(route_table, route_table_len, method, path, &rt, params, &np, allow,
	                sizeof(allow)) != ROUTE_FOUND)
		return NULL;
	return rt;
}

static void test_touch_after_snapshot(struct store *a, struct store *b)
{
	static struct config cfg;
	char tok[TOKEN_LEN], id[TOKEN_ID_LEN], id2[TOKEN_ID_LEN], hash[65], hdr[80];
	struct store_token seen;
	struct request req;
	struct response resp;
	int64_t before = util_now_ms();

	CHECK(token_generate(tok, id) == 0);
	token_hash(tok, hash);
	CHECK(store_token_insert(b, id, "reader", hash, "read") == 0);
	snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
	memset(&req, 0, sizeof(req));
	resp_init(&resp);
	req.cfg = &cfg;
	req.store = a;
	req.authorization = hdr;
	req.route = find_route("GET", "/api/v1/artifacts");
	CHECK(req.route != NULL && (req.route->flags & RF_SNAPSHOT));
	if (req.route == NULL)
		return;

	CHECK(store_begin_read(a) == 0);
	CHECK(auth_check(&req, &resp) == 0 && req.authed);
	CHECK(req.touch_due);
	CHECK(store_in_transaction(a));
	/* a writer elsewhere is not blocked by the authenticated read */
	CHECK(store_begin(b) == 0);
	CHECK(token_generate(tok, id2) == 0);
	CHECK(store_token_insert(b, id2, "other", "x", "read") == 0);
	CHECK(store_commit(b) == 0);
	/* nothing written yet: the row as b sees it still has no use */
	CHECK(store_token_find(b, hash, &seen) == 1 && seen.last_used_at == 0);
	/* still inside the snapshot: the touch stays due */
	auth_touch(&req);
	CHECK(req.touch_due);
	CHECK(store_commit(a) == 0);
	auth_touch(&req);
	CHECK(!req.touch_due);
	CHECK(store_token_find(b, hash, &seen) == 1 && seen.last_used_at >= before);
	resp_clear(&resp);
}

/* Outside any transaction (write routes) the touch is done at once. */
static void test_touch_without_snapshot(struct store *a, struct store *b)
{
	static struct config cfg;
	char tok[TOKEN_LEN], id[TOKEN_ID_LEN], hash[65], hdr[80];
	struct store_token seen;
	struct request req;
	struct response resp;

	CHECK(token_generate(tok, id) == 0);
	token_hash(tok, hash);
	CHECK(store_token_insert(b, id, "writer", hash, "operate") == 0);
	snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
	memset(&req, 0, sizeof(req));
	resp_init(&resp);
	req.cfg = &cfg;
	req.store = a;
	req.authorization = hdr;
	req.route = find_route("POST", "/api/v1/projects/web/start");
	CHECK(req.route != NULL);
	if (req.route == NULL)
		return;
	CHECK(auth_check(&req, &resp) == 0 && !req.touch_due);
	CHECK(store_token_find(b, hash, &seen) == 1 && seen.last_used_at > 0);
	resp_clear(&resp);
}

int main(void)
{
	struct store *a = NULL, *b = NULL;
	char err[256];

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(db, sizeof(db), "%s/t.db", dir);
	if (store_open(db, &a, err, sizeof(err)) < 0 || store_open(db, &b, err, sizeof(err)) < 0) {
		fprintf(stderr, "store_open: %s\n", err);
		return 1;
	}
	test_touch_after_snapshot(a, b);
	test_touch_without_snapshot(a, b);
	store_close(a);
	store_close(b);
	for (const char *f = "t.db\0t.db-wal\0t.db-shm\0"; *f; f += strlen(f) + 1) {
		snprintf(db, sizeof(db), "%s/%s", dir, f);
		unlink(db);
	}
	rmdir(dir);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
