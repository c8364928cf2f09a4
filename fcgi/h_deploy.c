/* SPDX-License-Identifier: MIT */
/*
 * POST /api/v1/projects: deploy from a JSON spec naming an uploaded
 * artifact, or from multipart/form-data with a "spec" part and an
 * "artifact" part (stored exactly as POST /api/v1/artifacts would). One
 * transaction allocates the ports, adds the release, upserts the project,
 * adds the service task and the project.deploy command; the runner does the
 * extraction and the start.
 */
#include "handlers.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

#include "config.h"
#include "archive.h"
#include "multipart.h"
#include "util.h"
#include "validate.h"

struct deploy {
	struct json_object *spec; /* owned: the body minus "start" */
	struct json_object *norm; /* owned: validated, defaults applied */
	bool start;
	bool multipart;
	struct mp_part art;   /* the multipart artifact part (borrows req->body) */
	struct arc_info info; /* ...once stored */
	bool created;
	const char *name, *artifact; /* borrowed from norm */
	struct store_port ports[STORE_PORTS_MAX];
	size_t nports;
};

/* Copies the multipart artifact part to a file so it takes the upload path. */
static int part_store(struct request *req, struct response *resp, const struct mp_part *p,
                      struct deploy *d)
{
	char path[PATH_MAX];
	unsigned char r[8];
	char hex[17];
	int fd = -1, rc = -1;

	if (util_random(r, sizeof(r)) < 0)
		goto io;
	util_hex(r, sizeof(r), hex);
	if (util_fmt(path, sizeof(path), "%s/tmp/upload/part-%s", req->cfg->data_dir, hex) < 0)
		goto io;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		goto io;
	for (size_t o = 0; o < p->len;) {
		ssize_t w = write(fd, p->data + o, p->len - o);
		if (w < 0 && errno != EINTR)
			goto io;
		o += w > 0 ? (size_t)w : 0;
	}
	rc = h_artifact_store(req, resp, fd, path, NULL, &d->info, &d->created);
	goto done;
io:
	resp_error(resp, 500, "internal", "cannot spool the artifact part: %s", strerror(errno));
done:
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	return rc;
}

static int input_multipart(struct request *req, struct response *resp, struct deploy *d)
{
	struct mp_part parts[MP_MAX_PARTS];
	const struct mp_part *sp, *ap;
	char bnd[MP_BOUNDARY_MAX + 1], err[256];
	size_t n;

	d->multipart = true;
	if (mp_boundary(req->content_type, bnd, sizeof(bnd)) < 0) {
		resp_error(resp, 400, "bad_request",
		           "multipart/form-data without a valid boundary");
		return -1;
	}
	if (mp_parse(req->body, req->body_len, bnd, parts, MP_MAX_PARTS, &n, err, sizeof(err)) <
	    0) {
		resp_error(resp, 400, "bad_request", "malformed multipart body: %s", err);
		return -1;
	}
	sp = mp_find(parts, n, "spec");
	ap = mp_find(parts, n, "artifact");
	if (sp == NULL || ap == NULL) {
		resp_error(resp, 422, "validation_error", "%s: the multipart body has no '%s' part",
		           sp ? "artifact" : "spec", sp ? "artifact" : "spec");
		return -1;
	}
	if (req_json_parse((const char *)sp->data, sp->len, &d->spec, err, sizeof(err)) < 0) {
		resp_error(resp, 400, "bad_request", "spec part: malformed JSON: %s", err);
		return -1;
	}
	/* stored only once the spec is valid: a rejected deploy costs no inspection */
	d->art = *ap;
	return 0;
}

/* "start" is the deploy's, not the launch spec's: taken out before validation. */
static int take_start(struct response *resp, struct deploy *d)
{
	struct json_object *copy, *v;

	if (d->spec == NULL || !json_object_is_type(d->spec, json_type_object)) {
		resp_error(resp, 422, "validation_error", "spec: must be a JSON object");
		return -1;
	}
	d->start = true;
	if (json_object_object_get_ex(d->spec, "start", &v)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			resp_error(resp, 422, "validation_error",
			           "spec.start: must be true or false");
			return -1;
		}
		d->start = json_object_get_boolean(v);
	}
	copy = json_object_new_object();
	json_object_object_foreach(d->spec, k, val)
	{
		if (strcmp(k, "start") != 0)
			json_object_object_add(copy, k, json_object_get(val));
	}
	json_object_put(d->spec);
	d->spec = copy;
	return 0;
}

