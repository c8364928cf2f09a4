/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for common/token.c (format, hashing, scopes, header parsing)
 * and common/config.c (defaults, lines, environment overrides).
 */
#include "config.h"
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"

static void test_tokens(void)
{
	char tok[TOKEN_LEN], tok2[TOKEN_LEN], id[TOKEN_ID_LEN], hash[65], canon[64];
	unsigned mask;

	CHECK(token_generate(tok, id) == 0);
	CHECK(strlen(tok) == 47 && strncmp(tok, "hat_", 4) == 0 && token_well_formed(tok));
	CHECK(strlen(id) == 16 && strncmp(id, "tok_", 4) == 0);
	CHECK(token_generate(tok2, id) == 0 && strcmp(tok, tok2) != 0);
	CHECK(!token_well_formed("hat_short"));
	CHECK(!token_well_formed(NULL));
	tok2[10] = '!';
	CHECK(!token_well_formed(tok2));
	token_hash("abc", hash);
	CHECK(strcmp(hash, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") ==
	      0);
	CHECK(token_scopes_parse("admin read", &mask, canon, sizeof(canon)) == 0 &&
	      strcmp(canon, "read,admin") == 0 && mask == (SCOPE_READ | SCOPE_ADMIN));
	CHECK(token_scopes_parse("read,bogus", &mask, canon, sizeof(canon)) < 0);
	CHECK(token_scopes_parse("", &mask, canon, sizeof(canon)) < 0);
	CHECK(token_scope_allows(SCOPE_ADMIN, SCOPE_READ));
	CHECK(token_scope_allows(SCOPE_ADMIN, SCOPE_OPERATE));
	CHECK(token_scope_allows(SCOPE_OPERATE, SCOPE_READ));
	CHECK(!token_scope_allows(SCOPE_OPERATE, SCOPE_ADMIN));
	CHECK(!token_scope_allows(SCOPE_READ, SCOPE_OPERATE));
	CHECK(token_scope_allows(0, SCOPE_NONE));
	CHECK(token_from_header("Bearer abc") &&
	      strcmp(token_from_header("Bearer abc"), "abc") == 0);
	CHECK(token_from_header("bearer  xyz") &&
	      strcmp(token_from_header("bearer  xyz"), "xyz") == 0);
	CHECK(token_from_header("Basic abc") == NULL);
	CHECK(token_from_header("Bearer ") == NULL);
	CHECK(token_from_header(NULL) == NULL);
}

static void test_config_lines(void)
{
	struct config c;
	char err[256];

	config_defaults(&c, "/srv/ha");
	CHECK(strcmp(c.database, "/srv/ha/db/hostagent.db") == 0);
	CHECK(strcmp(c.fcgi_socket, "/srv/ha/run/fcgi.sock") == 0);
	CHECK(c.fcgi_workers == 8 && c.num_internal_workers == 3 && c.auto_start_workers);
	CHECK(c.json_max_bytes == 1ULL << 20 && c.upload_max_bytes == 1ULL << 30);
	CHECK(config_apply_line(&c, "  # comment", err, sizeof(err)) == 0);
	CHECK(config_apply_line(&c, "", err, sizeof(err)) == 0);
	CHECK(config_apply_line(&c, "fcgi_workers = 4", err, sizeof(err)) == 0 &&
	      c.fcgi_workers == 4);
	CHECK(config_apply_line(&c, "fcgi_workers = 0", err, sizeof(err)) < 0 &&
	      strstr(err, "fcgi_workers"));
	CHECK(config_apply_line(&c, "fcgi_workers = 4x", err, sizeof(err)) < 0);
	CHECK(config_apply_line(&c, "upload_max_bytes = 512m", err, sizeof(err)) == 0 &&
	      c.upload_max_bytes == 512ULL << 20);
	CHECK(config_apply_line(&c, "metrics_auth = yes", err, sizeof(err)) == 0 && c.metrics_auth);
	CHECK(config_apply_line(&c, "nosuchkey = 1", err, sizeof(err)) < 0 &&
	      strstr(err, "unknown key"));
	CHECK(config_apply_line(&c, "no equals sign", err, sizeof(err)) < 0);
	CHECK(config_apply_line(&c, "log_level = loud", err, sizeof(err)) < 0);
	CHECK(config_apply_line(&c, "data_dir = \"/x/y\"", err, sizeof(err)) == 0 &&
	      strcmp(c.runner_socket, "/x/y/run/runner.sock") == 0);
	CHECK(config_apply_line(&c, "allowed_users = app, www-data", err, sizeof(err)) == 0 &&
	      c.n_allowed_users == 2 && strcmp(c.allowed_users[1], "www-data") == 0);
	CHECK(config_apply_line(&c, "allowed_users = a;b", err, sizeof(err)) < 0);
	CHECK(config_set(&c, "database", "sqlite:///tmp/t.db", err, sizeof(err)) == 0 &&
	      strcmp(c.database, "/tmp/t.db") == 0);
}

static void test_config_load(void)
{
	struct config c;
	char err[256], path[] = "/tmp/test_token_config.XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	CHECK(f != NULL);
	if (f == NULL)
		return;
	fprintf(f,
	        "data_dir = /tmp/ha-test\nfcgi_workers = 2\nport_min = 30000\nport_max = 30010\n");
	fclose(f);
	setenv("HOSTAGENT_FCGI_WORKERS", "5", 1);
	setenv("NUM_INTERNAL_WORKERS", "7", 1);
	setenv("DATABASE_URL", "sqlite:////tmp/other.db", 1);
	CHECK(config_load(&c, path, err, sizeof(err)) == 0);
	CHECK(c.fcgi_workers == 5 && c.num_internal_workers == 7 && c.port_min == 30000);
	CHECK(strcmp(c.database, "/tmp/other.db") == 0);
	CHECK(strcmp(c.fcgi_socket, "/tmp/ha-test/run/fcgi.sock") == 0);
	setenv("HOSTAGENT_FCGI_WORKERS", "zero", 1);
	CHECK(config_load(&c, path, err, sizeof(err)) < 0 && strstr(err, "HOSTAGENT_FCGI_WORKERS"));
	unsetenv("HOSTAGENT_FCGI_WORKERS");
	unsetenv("NUM_INTERNAL_WORKERS");
	unsetenv("DATABASE_URL");
	CHECK(config_load(&c, "/nonexistent/hostagent.conf", err, sizeof(err)) < 0 &&
	      strstr(err, "/nonexistent"));
	unlink(path);
}

int main(void)
{
	unsetenv("HOSTAGENT_CONFIG");
	unsetenv("HOSTAGENT_DATA_DIR");
	test_tokens();
	test_config_lines();
	test_config_load();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
