#!/bin/sh
# SPDX-License-Identifier: MIT
# The frozen-migration check make check runs: every common/migrations/*.sql
# must match its line in SHA256SUMS and be in MIGRATIONS (common/Makefile.inc),
# and every line must name a file. A released migration may already have run
# on a host, so editing it would leave that host with a schema no fresh
# install has. Usage: frozen.sh [DIR]
set -eu
dir=${1:-${srcdir:-.}/common/migrations}
sums=$dir/SHA256SUMS
mk=$dir/../Makefile.inc
bad=0

fail() {
	printf 'FROZEN MIGRATIONS: %s\n' "$*" >&2
	bad=1
}

[ -f "$sums" ] || {
	fail "$sums is missing"
	exit 1
}
for f in "$dir"/*.sql; do
	[ -f "$f" ] || continue
	name=${f##*/}
	want=$(awk -v n="$name" '$2 == n || $2 == "*" n { print $1 }' "$sums")
	got=$(sha256sum <"$f" | cut -d' ' -f1)
	if [ -z "$want" ]; then
		fail "common/migrations/$name has no line in SHA256SUMS. If it is a new" \
			"migration, add one: (cd common/migrations && sha256sum $name >> SHA256SUMS)."
	elif ! grep -qF "common/migrations/$name" "$mk"; then
		fail "common/migrations/$name is not in MIGRATIONS (common/Makefile.inc), so no" \
			"build would apply it: add it there."
	elif [ "$want" != "$got" ]; then
		fail "common/migrations/$name was changed after its release (sha256 $got," \
			"SHA256SUMS says $want). Never edit a released migration: restore it" \
			"(git checkout -- common/migrations/$name) and put the change in the next" \
			"numbered file."
	fi
done
while read -r _ name; do
	name=${name#\*}
	[ -f "$dir/$name" ] || fail "SHA256SUMS lists $name, which is gone: a released migration is never deleted"
done <"$sums"
[ "$bad" = 0 ] && echo "migrations frozen: every file matches SHA256SUMS"
exit "$bad"