/*
 * Valid fields the agent does not act on yet are refused rather than stored
 * and ignored (docs/api.md, "Fields not acted on yet"): a spec field that is
 * accepted is acted on. Each entry goes when its feature lands.
 */
static int not_acted_on(struct response *resp, struct json_object *norm)
{
	struct json_object *v;

	if (json_object_object_get_ex(norm, "control", &v) && v != NULL &&
	    strcmp(json_object_get_string(v), "messages") == 0) {
		resp_error(
		    resp, 422, "validation_error",
		    "spec.control: 'messages' (the control channel) is not supported by this "
		    "version yet; use 'signals'");
		return -1;
	}
	return 0;
}

/* The runner row's limits say a cgroup enforces name ("cgroup memory.max"). */
static bool by_cgroup(struct json_object *how, const char *name)
{
	struct json_object *v;

	return json_object_object_get_ex(how, name, &v) &&
	       json_object_is_type(v, json_type_string) &&
	       strncmp(json_object_get_string(v), "cgroup ", 7) == 0;
}

/*
 * A limit that nothing on this host would enforce is refused (docs/api.md,
 * "Limits"): cpu (cores) without the cpu controller, and processes for a
 * job that runs as root without the pids controller (RLIMIT_NPROC does not
 * bind root). The runner's row says what enforces what; before a runner
 * has recorded it the deploy is accepted, and the runner refuses such a
 * launch itself.
 */
static int limits_unenforced(struct request *req, struct response *resp, struct json_object *norm)
{
	struct json_object *lim, *how, *u;
	struct store_runner run;
	const char *user = req->cfg->run_user;
	int rc = 0;

	if (!json_object_object_get_ex(norm, "limits", &lim) || lim == NULL ||
	    json_object_object_length(lim) == 0 || store_runner_get(req->store, &run) != 1 ||
	    (how = json_tokener_parse(run.limits)) == NULL)
		return 0;
	if (json_object_object_get_ex(norm, "user", &u) && u != NULL)
		user = json_object_get_string(u);
	if (json_object_object_get_ex(lim, "cpu", NULL) && !by_cgroup(how, "cpu")) {
		resp_error(resp, 422, "validation_error",
		           "spec.limits.cpu: no cpu controller on this host, so nothing would "
		           "enforce it (GET / shows how each limit is enforced)");
		rc = -1;
	} else if (json_object_object_get_ex(lim, "processes", NULL) && strcmp(user, "root") == 0 &&
	           !by_cgroup(how, "processes")) {
		resp_error(resp, 422, "validation_error",
		           "spec.limits.processes: the job runs as root and this host has no pids "
		           "controller; RLIMIT_NPROC, the fallback, does not limit root");
		rc = -1;
	}
	json_object_put(how);
	return rc;
}

static int validate(struct request *req, struct response *resp, struct deploy *d)
{
	const char *users[CONFIG_MAX_USERS];
	struct validate_opts o = {users, req->cfg->n_allowed_users, 0, 0};
	char field[128] = "spec", msg[256] = "invalid";
	struct json_object *v;

	for (size_t i = 0; i < req->cfg->n_allowed_users; i++)
		users[i] = req->cfg->allowed_users[i];
	if (validate_project_spec(d->spec, &o, &d->norm, field, sizeof(field), msg, sizeof(msg)) <
	    0) {
		resp_error(resp, 422, "validation_error", "%s: %s", field, msg);
		return -1;
	}
	if (not_acted_on(resp, d->norm) < 0 || limits_unenforced(req, resp, d->norm) < 0)
		return -1;
	/* a validator that knows "start" gets the caller's value back, not its default */
	if (json_object_object_get_ex(d->norm, "start", NULL))
		json_object_object_add(d->norm, "start", json_object_new_boolean(d->start));
	json_object_object_get_ex(d->norm, "name", &v);
	d->name = json_object_get_string(v);
	d->artifact = json_object_object_get_ex(d->norm, "artifact", &v) && v
	                  ? json_object_get_string(v)
	                  : NULL;
	if (d->multipart) {
		if (part_store(req, resp, &d->art, d) < 0)
			return -1;
		if (d->artifact != NULL && strcmp(d->artifact, d->info.sha256) != 0) {
			resp_error(resp, 422, "validation_error",
			           "spec.artifact: does not match the uploaded artifact part (%s)",
			           d->info.sha256);
			return -1;
		}
		json_object_object_add(d->norm, "artifact", json_object_new_string(d->info.sha256));
		json_object_object_get_ex(d->norm, "artifact", &v);
		d->artifact = json_object_get_string(v);
	} else if (d->artifact == NULL) {
		resp_error(
		    resp, 422, "validation_error",
		    "spec.artifact: is required (or deploy with a multipart 'artifact' part)");
		return -1;
	}
	return 0;
}

