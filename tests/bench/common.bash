# SPDX-License-Identifier: MIT
# Sourced by the benchmark scripts (not a benchmark: ./dev bench runs *.sh).
# A private work directory, the processes a benchmark starts, and their
# teardown: by PID, then a by-PID safety net for anything still naming the
# work directory. The caller sets PREFIX before sourcing and CONF before
# calling daemon_env.
WORK=$(mktemp -d "/tmp/${PREFIX:-hostagent-bench}.XXXXXX")
DATA=$WORK/data
NGX=$WORK/nginx
PIDS=()

stop_all() {
	local p deadline
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	deadline=$((SECONDS + 15))
	for p in "${PIDS[@]}"; do
		while kill -0 "$p" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	PIDS=()
}

cleanup() {
	local d
	stop_all
	for d in /proc/[0-9]*; do
		[[ ${d#/proc/} != "$$" ]] && tr '\0' ' ' 2>/dev/null <"$d/cmdline" | grep -qF "$WORK" &&
			kill -KILL "${d#/proc/}" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The daemons get a clean environment (no HOSTAGENT_* of the caller's).
daemon_env() {
	env -i PATH="$PATH" HOME="${HOME:-/root}" HOSTAGENT_CONFIG="$CONF" "$@"
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# nginx for a benchmark, in the private prefix $NGX: hostagent's http part
# and locations rendered for $DATA without a rate limit, then the caller's
# http-level text from stdin (its upstreams and its server, which has
# `include $NGX/conf/locations.conf;` where hostagent's locations go).
# Extra NAME=VALUE arguments go to every template. Checked with nginx -t.
bench_nginx_conf() { # WORKER_CONNECTIONS [NAME=VALUE]...
	local wc=$1 conf=$NGX/conf
	shift
	mkdir -p "$DATA/tmp/upload" "$conf" "$NGX/logs" "$NGX"/tmp/{client_body,proxy,fastcgi,uwsgi,scgi}
	sh "$ROOT/nginx/render" -o "$conf/http.conf" "$ROOT/nginx/hostagent-http.conf.in" \
		FCGI_SOCKET="$DATA/run/fcgi.sock" RATE=1000000r/s "$@"
	sh "$ROOT/nginx/render" -o "$conf/fastcgi.conf" "$ROOT/nginx/hostagent-fastcgi.conf.in" "$@"
	sh "$ROOT/nginx/render" -o "$conf/errors.conf" "$ROOT/nginx/hostagent-errors.conf.in" "$@"
	sh "$ROOT/nginx/render" -o "$conf/locations.conf" "$ROOT/nginx/hostagent-locations.conf.in" \
		DATA_DIR="$DATA" RATE_BURST=1000000 FASTCGI_SNIPPET="$conf/fastcgi.conf" \
		ERRORS_SNIPPET="$conf/errors.conf" "$@"
	{
		cat <<CONF
user $(id -un);
worker_processes 2;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log warn;
events { worker_connections $wc; }
http {
    client_body_temp_path $NGX/tmp/client_body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    access_log off;
    include $conf/http.conf;
CONF
		cat
		echo "}"
	} >"$conf/nginx.conf"
	nginx -t -q -p "$NGX" -c conf/nginx.conf -e stderr
}
