#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Upload rate of a 200 MB artifact (a tar of random data) POSTed with curl
# through nginx, side by side in one nginx, timed by hyperfine:
#   hostagent   POST /api/v1/artifacts: nginx writes the body to a file while
#               the upload inspector follows it (hash + archive policy); the
#               handler gets the verdict, fsyncs, links the file into
#               artifacts/ and commits the row (the full upload path)
#   nginx-file  the same nginx writing the same body to a file itself and
#               answering 201 (client_body_in_file_only clean, then a proxy
#               hop to a `return 201` location: a bare `return 201` would
#               discard the body unread, which is not the same work)
# The two are interleaved, one run of each per hyperfine call, in alternating
# order: this machine's disk slows down for seconds after a few hundred MB
# were made durable, and back-to-back blocks of runs would give one target
# the slow spells. Before every run the file's first data block is rewritten
# with random bytes, so that every upload is a new artifact (the same bytes
# twice would only be looked up), the artifact of the previous run is
# deleted, `sync` runs and BENCH_SETTLE seconds pass, so that no run pays
# for the previous one's writes. The handler's own time
# (meta.duration_ms, from its log) is reported beside the totals. Two
# ratios: of the medians, and the median of the per-pair ratios (each pair
# ran seconds apart, so it shares the machine's state: the steadier figure
# on a noisy machine). Never pass/fail: it prints a table with the ratios.
# Environment: BENCH_UPLOAD_MB (200), BENCH_RUNS (20), BENCH_SETTLE (1),
# HOSTAGENT_BUILD_DIR (./build). The table is also written to
# build/bench/upload.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${HOSTAGENT_BUILD_DIR:-$ROOT/build}
MB=${BENCH_UPLOAD_MB:-200}
RUNS=${BENCH_RUNS:-20}
SETTLE=${BENCH_SETTLE:-1}

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

mkdir -p "$DATA/tmp/upload" "$DATA/tmp/sink"
CONF=$WORK/hostagent.conf
printf 'data_dir = %s\nlog_level = debug\nfcgi_workers = 4\n' "$DATA" >"$CONF"
TOKEN=$(daemon_env "$CTL" -c "$CONF" token create --name bench --scopes admin)
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT

bench_nginx_conf 1024 <<EOF
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
        include $NGX/conf/locations.conf;
    }
EOF

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
# a tar holding one file of random bytes, made as the e2e tests make theirs
python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import archives
archives.write_random_tar(sys.argv[2], int(sys.argv[3]) * 1000 * 1000)' \
	"$ROOT/tests/e2e" "$FILE" "$MB"
BYTES=$(stat -c %s "$FILE")

# Before every run: 512 new random bytes at the start of the data (a new
# artifact every time), and the previous artifact is deleted through the
# API, so that every upload writes the same disk blocks: on this machine's
# virtual disk, blocks never written before are several times slower, and
# keeping every run's 200 MB would make the later runs measure that.
cat >"$WORK/prepare" <<EOF
#!/bin/sh
dd if=/dev/urandom of=$FILE bs=512 seek=1 count=1 conv=notrunc status=none
curl -sS -f -H 'Authorization: Bearer $TOKEN' $BASE/api/v1/artifacts |
	python3 -c 'import json, sys; [print(a["sha256"]) for a in json.load(sys.stdin)["result"]]' |
	while read -r sha; do
		curl -sS -f -o /dev/null -X DELETE -H 'Authorization: Bearer $TOKEN' $BASE/api/v1/artifacts/\$sha
	done
sync
sleep $SETTLE
EOF
chmod +x "$WORK/prepare"
PREPARE=$WORK/prepare
CURL="curl -sS -f -o /dev/null -X POST -T $FILE -H Expect: -H Content-Type:application/octet-stream"
# check once that both answer as expected before timing them
code=$($CURL -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/artifacts") || true
[[ $code == 201 ]] || { echo "upload.sh: POST /api/v1/artifacts answered $code" >&2; cat "$WORK/fcgi.log" >&2; exit 1; }
code=$($CURL -w '%{http_code}' "$BASE/bench/sink") || true
[[ $code == 201 ]] || { echo "upload.sh: the sink answered $code" >&2; exit 1; }

HOST_CMD="$CURL -H 'Authorization: Bearer $TOKEN' $BASE/api/v1/artifacts"
SINK_CMD="$CURL $BASE/bench/sink"
for ((i = 0; i < RUNS; i++)); do
	if ((i % 2)); then
		set -- -n nginx-file "$SINK_CMD" -n hostagent "$HOST_CMD"
	else
		set -- -n hostagent "$HOST_CMD" -n nginx-file "$SINK_CMD"
	fi
	hyperfine --style none --runs 1 --prepare "$PREPARE" --export-json "$WORK/run-$i.json" \
		"$@" >/dev/null
done


mkdir -p "$BUILD/bench"
python3 - "$WORK" "$BYTES" "$RUNS" "$DATA/log/fcgi.log" <<'EOF' | tee "$BUILD/bench/upload.txt"
import glob, json, re, statistics, sys
work, size, runs, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
text = open(log).read()
times, pairs = {}, []
for path in glob.glob(work + "/run-*.json"):
    one = {r["command"]: r["times"][0] for r in json.load(open(path))["results"]}
    for name, t in one.items():
        times.setdefault(name, []).append(t)
    # the two runs of one call are seconds apart: their ratio shares the machine's state
    pairs.append(one["nginx-file"] / one["hostagent"])
# the handler's own time: its log line for every 201 (the first is the check)
handler = [int(m) for m in re.findall(r"POST /api/v1/artifacts \S+ 201 \((\d+) ms\)", text)][1:]
# how each upload was inspected (the first line is the check's)
how = re.findall(r"stored, inspected (while uploading|after the upload)", text)[1:]
followed = how.count("while uploading")
print("upload of %.0f MB (tar of random data), %s interleaved runs each" % (size / 1e6, runs))
print("%-12s %10s %10s %10s %12s" % ("target", "median s", "min s", "max s", "MB/s"))
for name in ("nginx-file", "hostagent"):
    t = times[name]
    print("%-12s %10.3f %10.3f %10.3f %12.1f" % (name, statistics.median(t), min(t), max(t),
                                                size / 1e6 / statistics.median(t)))
if handler:
    print("handler time (meta.duration_ms): median %d ms, max %d ms; inspected while "
          "uploading: %d of %d" % (statistics.median(handler), max(handler), followed,
                                  len(handler)))
print("ratio hostagent / nginx-file (rate, medians): %.2f" %
      (statistics.median(times["nginx-file"]) / statistics.median(times["hostagent"])))
print("ratio hostagent / nginx-file (rate, median of the %d side-by-side pairs): %.2f "
      "(quartiles %.2f-%.2f)" % (len(pairs), statistics.median(pairs),
                                 *statistics.quantiles(pairs, n=4)[::2]))
EOF
