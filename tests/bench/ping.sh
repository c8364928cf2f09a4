#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Throughput of the request path, side by side in one nginx, with wrk
# (64 connections, 2 threads, 10 s each):
#   static    nginx answering `return 200` itself (the ceiling)
#   minimal   a bare libfcgi responder pre-forked to the pool's size
#             (tests/bench/minimal_responder.c: the floor libfcgi sets)
#   ping      hostagent's GET /ping (routing, envelope, no database)
#   tokens    hostagent's authenticated GET /api/v1/tokens (token look-up
#             and a list query in SQLite)
# for pool sizes 4 and 8, with nginx's keep-alive to the pool off and on.
# The bench nginx renders a rate limit far above what wrk can reach.
# Environment: BENCH_FILLER_TOKENS (20: the list answers 21 rows; 0 for one),
# BENCH_DURATION (10), BENCH_POOLS ("4 8"), BENCH_KEEPALIVE
# ("off on"), HOSTAGENT_BUILD_DIR (./build). The table is also written to
# build/bench/ping.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${HOSTAGENT_BUILD_DIR:-$ROOT/build}
DURATION=${BENCH_DURATION:-10}
POOLS=${BENCH_POOLS:-4 8}
KEEPALIVES=${BENCH_KEEPALIVE:-off on}
CONNS=64
THREADS=2

FCGI=$BUILD/fcgi/hostagent-fcgi
CTL=$BUILD/ctl/hostagentctl
for f in "$FCGI" "$CTL"; do
	[[ -x $f ]] || { echo "ping.sh: $f is not built (./dev build)" >&2; exit 1; }
done
for c in wrk nginx cc curl; do
	command -v "$c" >/dev/null || { echo "ping.sh: $c is missing" >&2; exit 1; }
done

MINIMAL=$BUILD/tests/bench/minimal_responder
if [[ ! -x $MINIMAL || $ROOT/tests/bench/minimal_responder.c -nt $MINIMAL ]]; then
	mkdir -p "$(dirname "$MINIMAL")"
	cc -O2 -Wall -Wextra -o "$MINIMAL" "$ROOT/tests/bench/minimal_responder.c" -lfcgi
fi

PREFIX=hostagent-bench
# shellcheck source=tests/bench/common.bash
. "$ROOT/tests/bench/common.bash"

mkdir -p "$DATA/tmp/upload"
CONF=$WORK/hostagent.conf

# An admin token: GET /api/v1/tokens needs the admin scope.
printf 'data_dir = %s\nlog_level = warn\n' "$DATA" >"$CONF"
TOKEN=$(daemon_env "$CTL" -c "$CONF" token create --name bench --scopes admin)
for ((i = 1; i <= ${BENCH_FILLER_TOKENS:-20}; i++)); do
	daemon_env "$CTL" -c "$CONF" token create --name "bench-filler-$i" --scopes read >/dev/null
done
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT

render_nginx() { # POOL KEEPALIVE
	local pool=$1 ka=$2
	bench_nginx_conf 4096 UPSTREAM_KEEPALIVE="$pool" FCGI_KEEP_CONN="$ka" <<EOF
    keepalive_requests 100000;
    upstream bench_minimal {
        server unix:$WORK/minimal.sock max_fails=0;
        keepalive $pool;
    }
    server {
        listen 127.0.0.1:$PORT backlog=4096;
        location = /static {
            default_type application/json;
            return 200 '{"result":"pong","meta":{"request_id":"\$request_id","duration_ms":0}}';
        }
        location = /minimal {
            fastcgi_param REQUEST_METHOD \$request_method;
            fastcgi_param REQUEST_URI \$request_uri;
            fastcgi_param DOCUMENT_URI \$uri;
            fastcgi_param REQUEST_ID \$request_id;
            fastcgi_pass bench_minimal;
            fastcgi_keep_conn $ka;
        }
        include $NGX/conf/locations.conf;
    }
EOF
}

