/* SPDX-License-Identifier: MIT */
/*
 * Defaults, the "key = value" file and environment overrides, driven by one
 * table of keys so that the file, the environment and the docs agree.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif

enum key_type { K_STR, K_PATH, K_INT, K_BOOL, K_SIZE, K_USERS };

struct key {
	const char *name;
	enum key_type type;
	size_t off;
	size_t len;    /* buffer size for strings */
	long min, max; /* for integers */
};

#define STR(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define NUM(f) offsetof(struct config, f), 0

static const struct key keys[] = {
    {"data_dir", K_PATH, STR(data_dir), 0, 0},
    {"database", K_PATH, STR(database), 0, 0},
    {"fcgi_socket", K_PATH, STR(fcgi_socket), 0, 0},
    {"fcgi_socket_group", K_STR, STR(fcgi_socket_group), 0, 0},
    {"runner_socket", K_PATH, STR(runner_socket), 0, 0},
    {"fcgi_workers", K_INT, NUM(fcgi_workers), 1, 256},
    {"log_level", K_STR, STR(log_level), 0, 0},
    {"num_internal_workers", K_INT, NUM(num_internal_workers), 0, 1024},
    {"auto_start_workers", K_BOOL, NUM(auto_start_workers), 0, 0},
    {"default_timeout_minutes", K_INT, NUM(default_timeout_minutes), 1, 10080},
    {"default_max_steps", K_INT, NUM(default_max_steps), 1, 1000000},
    {"run_user", K_STR, STR(run_user), 0, 0},
    {"allowed_users", K_USERS, NUM(allowed_users), 0, 0},
    {"port_min", K_INT, NUM(port_min), 1, 65535},
    {"port_max", K_INT, NUM(port_max), 1, 65535},
    {"log_max_bytes", K_SIZE, NUM(log_max_bytes), 4096, 0},
    {"log_segment_bytes", K_SIZE, NUM(log_segment_bytes), 1024, 0},
    {"cgroup", K_STR, STR(cgroup), 0, 0},
    {"cgroup_root", K_PATH, STR(cgroup_root), 0, 0},
    {"keep_releases", K_INT, NUM(keep_releases), 1, 1000},
    {"restart_backoff_ms", K_INT, NUM(restart_backoff_ms), 10, 3600000},
    {"restart_backoff_max_ms", K_INT, NUM(restart_backoff_max_ms), 10, 86400000},
    {"crashloop_after", K_INT, NUM(crashloop_after), 1, 1000},
    {"fast_failure_ms", K_INT, NUM(fast_failure_ms), 0, 3600000},
    {"stop_timeout_default_s", K_INT, NUM(stop_timeout_default_s), 0, 3600},
    {"upload_max_bytes", K_SIZE, NUM(upload_max_bytes), 1, 0},
    {"upload_follow", K_BOOL, NUM(upload_follow), 0, 0},
    {"json_max_bytes", K_SIZE, NUM(json_max_bytes), 1, 0},
    {"extract_max_entries", K_SIZE, NUM(extract_max_entries), 1, 0},
    {"extract_max_bytes", K_SIZE, NUM(extract_max_bytes), 1, 0},
    {"extract_max_ratio", K_SIZE, NUM(extract_max_ratio), 1, 0},
    {"runner_poll_ms", K_INT, NUM(runner_poll_ms), 10, 60000},
    {"heartbeat_ms", K_INT, NUM(heartbeat_ms), 10, 60000},
    {"runner_dead_after_ms", K_INT, NUM(runner_dead_after_ms), 100, 600000},
    {"min_free_disk", K_SIZE, NUM(min_free_disk), 0, 0},
    {"min_free_memory", K_SIZE, NUM(min_free_memory), 0, 0},
    {"metrics_auth", K_BOOL, NUM(metrics_auth), 0, 0},
};

/* The Task Executor's variable names (docs/operations.md, Configuration), mapped onto our keys. */
static const struct {
	const char *env;
	const char *key;
} compat_env[] = {
    {"DATABASE_URL", "database"},
    {"NUM_INTERNAL_WORKERS", "num_internal_workers"},
    {"AUTO_START_WORKERS", "auto_start_workers"},
    {"DEFAULT_TIMEOUT_MINUTES", "default_timeout_minutes"},
    {"DEFAULT_MAX_STEPS", "default_max_steps"},
    {"LOG_LEVEL", "log_level"},
};

