/* SPDX-License-Identifier: MIT */
/*
 * Encoding and decoding of shim_proto.h's messages. Which fields a type
 * carries is written once, in field_mask[]: the encoder writes exactly
 * those, and the decoder reads exactly those, so the two ends cannot
 * drift apart.
 */
#include "shim_proto.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "json_get.h"
#include "packet.h"
#include "util.h"

enum {
	F_SIGNAL = 1 << 0,
	F_TIMEOUT = 1 << 1,
	F_PIDS = 1 << 2,   /* pid, shim_pid */
	F_START = 1 << 3,  /* start_time, started_at */
	F_STATUS = 1 << 4, /* state, paused, shim_rss */
	F_ERR = 1 << 5,
	F_EXIT = 1 << 6,
	F_HEALTH = 1 << 7,
};

static const struct {
	const char *key; /* "op" or "ev" */
	const char *name;
	unsigned fields;
} types[SHIM_MSG_NTYPES] = {
    [SHIM_OP_STATUS] = {"op", "status", 0},
    [SHIM_OP_SIGNAL] = {"op", "signal", F_SIGNAL},
    [SHIM_OP_STOP] = {"op", "stop", F_SIGNAL | F_TIMEOUT},
    [SHIM_OP_KILL] = {"op", "kill", 0},
    [SHIM_OP_PAUSE] = {"op", "pause", 0},
    [SHIM_OP_RESUME] = {"op", "resume", 0},
    [SHIM_EV_STARTED] = {"ev", "started", F_PIDS | F_START},
    [SHIM_EV_EXEC_FAILED] = {"ev", "exec_failed", F_ERR | F_EXIT},
    [SHIM_EV_EXITED] = {"ev", "exited", F_PIDS | F_EXIT},
    [SHIM_EV_STATUS] = {"ev", "status", F_PIDS | F_START | F_STATUS},
    [SHIM_EV_HEALTH] = {"ev", "health", F_HEALTH},
};

const char *shim_msg_name(enum shim_msg_type t)
{
	return t > SHIM_MSG_NONE && t < SHIM_MSG_NTYPES ? types[t].name : NULL;
}

static void add_int(struct json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static void add_bool(struct json_object *o, const char *k, bool v)
{
	json_object_object_add(o, k, json_object_new_boolean(v));
}

static void encode_exit(struct json_object *o, const struct shim_exit *e)
{
	json_object_object_add(o, "exit_code",
	                       e->has_code ? json_object_new_int(e->exit_code) : NULL);
	json_object_object_add(o, "signal", e->has_signal ? json_object_new_int(e->signal) : NULL);
	add_bool(o, "core", e->core);
	add_bool(o, "killed", e->killed);
	add_bool(o, "timed_out", e->timed_out);
	add_bool(o, "oom", e->oom);
	add_bool(o, "stopped", e->stopped);
	add_int(o, "started_at", e->started_at);
	add_int(o, "ended_at", e->ended_at);
	json_object_object_add(o, "reason", json_object_new_string(e->reason));
	if (e->post_stop[0] != '\0')
		json_object_object_add(o, "post_stop", json_object_new_string(e->post_stop));
}

static void encode_health(struct json_object *o, const struct shim_health *h)
{
	add_bool(o, "ok", h->ok);
	add_int(o, "code", h->code);
	add_int(o, "at", h->at);
	add_int(o, "duration_ms", h->duration_ms);
	json_object_object_add(o, "output", json_object_new_string(h->output));
}

static struct json_object *encode_obj(const struct shim_msg *m)
{
	struct json_object *o = json_object_new_object();
	unsigned f = types[m->type].fields;

	json_object_object_add(o, types[m->type].key, json_object_new_string(types[m->type].name));
	/* "the spec's" is said by leaving the field out, as shims of every version read it */
	if ((f & F_SIGNAL) && m->signal > 0)
		add_int(o, "signal", m->signal);
	if ((f & F_TIMEOUT) && m->timeout_ms >= 0)
		add_int(o, "timeout_ms", m->timeout_ms);
	if (f & F_PIDS) {
		add_int(o, "pid", m->pid);
		add_int(o, "shim_pid", m->shim_pid);
	}
	if (f & F_START) {
		add_int(o, "start_time", (int64_t)m->start_time);
		add_int(o, "started_at", m->started_at);
	}
	if (f & F_STATUS) {
		json_object_object_add(o, "state", json_object_new_string(m->state));
		add_bool(o, "paused", m->paused);
		add_int(o, "shim_rss", m->shim_rss);
	}
	if (f & F_ERR)
		add_int(o, "errno", m->err);
	if (f & F_EXIT)
		encode_exit(o, &m->exit);
	if (f & F_HEALTH)
		encode_health(o, &m->health);
	return o;
}

int shim_msg_encode(const struct shim_msg *m, char *buf, size_t len)
{
	struct json_object *o;
	const char *txt;
	int n = -1;

	if (shim_msg_name(m->type) == NULL)
		return -1;
	o = encode_obj(m);
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                            JSON_C_TO_STRING_NOSLASHESCAPE);
	if (strlen(txt) < len && strlen(txt) <= INT_MAX) {
		memcpy(buf, txt, strlen(txt) + 1);
		n = (int)strlen(txt);
	}
	json_object_put(o);
	return n;
}