wait_200() { # URL [curl args]
	local url=$1 deadline=$((SECONDS + 30))
	shift
	while ((SECONDS < deadline)); do
		[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$url" || true) == 200 ]] && return 0
		sleep 0.1
	done
	echo "ping.sh: $url never answered 200" >&2
	return 1
}

# wrk's figures: "req/s p99_ms errors"
run_wrk() { # URL [wrk args]
	local url=$1 out
	shift
	out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 5s --latency "$@" "$url")
	awk '
		function ms(v) {
			if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
			if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
			if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
			return v + 0
		}
		/^Requests\/sec:/ { rps = $2 }
		/^ +99%/ { p99 = ms($2) }
		/Socket errors:/ { gsub(",", ""); err += $4 + $6 + $8 + $10 }
		/Non-2xx or 3xx responses:/ { err += $5 }
		END { printf "%.0f %.2f %d\n", rps, p99, err }' <<<"$out"
}

RESULTS=$WORK/results
: >"$RESULTS"
for pool in $POOLS; do
	for ka in $KEEPALIVES; do
		printf 'data_dir = %s\nlog_level = warn\nfcgi_workers = %s\n' "$DATA" "$pool" >"$CONF"
		render_nginx "$pool" "$ka"
		# exec: $! must be the pool master itself, not a subshell around it
		(exec env -i PATH="$PATH" HOME="${HOME:-/root}" "$FCGI" -c "$CONF" \
			</dev/null >>"$WORK/fcgi.log" 2>&1) &
		PIDS+=($!)
		"$MINIMAL" "$WORK/minimal.sock" "$pool" </dev/null >>"$WORK/minimal.log" 2>&1 &
		PIDS+=($!)
		nginx -p "$NGX" -c conf/nginx.conf -e "$NGX/logs/error.log" -g 'daemon off;' </dev/null &
		PIDS+=($!)
		wait_200 "$BASE/ping"
		wait_200 "$BASE/minimal"
		wait_200 "$BASE/api/v1/tokens" -H "Authorization: Bearer $TOKEN"
		echo "pool $pool, keep-alive $ka" >&2
		for target in static minimal ping tokens; do
			case $target in
			static) r=$(run_wrk "$BASE/static") ;;
			minimal) r=$(run_wrk "$BASE/minimal") ;;
			ping) r=$(run_wrk "$BASE/ping") ;;
			tokens) r=$(run_wrk "$BASE/api/v1/tokens" -H "Authorization: Bearer $TOKEN") ;;
			esac
			echo "  $target: $r" >&2
			echo "$pool $ka $target $r" >>"$RESULTS"
		done
		stop_all
	done
done

table=$(awk '
	{ rps[$1, $2, $3] = $4; p99[$1, $2, $3] = $5; err[$1, $2, $3] = $6
	  if (!(($1, $2) in seen)) { seen[$1, $2] = 1; order[++n] = $1 SUBSEP $2 } }
	END {
		printf "%-5s %-10s %-8s %10s %10s %8s %14s\n", "pool", "keepalive", "target", "req/s", "p99 ms", "errors", "÷ minimal"
		split("static minimal ping tokens", t, " ")
		for (i = 1; i <= n; i++) {
			split(order[i], k, SUBSEP)
			m = rps[k[1], k[2], "minimal"]
			for (j = 1; j <= 4; j++) {
				key = k[1] SUBSEP k[2] SUBSEP t[j]
				ratio = (m > 0) ? sprintf("%.2f", rps[key] / m) : "-"
				printf "%-5s %-10s %-8s %10d %10.2f %8d %14s\n", k[1], k[2], t[j], rps[key], p99[key], err[key], ratio
			}
		}
	}' "$RESULTS")
mkdir -p "$BUILD/bench"
{
	echo "wrk -t$THREADS -c$CONNS -d${DURATION}s, nginx 2 workers, $(nproc) cores"
	echo "$table"
} | tee "$BUILD/bench/ping.txt"
