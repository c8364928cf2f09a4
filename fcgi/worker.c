/* SPDX-License-Identifier: MIT */
/*
 * One worker process: waits for a connection with epoll_pwait(), the only place
 * where SIGTERM is unblocked, so libfcgi's I/O never sees EINTR in the
 * middle of a request and a stop always lets the current answer finish.
 * Per request: parse → route → auth → body → idempotency → handler → send.
 * Nothing in here exits or aborts because of what a client sent.
 */
#include "pool.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <json-c/json.h>

#include "auth.h"
#include "config.h"
#include "envelope.h"
#include "handlers.h"
#include "log.h"
#include "request.h"
#include "routes.h"
#include "store.h"
#include "util.h"

static volatile sig_atomic_t worker_stop;
static struct store *worker_store;
static int64_t worker_store_tried;

static void on_term(int sig)
{
	(void)sig;
	worker_stop = 1;
}

/* Signals after FCGX_Init, which installs handlers of its own. */
static void worker_signals(void)
{
	struct sigaction sa;
	sigset_t only_term;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term; /* no SA_RESTART: epoll_pwait must return */
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	/* a terminal's ^C reaches the whole group: only the master decides */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&only_term);
	sigaddset(&only_term, SIGTERM);
	sigprocmask(SIG_SETMASK, &only_term, NULL);
}

/* Opened after fork, and again (at most once a second) if it failed. */
static void worker_open_store(const struct config *cfg)
{
	char err[512];

	if (worker_store != NULL || util_mono_ms() - worker_store_tried < 1000)
		return;
	worker_store_tried = util_mono_ms();
	if (store_open(cfg->database, &worker_store, err, sizeof(err)) < 0) {
		log_error("database %s: %s", cfg->database, err);
		worker_store = NULL;
	}
}

static void send_response(struct request *req, struct response *resp)
{
	int64_t dur = util_mono_ms() - req->start_mono;
	size_t len = 0;
	char *buf = resp_serialize(resp, req->request_id, dur, &len);

	if (buf == NULL) {
		static const char oom[] =
		    "Status: 500 Internal Server Error\r\n"
		    "Content-Type: application/json\r\n\r\n"
		    "{\"error\":{\"type\":\"internal\",\"detail\":\"out of memory\"}}";
		FCGX_PutStr(oom, (int)sizeof(oom) - 1, req->fx->out);
		return;
	}
	if (FCGX_PutStr(buf, (int)len, req->fx->out) < 0)
		log_debug("%s %s: client went away", req->method, req->path);
	free(buf);
}

/*
 * nginx's auth_request for a request that carries a body, made before nginx
 * reads it: 204 lets nginx take the body (the request itself is then routed
 * and authorized again); a 401 or 403 ends it there, and nginx answers it
 * (@hostagent_401/403) with our detail from X-Hostagent-Detail. So a client
 * without a valid token never gets a byte written to disk or parsed.
 */