static void decode_exit(struct json_object *o, struct shim_exit *e)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, "exit_code", &v) && json_object_is_type(v, json_type_int))
		e->has_code = true, e->exit_code = json_object_get_int(v);
	if (json_object_object_get_ex(o, "signal", &v) && json_object_is_type(v, json_type_int))
		e->has_signal = true, e->signal = json_object_get_int(v);
	e->core = json_get_bool(o, "core", false);
	e->killed = json_get_bool(o, "killed", false);
	e->timed_out = json_get_bool(o, "timed_out", false);
	e->oom = json_get_bool(o, "oom", false);
	e->stopped = json_get_bool(o, "stopped", false);
	e->started_at = json_get_int(o, "started_at", 0);
	e->ended_at = json_get_int(o, "ended_at", 0);
	snprintf(e->reason, sizeof(e->reason), "%s", json_get_str(o, "reason") ?: "");
	snprintf(e->post_stop, sizeof(e->post_stop), "%s", json_get_str(o, "post_stop") ?: "");
}

static enum shim_msg_type type_of(struct json_object *o)
{
	for (int t = SHIM_MSG_NONE + 1; t < SHIM_MSG_NTYPES; t++) {
		const char *v = json_get_str(o, types[t].key);
		if (v != NULL && strcmp(v, types[t].name) == 0)
			return (enum shim_msg_type)t;
	}
	return SHIM_MSG_NONE;
}

static void decode_fields(struct json_object *o, unsigned f, struct shim_msg *m)
{
	if (f & F_SIGNAL)
		m->signal = (int)json_get_int(o, "signal", 0);
	m->timeout_ms = (f & F_TIMEOUT) ? json_get_int(o, "timeout_ms", -1) : 0;
	if (f & F_PIDS) {
		m->pid = (pid_t)json_get_int(o, "pid", 0);
		m->shim_pid = (pid_t)json_get_int(o, "shim_pid", 0);
	}
	if (f & F_START) {
		m->start_time = (uint64_t)json_get_int(o, "start_time", 0);
		m->started_at = json_get_int(o, "started_at", 0);
	}
	if (f & F_STATUS) {
		snprintf(m->state, sizeof(m->state), "%s", json_get_str(o, "state") ?: "");
		m->paused = json_get_bool(o, "paused", false);
		m->shim_rss = json_get_int(o, "shim_rss", 0);
	}
	if (f & F_ERR)
		m->err = (int)json_get_int(o, "errno", 0);
	if (f & F_EXIT)
		decode_exit(o, &m->exit);
	if (f & F_HEALTH) {
		m->health.ok = json_get_bool(o, "ok", false);
		m->health.code = (int)json_get_int(o, "code", -1);
		m->health.at = json_get_int(o, "at", 0);
		m->health.duration_ms = json_get_int(o, "duration_ms", 0);
		snprintf(m->health.output, sizeof(m->health.output), "%s",
		         json_get_str(o, "output") ?: "");
	}
	/* shims before this protocol said why an exec failed in "message" */
	if (m->type == SHIM_EV_EXEC_FAILED && m->exit.reason[0] == '\0')
		snprintf(m->exit.reason, sizeof(m->exit.reason), "%s",
		         json_get_str(o, "message") ?: "exec failed");
}

int shim_msg_decode(const char *text, struct shim_msg *m)
{
	struct json_object *o = json_tokener_parse(text);

	memset(m, 0, sizeof(*m));
	m->type = type_of(o);
	if (m->type != SHIM_MSG_NONE)
		decode_fields(o, types[m->type].fields, m);
	json_object_put(o);
	return m->type == SHIM_MSG_NONE ? -1 : 0;
}

int shim_msg_send(int fd, const struct shim_msg *m)
{
	char buf[PACKET_MAX];
	int n = shim_msg_encode(m, buf, sizeof(buf));

	if (n < 0) {
		errno = EMSGSIZE;
		return -1;
	}
	return packet_send(fd, buf, (size_t)n);
}

int shim_exit_read(const char *jobdir, struct shim_exit *e)
{
	char path[PATH_MAX], *text = NULL;
	struct json_object *o;

	memset(e, 0, sizeof(*e));
	if (util_fmt(path, sizeof(path), "%s/exit.json", jobdir) < 0)
		return -1;
	if (util_read_file(path, 65536, &text, NULL) < 0)
		return errno == ENOENT ? 0 : -1;
	/* the exit fields alone: a file from a shim older than the "ev" member reads the same */
	o = json_tokener_parse(text);
	free(text);
	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    json_get_int(o, "ended_at", 0) <= 0) {
		json_object_put(o);
		return -1;
	}
	decode_exit(o, e);
	json_object_put(o);
	return 1;
}