static void set_paths(struct config *c)
{
	snprintf(c->database, sizeof(c->database), "%.4000s/db/hostagent.db", c->data_dir);
	snprintf(c->fcgi_socket, sizeof(c->fcgi_socket), "%.4000s/run/fcgi.sock", c->data_dir);
	snprintf(c->runner_socket, sizeof(c->runner_socket), "%.4000s/run/runner.sock",
	         c->data_dir);
}

void config_defaults(struct config *c, const char *data_dir)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->data_dir, sizeof(c->data_dir), "%s",
	         data_dir ? data_dir : LOCALSTATEDIR "/lib/hostagent");
	set_paths(c);
	c->fcgi_workers = 8;
	snprintf(c->log_level, sizeof(c->log_level), "info");
	c->num_internal_workers = 3;
	c->auto_start_workers = true;
	c->default_timeout_minutes = 30;
	c->default_max_steps = 30;
	if (geteuid() == 0) {
		snprintf(c->run_user, sizeof(c->run_user), "nobody");
	} else {
		struct passwd *pw = getpwuid(geteuid());
		snprintf(c->run_user, sizeof(c->run_user), "%s", pw ? pw->pw_name : "nobody");
	}
	snprintf(c->allowed_users[0], sizeof(c->allowed_users[0]), "%s", c->run_user);
	c->n_allowed_users = 1;
	c->port_min = 20000;
	c->port_max = 29999;
	c->log_max_bytes = 64ULL << 20;
	c->log_segment_bytes = 8ULL << 20;
	snprintf(c->cgroup, sizeof(c->cgroup), "auto");
	c->keep_releases = 5;
	c->restart_backoff_ms = 1000;
	c->restart_backoff_max_ms = 60000;
	c->crashloop_after = 5;
	c->fast_failure_ms = 10000;
	c->stop_timeout_default_s = 10;
	c->upload_max_bytes = 1ULL << 30;
	c->upload_follow = true;
	c->json_max_bytes = 1ULL << 20;
	c->extract_max_entries = 20000;
	c->extract_max_bytes = 4ULL << 30;
	c->extract_max_ratio = 200;
	c->runner_poll_ms = 1000;
	c->heartbeat_ms = 250;
	c->runner_dead_after_ms = 1500;
	c->min_free_disk = 256ULL << 20;
	c->min_free_memory = 64ULL << 20;
	c->metrics_auth = false;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
	    !strcasecmp(v, "on")) {
		*out = true;
		return 0;
	}
	if (!strcasecmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") ||
	    !strcasecmp(v, "off")) {
		*out = false;
		return 0;
	}
	return -1;
}

/* "a, b c" → the allowed_users array; names must be plain user names. */
static int parse_users(struct config *c, const char *v)
{
	char buf[1024], *save = NULL, *tok;

	if (util_fmt(buf, sizeof(buf), "%s", v) < 0)
		return -1;
	c->n_allowed_users = 0;
	for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		if (c->n_allowed_users == CONFIG_MAX_USERS || strlen(tok) >= 64)
			return -1;
		for (const char *p = tok; *p; p++)
			if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
				return -1;
		snprintf(c->allowed_users[c->n_allowed_users++], 64, "%s", tok);
	}
	return 0;
}

static int set_value(struct config *c, const struct key *k, const char *v)
{
	char *base = (char *)c + k->off, *end;
	long n;
	uint64_t sz;

	switch (k->type) {
	case K_PATH:
		if (strncmp(v, "sqlite:", 7) == 0 && strcmp(k->name, "database") == 0) {
			v += 7;
			while (v[0] == '/' && v[1] == '/')
				v++; /* sqlite:///abs/path and sqlite:/abs/path */
		}
		if (*v == '\0')
			return -1;
		/* fall through */
	case K_STR:
		return util_fmt(base, k->len, "%s", v) < 0 ? -1 : 0;
	case K_INT:
		errno = 0;
		n = strtol(v, &end, 10);
		if (errno || *end || end == v || n < k->min || n > k->max)
			return -1;
		*(int *)base = (int)n;
		return 0;
	case K_BOOL:
		return parse_bool(v, (bool *)base);
	case K_SIZE:
		if (util_parse_size(v, &sz) < 0 || sz < (uint64_t)k->min)
			return -1;
		*(uint64_t *)base = sz;
		return 0;
	case K_USERS:
		return parse_users(c, v);
	}
	return -1;
}

