#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Times bundle_write (runner/bundle.c) against GNU tar on 200 MB of
# log-like text, side by side in one hyperfine run: tar cf, tar czf (gzip -6)
# and tar with gzip -1, then bundle_bench tar and tar.gz (level 1). Prints
# each time as a ratio and the output sizes. Not part of `make check`.
# Usage: tests/bench/bundle.sh [MB, default 200]; RUNS=n (default 5).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
mb=${1:-200}
runs=${RUNS:-5}
command -v hyperfine >/dev/null || { echo "hyperfine is missing: apt-get install -y hyperfine" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/bundle-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

cc -O2 -std=gnu11 -I"$top/common" -I"$top/runner" "$top/tests/bench/bundle_bench.c" \
	"$top/runner/bundle.c" "$top/common/archive.c" "$top/common/util.c" "$top/common/log.c" \
	$(pkg-config --cflags --libs libarchive libcrypto) -o "$work/bundle_bench"

# Log lines as a service writes them: timestamps, levels, ids, paths, durations.
mkdir "$work/logs"
files=$(( (mb + 9) / 10 ))
for i in $(seq 1 "$files"); do
	awk -v seed="$i" -v bytes=$((10 * 1024 * 1024)) 'BEGIN {
		srand(seed); split("INFO INFO INFO INFO DEBUG WARN ERROR", lv, " ");
		split("/api/v1/tasks /api/v1/projects /api/v1/host /health /api/v1/workers/claim", pa, " ");
		t = 1763852855; n = 0;
		while (n < bytes) {
			t += rand() * 0.05;
			line = sprintf("%s.%03dZ %-5s worker[%d]: request_id=%08x%08x %s/%04x status=%d duration_ms=%.2f bytes=%d",
				strftime("%Y-%m-%dT%H:%M:%S", int(t), 1), int((t - int(t)) * 1000), lv[int(rand() * 7) + 1],
				1000 + int(rand() * 8), int(rand() * 4294967295), int(rand() * 4294967295),
				pa[int(rand() * 5) + 1], int(rand() * 65535), (rand() < 0.95 ? 200 : 500),
				rand() * 250, int(rand() * 100000));
			print line; n += length(line) + 1;
		}
	}' > "$work/logs/service-$i.log"
done
echo "data: $(du -sm "$work/logs" | cut -f1) MB in $files files"

cd "$work"
hyperfine --warmup 1 --runs "$runs" --export-csv "$work/times.csv" \
	-n 'tar cf' "tar cf $work/gnu.tar -C $work/logs ." \
	-n 'tar czf' "tar czf $work/gnu.tar.gz -C $work/logs ." \
	-n 'tar gzip -1' "tar -I 'gzip -1' -cf $work/gnu1.tar.gz -C $work/logs ." \
	-n 'bundle tar' "$work/bundle_bench tar $work/b.tar $work/logs/*" \
	-n 'bundle tar.gz' "$work/bundle_bench tar.gz $work/b.tar.gz $work/logs/*"

awk -F, -v mb="$mb" 'NR > 1 { gsub(/"/, "", $1); t[$1] = $4 }
END {
	printf "\nmedian seconds and throughput:\n";
	n = split("tar cf|tar czf|tar gzip -1|bundle tar|bundle tar.gz", k, "|");
	for (i = 1; i <= n; i++) printf "  %-14s %7.3f s  %7.1f MB/s\n", k[i], t[k[i]], mb / t[k[i]];
	printf "ratios (time, lower is faster for the first):\n";
	printf "  bundle tar    / tar cf      = %.2f\n", t["bundle tar"] / t["tar cf"];
	printf "  bundle tar.gz / tar czf     = %.2f  (tar czf is %.1fx slower)\n", t["bundle tar.gz"] / t["tar czf"], t["tar czf"] / t["bundle tar.gz"];
	printf "  bundle tar.gz / tar gzip -1 = %.2f\n", t["bundle tar.gz"] / t["tar gzip -1"];
}' "$work/times.csv"
echo "sizes (MB): gnu.tar $(du -m gnu.tar | cut -f1), b.tar $(du -m b.tar | cut -f1)," \
	"gnu.tar.gz $(du -m gnu.tar.gz | cut -f1), gnu1.tar.gz $(du -m gnu1.tar.gz | cut -f1)," \
	"b.tar.gz $(du -m b.tar.gz | cut -f1)"