static int auth_only_answer(struct response *resp)
{
	struct json_object *d;
	char detail[256];
	size_t o = 0;

	if (resp->status == 0) {
		resp->status = 204;
		resp->no_body = true;
		return -1;
	}
	if (resp->error != NULL && json_object_object_get_ex(resp->error, "detail", &d)) {
		/* it goes into nginx's JSON as is: printable ASCII, no quote or backslash */
		for (const char *p = json_object_get_string(d); *p && o + 1 < sizeof(detail); p++)
			detail[o++] =
			    (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') ? *p : '\'';
		detail[o] = '\0';
		resp_header(resp, "X-Hostagent-Detail", "%s", detail);
	}
	return -1;
}

/* Route, authorize, load the body, check the Idempotency-Key: 0 = run the handler. */
static int dispatch_prepare(struct request *req, struct response *resp)
{
	char allow[128];
	const struct route *rt = NULL;
	enum route_result found;
	bool hash;

	found = route_match(route_table, route_table_len, req->method, req->path, &rt, req->params,
	                    &req->n_params, allow, sizeof(allow));
	/* the request itself will say 404 or 405 */
	if (req->auth_only && found != ROUTE_FOUND)
		return auth_only_answer(resp);
	switch (found) {
	case ROUTE_NOT_FOUND:
		resp_error(resp, 404, "not_found", "no such endpoint: %.200s", req->path);
		return -1;
	case ROUTE_BAD_METHOD:
		resp_error(resp, 405, "method_not_allowed",
		           "%s is not allowed on %.200s (allowed: %s)", req->method, req->path,
		           allow);
		resp_header(resp, "Allow", "%s", allow);
		return -1;
	case ROUTE_FOUND:
		break;
	}
	req->route = rt;
	if ((rt->flags & RF_SNAPSHOT) && req->store != NULL)
		store_begin_read(req->store); /* on failure each query just runs alone */
	if (auth_check(req, resp) < 0 || req->auth_only)
		return req->auth_only ? auth_only_answer(resp) : -1;
	hash = req->idem_key != NULL && (rt->flags & RF_IDEMPOTENT) && req->authed;
	if ((rt->flags & (RF_JSON | RF_RAW | RF_MULTIPART)) && req_body_load(req, resp, hash) < 0)
		return -1;
	if (hash && auth_idempotency(req, resp) != 0)
		return -1;
	return 0;
}

static void serve_one(FCGX_Request *fx, const struct config *cfg)
{
	struct request req;
	struct response resp;

	resp_init(&resp);
	worker_open_store(cfg);
	if (req_init(&req, fx, cfg, worker_store, &resp) == 0 &&
	    dispatch_prepare(&req, &resp) == 0) {
		if (req.route->fn(&req, &resp) < 0 && resp.status == 0)
			resp_error(&resp, 500, "internal", "the handler failed without a reason");
		if (resp.status == 0 && !resp.sent)
			resp_error(&resp, 500, "internal", "the handler produced no response");
	}
	/* a read snapshot ends with COMMIT (it wrote nothing: the touch waits for this) */
	if (worker_store != NULL && req.route != NULL && (req.route->flags & RF_SNAPSHOT) &&
	    store_in_transaction(worker_store))
		store_commit(worker_store);
	/* a handler that forgot its transaction must not hold the write lock */
	if (worker_store != NULL)
		store_rollback(worker_store);
	auth_touch(&req);
	if (!resp.sent)
		send_response(&req, &resp);
	log_debug("%s %s%s → %d (%lld ms) id=%s", req.method, req.path ? req.path : "?",
	          req.auth_only ? " (before its body)" : "", resp.status,
	          (long long)(util_mono_ms() - req.start_mono), req.request_id);
	req_clear(&req);
	resp_clear(&resp);
}

/*
 * Waits until fd is readable or SIGTERM arrives: 1 readable, 0 stop. The
 * listening socket is non-blocking and shared by every worker, so being
 * woken does not mean the accept will succeed (another worker may win).
 * Each worker has its own epoll instance with EPOLLEXCLUSIVE: the kernel
 * wakes one waiter per connection instead of the whole pool, which poll()
 * would (the thundering herd cost about a tenth of the throughput), and
 * epoll_pwait() still unblocks SIGTERM atomically for the wait only.
 */
static int wait_readable(int fd)
{
	static int ep = -1;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE};
	sigset_t open_mask;

	if (ep < 0) {
		ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			log_error("epoll on the listening socket: %s", strerror(errno));
			return 0;
		}
	}
	sigemptyset(&open_mask);
	while (!worker_stop) {
		int n = epoll_pwait(ep, &ev, 1, -1, &open_mask);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR) {
			log_error("epoll_pwait: %s", strerror(errno));
			return 0;
		}
	}
	return 0;
}

void worker_run(const struct config *cfg, int listen_fd, int master)
{
	FCGX_Request fx;
	int rc;

	/* a worker outliving a SIGKILLed master would hold the socket forever */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != master)
		_exit(0);
	FCGX_Init();
	worker_signals();
	worker_open_store(cfg);
	if (FCGX_InitRequest(&fx, listen_fd, 0) != 0) {
		log_error("FCGX_InitRequest failed");
		_exit(1);
	}
	/* with fastcgi_keep_conn the next request comes on the kept connection */
	while (wait_readable(fx.ipcFd >= 0 ? fx.ipcFd : listen_fd)) {
		rc = FCGX_Accept_r(&fx);
		if (rc < 0) {
			/* -EAGAIN: another worker won the race for this connection */
			if (rc != -EAGAIN && rc != -EINTR && rc != -ECONNABORTED)
				log_warn("accept: %s", strerror(-rc));
			continue;
		}
		serve_one(&fx, cfg);
		FCGX_Finish_r(&fx);
	}
	FCGX_Finish_r(&fx);
	store_close(worker_store);
	_exit(0);
}