int config_set(struct config *c, const char *key, const char *value, char *err, size_t errlen)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		if (strcmp(keys[i].name, key) != 0)
			continue;
		if (set_value(c, &keys[i], value) < 0) {
			snprintf(err, errlen, "invalid value for %s: '%s'", key, value);
			return -1;
		}
		if (strcmp(key, "data_dir") == 0)
			set_paths(c);
		if (strcmp(key, "log_level") == 0 && strcasecmp(value, "debug") &&
		    strcasecmp(value, "info") && strcasecmp(value, "warn") &&
		    strcasecmp(value, "warning") && strcasecmp(value, "error")) {
			snprintf(err, errlen, "invalid value for log_level: '%s'", value);
			return -1;
		}
		if (strcmp(key, "cgroup") == 0 && strcmp(value, "auto") && strcmp(value, "off")) {
			snprintf(err, errlen, "cgroup must be auto or off");
			return -1;
		}
		return 0;
	}
	snprintf(err, errlen, "unknown key '%s'", key);
	return -1;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int config_apply_line(struct config *c, const char *line, char *err, size_t errlen)
{
	char buf[PATH_MAX + 128], *p, *eq, *key, *val;

	if (util_fmt(buf, sizeof(buf), "%s", line) < 0) {
		snprintf(err, errlen, "line too long");
		return -1;
	}
	p = trim(buf);
	if (*p == '\0' || *p == '#' || *p == ';')
		return 0;
	eq = strchr(p, '=');
	if (eq == NULL) {
		snprintf(err, errlen, "expected 'key = value'");
		return -1;
	}
	*eq = '\0';
	key = trim(p);
	val = trim(eq + 1);
	if (strlen(val) >= 2 && val[0] == '"' && val[strlen(val) - 1] == '"') {
		val[strlen(val) - 1] = '\0';
		val++;
	}
	return config_set(c, key, val, err, errlen);
}

static int load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	char line[PATH_MAX + 128], why[256];
	FILE *f = fopen(path, "re");
	int lineno = 0;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (config_apply_line(c, line, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	snprintf(c->path, sizeof(c->path), "%s", path);
	return 0;
}

/* HOSTAGENT_<KEY> for every key, then the compatibility names. */
static int load_env(struct config *c, char *err, size_t errlen)
{
	char name[128], why[256];
	const char *v;

	/* data_dir first: it moves the derived paths that later keys may override */
	v = getenv("HOSTAGENT_DATA_DIR");
	if (v != NULL && config_set(c, "data_dir", v, why, sizeof(why)) < 0)
		goto bad_data;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		size_t j;
		memcpy(name, "HOSTAGENT_", 10);
		for (j = 0; keys[i].name[j] && j < sizeof(name) - 11; j++)
			name[10 + j] = (char)toupper((unsigned char)keys[i].name[j]);
		name[10 + j] = '\0';
		v = getenv(name);
		if (v == NULL || strcmp(keys[i].name, "data_dir") == 0)
			continue;
		if (config_set(c, keys[i].name, v, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "environment %s: %s", name, why);
			return -1;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(compat_env); i++) {
		v = getenv(compat_env[i].env);
		if (v != NULL && config_set(c, compat_env[i].key, v, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "environment %s: %s", compat_env[i].env, why);
			return -1;
		}
	}
	return 0;
bad_data:
	snprintf(err, errlen, "environment HOSTAGENT_DATA_DIR: %s", why);
	return -1;
}

int config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	const char *envpath = getenv("HOSTAGENT_CONFIG");
	const char *def = SYSCONFDIR "/hostagent/hostagent.conf";

	config_defaults(c, NULL);
	if (path == NULL && envpath != NULL && *envpath != '\0')
		path = envpath;
	if (path != NULL) {
		if (load_file(c, path, err, errlen) < 0)
			return -1;
	} else if (access(def, R_OK) == 0) {
		if (load_file(c, def, err, errlen) < 0)
			return -1;
	}
	if (load_env(c, err, errlen) < 0)
		return -1;
	if (c->port_min > c->port_max) {
		snprintf(err, errlen, "port_min is above port_max");
		return -1;
	}
	return 0;
}

int config_path(const struct config *c, const char *sub, char *buf, size_t len)
{
	return util_fmt(buf, len, "%s/%s", c->data_dir, sub) < 0 ? -1 : 0;
}

int config_make_dirs(const struct config *c)
{
	static const struct {
		const char *sub;
		mode_t mode;
	} dirs[] = {
	    {"", 0755},         {"db", 0750},         {"run", 0750},     {"artifacts", 0755},
	    {"releases", 0755}, {"jobs", 0755},       {"bundles", 0755}, {"log", 0750},
	    {"tmp", 0750},      {"tmp/upload", 0750},
	};
	char path[PATH_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		if (config_path(c, dirs[i].sub, path, sizeof(path)) < 0)
			return -1;
		if (util_mkdir_p(path, dirs[i].mode) < 0)
			return -1;
	}
	return 0;
}