/* bind(2) on 0.0.0.0:port succeeds: nothing outside the agent holds it. */
static bool port_bindable(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)port),
	                         .sin_addr.s_addr = htonl(INADDR_ANY)};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static bool port_taken(const struct deploy *d, int port)
{
	for (size_t i = 0; i < d->nports; i++)
		if (d->ports[i].port == port)
			return true;
	return false;
}

/* The lowest port of the range that no project holds and bind(2) accepts. */
static int port_alloc(struct request *req, struct response *resp, struct deploy *d, size_t idx)
{
	int lo = req->cfg->port_min, hi = req->cfg->port_max, *used = NULL;
	size_t nused = 0, u = 0;

	used = malloc(sizeof(int) * (size_t)(hi - lo + 1));
	if (used == NULL ||
	    store_ports_in_range(req->store, lo, hi, used, (size_t)(hi - lo + 1), &nused) < 0) {
		free(used);
		return h_db_error(req, resp, "reading the allocated ports");
	}
	for (int p = lo; p <= hi; p++) {
		while (u < nused && used[u] < p)
			u++;
		if ((u < nused && used[u] == p) || port_taken(d, p) || !port_bindable(p))
			continue;
		d->ports[idx].port = p;
		free(used);
		return 0;
	}
	free(used);
	store_rollback(req->store);
	resp_error(resp, 409, "conflict", "spec.ports[%zu]: no free port left in %d-%d", idx, lo,
	           hi);
	return -1;
}

/* A fixed port: 409 when another project holds it. */
static int port_fixed(struct request *req, struct response *resp, struct deploy *d, size_t idx)
{
	char holder[128];
	int rc = store_port_holder(req->store, d->ports[idx].port, holder, sizeof(holder));

	if (rc < 0)
		return h_db_error(req, resp, "reading the allocated ports");
	if (rc == 1 && strcmp(holder, d->name) != 0) {
		store_rollback(req->store);
		resp_error(resp, 409, "conflict",
		           "spec.ports[%zu]: port %d is held by project '%s'", idx,
		           d->ports[idx].port, holder);
		return -1;
	}
	d->ports[idx].fixed = true;
	return 0;
}

/*
 * Resolves spec.ports (fixed first, so that no automatic port takes one a
 * later entry names; a redeploy keeps the numbers its names already had),
 * writes the numbers back into the normalized spec and replaces the rows.
 */
static int ports_resolve(struct request *req, struct response *resp, struct deploy *d)
{
	struct store_port old[STORE_PORTS_MAX];
	struct json_object *arr, *e, *x;
	size_t nold = 0, n;

	if (!json_object_object_get_ex(d->norm, "ports", &arr) || arr == NULL)
		return store_ports_replace(req->store, d->name, NULL, 0) < 0
		           ? h_db_error(req, resp, "clearing ports")
		           : 0;
	n = json_object_array_length(arr);
	if (n > STORE_PORTS_MAX ||
	    store_ports_of(req->store, d->name, old, STORE_PORTS_MAX, &nold) < 0)
		return h_db_error(req, resp, "reading the project's ports");
	d->nports = n;
	for (size_t i = 0; i < n; i++) {
		e = json_object_array_get_idx(arr, i);
		json_object_object_get_ex(e, "name", &x);
		snprintf(d->ports[i].name, sizeof(d->ports[i].name), "%s",
		         json_object_get_string(x));
		json_object_object_get_ex(e, "port", &x);
		d->ports[i].port = json_object_get_int(x);
		if (d->ports[i].port > 0 && port_fixed(req, resp, d, i) < 0)
			return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (d->ports[i].port > 0)
			continue;
		for (size_t j = 0; j < nold && d->ports[i].port == 0; j++)
			if (strcmp(old[j].name, d->ports[i].name) == 0 &&
			    !port_taken(d, old[j].port))
				d->ports[i].port = old[j].port;
		if (d->ports[i].port == 0 && port_alloc(req, resp, d, i) < 0)
			return -1;
		json_object_object_add(json_object_array_get_idx(arr, i), "port",
		                       json_object_new_int(d->ports[i].port));
	}
	if (store_ports_replace(req->store, d->name, d->ports, n) < 0)
		return h_db_error(req, resp, "recording the ports");
	return 0;
}

