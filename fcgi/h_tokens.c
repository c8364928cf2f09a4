/* SPDX-License-Identifier: MIT */
/*
 * /api/v1/tokens: list, create (the token is shown once), get, revoke.
 * The plain token exists only in the 201 answer: neither the tokens table
 * nor the Idempotency-Key row ever holds it.
 */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "json_out.h"
#include "token.h"
#include "util.h"

#define TOKEN_NAME_MAX 128

int h_tokens_list(struct request *req, struct response *resp)
{
	struct store_token *arr;
	int64_t total;
	int limit, offset;
	size_t n;

	if (h_need_store(req, resp) < 0 || h_paging(req, resp, &limit, &offset) < 0)
		return -1;
	if (store_token_list(req->store, limit, offset, &arr, &n, &total) < 0)
		return h_db_error(req, resp, "listing tokens");
	resp_list(resp, json_out_tokens(arr, n), total, limit, offset);
	free(arr);
	return 0;
}

/* {"scopes": ["read", ...]} → canonical "read,operate" text; 422 naming the bad item. */
static int scopes_from_json(struct response *resp, struct json_object *arr, char *canon, size_t len)
{
	char joined[256] = "";
	unsigned mask;
	size_t n, o = 0;

	if (arr == NULL || !json_object_is_type(arr, json_type_array) ||
	    (n = json_object_array_length(arr)) == 0) {
		resp_error(resp, 422, "validation_error",
		           "scopes: must be a non-empty array of \"read\", \"operate\", \"admin\"");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *s = json_object_array_get_idx(arr, i);
		const char *v = json_object_get_string(s);
		if (!json_object_is_type(s, json_type_string) ||
		    token_scopes_parse(v, &mask, NULL, 0) < 0 || strchr(v, ',') || strchr(v, ' ')) {
			resp_error(resp, 422, "validation_error",
			           "scopes[%zu]: must be \"read\", \"operate\" or \"admin\"", i);
			return -1;
		}
		o += (size_t)snprintf(joined + o, sizeof(joined) - o, "%s%s", o ? "," : "", v);
		if (o >= sizeof(joined))
			break;
	}
	return token_scopes_parse(joined, &mask, canon, len);
}

static int token_name(struct response *resp, struct json_object *v, const char **name)
{
	size_t n;

	if (v == NULL || !json_object_is_type(v, json_type_string) ||
	    (n = strlen(json_object_get_string(v))) == 0 || n > TOKEN_NAME_MAX) {
		resp_error(resp, 422, "validation_error",
		           "name: must be a string of 1 to %d characters", TOKEN_NAME_MAX);
		return -1;
	}
	*name = json_object_get_string(v);
	return 0;
}

static struct json_object *scopes_array(const char *canon)
{
	struct json_object *a = json_object_new_array();
	char buf[64], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", canon);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		json_object_array_add(a, json_object_new_string(t));
	return a;
}

int h_tokens_create(struct request *req, struct response *resp)
{
	static const char *const allowed[] = {"name", "scopes", NULL};
	struct json_object *v, *o, *stored;
	char tok[TOKEN_LEN], id[TOKEN_ID_LEN], hash[65], canon[64], ts[UTIL_TIME_LEN];
	const char *name = NULL;

	if (h_need_store(req, resp) < 0 || h_body_object(req, resp, false) < 0 ||
	    h_no_unknown(resp, req->json, allowed) < 0)
		return -1;
	if (token_name(resp, json_object_object_get_ex(req->json, "name", &v) ? v : NULL, &name) <
	    0)
		return -1;
	if (scopes_from_json(resp, json_object_object_get_ex(req->json, "scopes", &v) ? v : NULL,
	                     canon, sizeof(canon)) < 0)
		return -1;
	if (token_generate(tok, id) < 0) {
		resp_error(resp, 500, "internal", "cannot generate a token (no randomness)");
		return -1;
	}
	token_hash(tok, hash);
	if (store_begin(req->store) < 0 ||
	    store_token_insert(req->store, id, name, hash, canon) < 0)
		return h_db_error(req, resp, "creating the token");
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "scopes", scopes_array(canon));
	json_object_object_add(o, "created_at",
	                       json_object_new_string(util_time_fmt(util_now_ms(), ts)));
	resp_ok(resp, 201, o);
	/* the replayed copy says the secret was shown once and is gone */
	json_object_object_add(o, "token", json_object_new_string(tok));
	stored = json_object_new_object();
	json_object_object_foreach(o, k, val)
	    json_object_object_add(stored, k, json_object_get(val));
	json_object_object_add(stored, "token", NULL);
	json_object_object_add(stored, "token_shown_once", json_object_new_boolean(1));
	if (h_commit_as(req, resp, stored) < 0) {
		json_object_put(stored);
		return -1;
	}
	json_object_put(stored);
	h_wake(req);
	return 0;
}

/* tok_ + 12 lower-case hex: anything else cannot exist. */
static int token_id_ok(const char *id)
{
	return strncmp(id, "tok_", 4) == 0 && strlen(id) == 16 &&
	       strspn(id + 4, "0123456789abcdef") == 12;
}

int h_tokens_get(struct request *req, struct response *resp)
{
	const char *id = req_path_param(req, 0);
	struct store_token t;
	int rc;

	if (h_need_store(req, resp) < 0)
		return -1;
	rc = token_id_ok(id) ? store_token_get(req->store, id, &t) : 0;
	if (rc < 0)
		return h_db_error(req, resp, "reading the token");
	if (rc == 0) {
		resp_error(resp, 404, "not_found", "token '%.32s' not found (or revoked)", id);
		return -1;
	}
	resp_ok(resp, 200, json_out_token(&t));
	return 0;
}

int h_tokens_revoke(struct request *req, struct response *resp)
{
	const char *id = req_path_param(req, 0);
	struct json_object *o;
	int rc;

	if (h_need_store(req, resp) < 0)
		return -1;
	if (!token_id_ok(id)) {
		resp_error(resp, 404, "not_found", "token '%.32s' not found", id);
		return -1;
	}
	if (store_begin(req->store) < 0)
		return h_db_error(req, resp, "starting a transaction");
	rc = store_token_revoke(req->store, id);
	if (rc < 0)
		return h_db_error(req, resp, "revoking the token");
	if (rc == 0) {
		store_rollback(req->store);
		resp_error(resp, 404, "not_found", "token '%s' not found (or already revoked)", id);
		return -1;
	}
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "revoked", json_object_new_boolean(1));
	resp_ok(resp, 200, o);
	if (h_commit(req, resp) < 0)
		return -1;
	h_wake(req);
	return 0;
}
