#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Upload rate of a 200 MB artifact (a tar of random data) POSTed with curl
# through nginx, side by side in one nginx, 5 runs each with hyperfine:
#   hostagent   POST /api/v1/artifacts: nginx writes the body to a file,
#               the handler hashes and inspects it, links it into
#               artifacts/ and commits the row (the full upload path)
#   nginx-file  the same nginx writing the same body to a file itself and
#               answering 201 (client_body_in_file_only clean, then a proxy
#               hop to a `return 201` location: a bare `return 201` would
#               discard the body unread, which is not the same work)
# Before every run the file's first data block is rewritten with random bytes,
# so that every upload is a new artifact (the same bytes twice would only be
# looked up), and `sync` runs, so that no run pays for the previous one's
# dirty pages. Never pass/fail: it prints a table with the ratio.
# Environment: BENCH_UPLOAD_MB (200), BENCH_RUNS (5), HOSTAGENT_BUILD_DIR
# (./build). The table is also written to build/bench/upload.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${HOSTAGENT_BUILD_DIR:-$ROOT/build}
MB=${BENCH_UPLOAD_MB:-200}
RUNS=${BENCH_RUNS:-5}

FCGI=$BUILD/fcgi/hostagent-fcgi
CTL=$BUILD/ctl/hostagentctl
for f in "$FCGI" "$CTL"; do
	[[ -x $f ]] || { echo "upload.sh: $f is not built (./dev build)" >&2; exit 1; }
done
for c in hyperfine nginx curl python3; do
	command -v "$c" >/dev/null || { echo "upload.sh: $c is missing" >&2; exit 1; }
done

PREFIX=hostagent-bench-upload
# shellcheck source=tests/bench/common.bash
. "$ROOT/tests/bench/common.bash"

mkdir -p "$DATA/tmp/upload" "$DATA/tmp/sink" "$NGX"/{conf,logs} \
	"$NGX"/tmp/{client_body,proxy,fastcgi,uwsgi,scgi}
CONF=$WORK/hostagent.conf
printf 'data_dir = %s\nlog_level = warn\nfcgi_workers = 4\n' "$DATA" >"$CONF"
TOKEN=$(daemon_env "$CTL" -c "$CONF" token create --name bench --scopes admin)
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT

conf=$NGX/conf
sh "$ROOT/nginx/render" -o "$conf/http.conf" "$ROOT/nginx/hostagent-http.conf.in" \
	FCGI_SOCKET="$DATA/run/fcgi.sock" RATE=1000000r/s
sh "$ROOT/nginx/render" -o "$conf/locations.conf" "$ROOT/nginx/hostagent-locations.conf.in" \
	DATA_DIR="$DATA" RATE_BURST=1000000
cat >"$conf/nginx.conf" <<EOF
user $(id -un);
worker_processes 2;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log warn;
events { worker_connections 1024; }
http {
    client_body_temp_path $NGX/tmp/client_body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    access_log off;
    include $conf/http.conf;
    server {
        listen 127.0.0.1:$PORT;
        # nginx alone: the body goes to a file on the same filesystem as the
        # handler's uploads, then a 201 (after one proxy hop without the body)
        location = /bench/sink {
            client_max_body_size 1g;
            client_body_in_file_only clean;
            client_body_temp_path $DATA/tmp/sink;
            client_body_timeout 300s;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_pass http://127.0.0.1:$PORT/bench/created;
        }
        location = /bench/created { return 201 '{"result":{}}'; }
        include $conf/locations.conf;
    }
}
EOF
nginx -t -q -p "$NGX" -c conf/nginx.conf -e stderr

(exec env -i PATH="$PATH" HOME="${HOME:-/root}" "$FCGI" -c "$CONF" </dev/null >>"$WORK/fcgi.log" 2>&1) &
PIDS+=($!)
nginx -p "$NGX" -c conf/nginx.conf -e "$NGX/logs/error.log" -g 'daemon off;' </dev/null &
PIDS+=($!)
deadline=$((SECONDS + 30))
until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/ping" || true) == 200 ]]; do
	((SECONDS < deadline)) || { echo "upload.sh: the stack did not answer /ping" >&2; cat "$WORK/fcgi.log" >&2; exit 1; }
	sleep 0.1
done

FILE=$WORK/artifact.tar
python3 - "$FILE" "$MB" <<'EOF'
import os, sys, tarfile
path, mb = sys.argv[1], int(sys.argv[2])
size = mb * 1000 * 1000
ti = tarfile.TarInfo("random.bin")
ti.size = size
with open(path, "wb") as f:
    f.write(ti.tobuf(tarfile.GNU_FORMAT))
    left = size
    while left:
        n = min(left, 1 << 20)
        f.write(os.urandom(n))
        left -= n
    f.write(bytes((-size) % 512 + 1024))
EOF
BYTES=$(stat -c %s "$FILE")

# a new artifact for every run: 512 new random bytes at the start of the data
PREPARE="dd if=/dev/urandom of=$FILE bs=512 seek=1 count=1 conv=notrunc status=none; sync"
CURL="curl -sS -f -o /dev/null -X POST -T $FILE -H Expect: -H Content-Type:application/octet-stream"
# check once that both answer as expected before timing them
code=$($CURL -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/artifacts") || true
[[ $code == 201 ]] || { echo "upload.sh: POST /api/v1/artifacts answered $code" >&2; cat "$WORK/fcgi.log" >&2; exit 1; }
code=$($CURL -w '%{http_code}' "$BASE/bench/sink") || true
[[ $code == 201 ]] || { echo "upload.sh: the sink answered $code" >&2; exit 1; }

JSON=$WORK/hyperfine.json
hyperfine --style basic --runs "$RUNS" --prepare "$PREPARE" --export-json "$JSON" \
	-n hostagent "$CURL -H 'Authorization: Bearer $TOKEN' $BASE/api/v1/artifacts" \
	-n nginx-file "$CURL $BASE/bench/sink" >&2

mkdir -p "$BUILD/bench"
python3 - "$JSON" "$BYTES" "$RUNS" <<'EOF' | tee "$BUILD/bench/upload.txt"
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
size, runs = int(sys.argv[2]), sys.argv[3]
base = res["nginx-file"]["median"]
print("upload of %.0f MB (tar of random data), %s runs each, median" % (size / 1e6, runs))
print("%-12s %10s %10s %10s %12s" % ("target", "median s", "min s", "max s", "MB/s"))
for name in ("nginx-file", "hostagent"):
    r = res[name]
    print("%-12s %10.3f %10.3f %10.3f %12.1f" % (name, r["median"], r["min"], r["max"],
                                                size / 1e6 / r["median"]))
print("ratio hostagent / nginx-file (rate): %.2f" % (base / res["hostagent"]["median"]))
EOF