static int artifact_known(struct request *req, struct response *resp, struct deploy *d)
{
	int rc;

	if (d->multipart)
		return h_artifact_row(req, resp, &d->info, d->created) < 0 ? -1 : 0;
	rc = store_artifact_exists(req->store, d->artifact);
	if (rc < 0)
		return h_db_error(req, resp, "looking up the artifact");
	if (rc == 0) {
		store_rollback(req->store);
		resp_error(
		    resp, 422, "validation_error",
		    "spec.artifact: unknown artifact %s (upload it with POST /api/v1/artifacts)",
		    d->artifact);
		return -1;
	}
	return 0;
}

/* project.deployed, in the deploy's transaction: a reader sees both or neither. */
static int deployed_event(struct request *req, const struct deploy *d, int64_t rid, int64_t seq,
                          const char *task)
{
	struct json_object *o = json_object_new_object();
	char msg[64];
	int rc;

	json_object_object_add(o, "release_id", json_object_new_int64(rid));
	json_object_object_add(o, "seq", json_object_new_int64(seq));
	json_object_object_add(o, "artifact", json_object_new_string(d->artifact));
	json_object_object_add(o, "task_id", d->start ? json_object_new_string(task) : NULL);
	json_object_object_add(o, "start", json_object_new_boolean(d->start));
	snprintf(msg, sizeof(msg), "release %lld deployed", (long long)seq);
	rc =
	    store_event_add(req->store, "project.deployed", d->start ? task : NULL, d->name, "info",
	                    msg, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return rc;
}

/* Everything the deploy changes, in one transaction. */
static int deploy_txn(struct request *req, struct response *resp, struct deploy *d)
{
	struct json_object *extra = json_object_new_object(), *rel = json_object_new_object(), *t;
	char task[37] = "", payload[256];
	const char *spec;
	int64_t rid, seq;

	if (store_begin(req->store) < 0 || artifact_known(req, resp, d) < 0 ||
	    ports_resolve(req, resp, d) < 0)
		goto fail;
	spec = json_object_to_json_string_ext(d->norm, JSON_C_TO_STRING_PLAIN);
	if (store_release_add(req->store, d->name, d->artifact, spec, &rid, &seq) < 0 ||
	    store_project_upsert(req->store, d->name, spec, d->start) < 0) {
		h_db_error(req, resp, "recording the release");
		goto fail;
	}
	if (d->start &&
	    (util_uuid4(task) < 0 ||
	     store_task_add_service(req->store, task, d->name, rid, d->artifact, spec) < 0)) {
		h_db_error(req, resp, "adding the service task");
		goto fail;
	}
	if (deployed_event(req, d, rid, seq, task) < 0) {
		h_db_error(req, resp, "recording the deploy event");
		goto fail;
	}
	snprintf(payload, sizeof(payload), "{\"release_id\":%lld,\"task_id\":%s%s%s,\"start\":%s}",
	         (long long)rid, d->start ? "\"" : "", d->start ? task : "null",
	         d->start ? "\"" : "", d->start ? "true" : "false");
	json_object_object_add(rel, "id", json_object_new_int64(rid));
	json_object_object_add(rel, "seq", json_object_new_int64(seq));
	json_object_object_add(extra, "release", rel);
	t = d->start ? json_object_new_object() : NULL;
	if (t != NULL)
		json_object_object_add(t, "id", json_object_new_string(task));
	json_object_object_add(extra, "task", t);
	return h_command_202_in(req, resp, "project.deploy", d->name, payload, extra);
fail:
	json_object_put(rel);
	json_object_put(extra);
	return -1;
}

int h_deploy(struct request *req, struct response *resp)
{
	struct deploy d;
	char path[PATH_MAX];
	int rc = -1;

	memset(&d, 0, sizeof(d));
	if (h_need_store(req, resp) < 0)
		return -1;
	if (req->body != NULL && req->body_mapped) {
		if (input_multipart(req, resp, &d) < 0)
			goto done;
	} else {
		if (h_body_object(req, resp, false) < 0)
			goto done;
		d.spec = json_object_get(req->json);
	}
	if (take_start(resp, &d) < 0 || validate(req, resp, &d) < 0)
		goto done;
	rc = deploy_txn(req, resp, &d);
done:
	/* a failed multipart deploy keeps no artifact it brought */
	if (rc < 0 && d.created &&
	    util_fmt(path, sizeof(path), "%s/artifacts/%s", req->cfg->data_dir, d.info.sha256) >= 0)
		unlink(path);
	json_object_put(d.spec);
	json_object_put(d.norm);
	return rc;
}
