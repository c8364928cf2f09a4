/* SPDX-License-Identifier: MIT */
/*
 * hostagentctl: the operator's tool on the host itself. It creates the first
 * admin token (there is no API call without one), lists and revokes tokens,
 * and creates or upgrades the database. It talks to SQLite directly, never
 * to the HTTP API.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "log.h"
#include "store_tokens.h"
#include "token.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: hostagentctl [-c CONFIG] COMMAND\n"
	           "  token create --name NAME --scopes read,operate,admin\n"
	           "                       prints the new token (shown once) on stdout\n"
	           "  token list           active tokens as JSON (never the tokens themselves)\n"
	           "  token revoke ID      revokes a token at once\n"
	           "  migrate              creates or upgrades the database\n"
	           "  config               prints the effective data directory and database\n");
}

static int token_create(struct store *s, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"scopes", required_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	const char *name = NULL, *scopes = NULL;
	char tok[TOKEN_LEN], id[TOKEN_ID_LEN], hash[65], canon[64];
	unsigned mask;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "n:s:", opts, NULL)) != -1) {
		if (c == 'n')
			name = optarg;
		else if (c == 's')
			scopes = optarg;
		else
			return 2;
	}
	if (name == NULL || *name == '\0' || strlen(name) > 128 || scopes == NULL) {
		fprintf(stderr,
		        "hostagentctl: token create needs --name (1..128 chars) and --scopes\n");
		return 2;
	}
	if (token_scopes_parse(scopes, &mask, canon, sizeof(canon)) < 0) {
		fprintf(stderr, "hostagentctl: scopes must be a list of read, operate, admin\n");
		return 2;
	}
	if (token_generate(tok, id) < 0) {
		perror("hostagentctl: getrandom");
		return 1;
	}
	token_hash(tok, hash);
	if (store_token_insert(s, id, name, hash, canon) < 0) {
		fprintf(stderr, "hostagentctl: cannot store the token\n");
		return 1;
	}
	fprintf(stderr, "created token %s (%s) with scopes %s; it is shown only once:\n", id, name,
	        canon);
	printf("%s\n", tok);
	return 0;
}

/* The host operator's view: the API's fields, times as RFC 3339. */
static struct json_object *token_json(const struct store_token *t)
{
	struct json_object *o = json_object_new_object(), *scopes = json_object_new_array();
	char ts[UTIL_TIME_LEN], buf[sizeof(t->scopes)], *save = NULL;

	json_object_object_add(o, "id", json_object_new_string(t->id));
	json_object_object_add(o, "name", json_object_new_string(t->name));
	snprintf(buf, sizeof(buf), "%s", t->scopes);
	for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save))
		json_object_array_add(scopes, json_object_new_string(p));
	json_object_object_add(o, "scopes", scopes);
	json_object_object_add(o, "created_at",
	                       json_object_new_string(util_time_fmt(t->created_at, ts)));
	json_object_object_add(
	    o, "last_used_at",
	    t->last_used_at ? json_object_new_string(util_time_fmt(t->last_used_at, ts)) : NULL);
	return o;
}

static int token_list(struct store *s)
{
	struct json_object *arr;
	struct store_token *rows;
	int64_t total;
	size_t n;

	if (store_token_list(s, 1000, 0, &rows, &n, &total) < 0) {
		fprintf(stderr, "hostagentctl: cannot list tokens\n");
		return 1;
	}
	arr = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, token_json(&rows[i]));
	free(rows);
	printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
	                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(arr);
	return 0;
}

static int token_revoke(struct store *s, const char *id)
{
	int rc = store_token_revoke(s, id);

	if (rc < 0) {
		fprintf(stderr, "hostagentctl: cannot revoke %s\n", id);
		return 1;
	}
	if (rc == 0) {
		fprintf(stderr, "hostagentctl: no active token %s\n", id);
		return 1;
	}
	fprintf(stderr, "revoked %s\n", id);
	return 0;
}

static int dispatch(struct store *s, const struct config *cfg, int argc, char **argv)
{
	if (strcmp(argv[0], "migrate") == 0)
		return 0; /* store_open already migrated */
	if (strcmp(argv[0], "config") == 0) {
		printf("config=%s\ndata_dir=%s\ndatabase=%s\n", cfg->path, cfg->data_dir,
		       cfg->database);
		return 0;
	}
	if (strcmp(argv[0], "token") != 0 || argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "create") == 0)
		return token_create(s, argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return token_list(s);
	if (strcmp(argv[1], "revoke") == 0 && argc == 3)
		return token_revoke(s, argv[2]);
	usage(stderr);
	return 2;
}

int main(int argc, char **argv)
{
	const char *conf = NULL;
	struct config cfg;
	struct store *s = NULL;
	char err[512];
	int c, rc;

	while ((c = getopt(argc, argv, "+c:h")) != -1) {
		if (c == 'c') {
			conf = optarg;
		} else {
			usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	log_init("ctl", LOG_LVL_WARN, NULL);
	if (config_load(&cfg, conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "hostagentctl: %s\n", err);
		return 1;
	}
	if (config_make_dirs(&cfg) < 0) {
		fprintf(stderr, "hostagentctl: cannot create %s: %m\n", cfg.data_dir);
		return 1;
	}
	if (store_open(cfg.database, &s, err, sizeof(err)) < 0) {
		fprintf(stderr, "hostagentctl: %s\n", err);
		return 1;
	}
	rc = dispatch(s, &cfg, argc - optind, argv + optind);
	store_close(s);
	return rc;
}
