#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Times bundle_write (runner/bundle.c) against GNU tar on 200 MB of
# log-like text, like with like: bundle tar against `tar cf`, bundle tar.gz
# (gzip level 1) against tar with `gzip -1`, and against `tar czf` (level 6)
# for what an operator would type. The two sides of a comparison are
# interleaved, one run of each per hyperfine call, in alternating order,
# with `sync` and a second of rest before every run, the way upload.sh does:
# this machine's disk has slow spells after a few hundred MB are written,
# and blocks of runs would give one side all of them. Neither side fsyncs
# (a bundle is derived data). Prints, per comparison, the medians, the
# ratio of the medians and the median of the per-pair ratios.
# Usage: tests/bench/bundle.sh [MB, default 200]; PAIRS=n (default 8).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
mb=${1:-200}
pairs=${PAIRS:-8}
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
# pair NAME_A CMD_A NAME_B CMD_B: $pairs interleaved pairs into pairs-NAME_A.csv
pair() {
	local i order
	: >"$work/pairs-$1.csv"
	for i in $(seq 1 "$pairs"); do
		if ((i % 2)); then order=("$1" "$2" "$3" "$4"); else order=("$3" "$4" "$1" "$2"); fi
		hyperfine --style none --runs 1 --prepare 'sync; sleep 1' --export-csv "$work/one.csv" \
			-n "${order[0]}" "${order[1]}" -n "${order[2]}" "${order[3]}" >/dev/null
		awk -F, 'NR > 1 { gsub(/"/, "", $1); printf "%s,%s\n", $1, $2 }' "$work/one.csv" \
			>>"$work/pairs-$1.csv"
	done
	awk -F, -v a="$1" -v b="$3" -v mb="$mb" '
	function median(v, n,   i, j, t) {
		for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
			t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
		return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
	$1 == a { ta[++na] = $2 } $1 == b { tb[++nb] = $2 }
	END {
		for (i = 1; i <= na; i++) r[i] = tb[i] / ta[i]
		ma = median(ta, na); mbb = median(tb, nb); mr = median(r, na)
		printf "%-14s median %.3f s (%.0f MB/s)   %-12s median %.3f s (%.0f MB/s)\n", a, ma, mb / ma, b, mbb, mb / mbb
		printf "  time %s / %s: ratio of medians %.2f, median of %d per-pair ratios %.2f\n", b, a, mbb / ma, na, mr
	}' "$work/pairs-$1.csv"
}
pair 'tar cf' "tar cf $work/gnu.tar -C $work/logs ." 'bundle tar' "$work/bundle_bench tar $work/b.tar $work/logs/*"
pair 'tar gzip -1' "tar -I 'gzip -1' -cf $work/gnu1.tar.gz -C $work/logs ." 'bundle tar.gz' "$work/bundle_bench tar.gz $work/b.tar.gz $work/logs/*"
pair 'tar czf' "tar czf $work/gnu.tar.gz -C $work/logs ." 'bundle tar.gz' "$work/bundle_bench tar.gz $work/b.tar.gz $work/logs/*"
echo "sizes (MB): gnu.tar $(du -m gnu.tar | cut -f1), b.tar $(du -m b.tar | cut -f1)," \
	"gnu.tar.gz $(du -m gnu.tar.gz | cut -f1), gnu1.tar.gz $(du -m gnu1.tar.gz | cut -f1)," \
	"b.tar.gz $(du -m b.tar.gz | cut -f1)"
