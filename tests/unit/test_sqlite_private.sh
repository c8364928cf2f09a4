#!/bin/sh
# SPDX-License-Identifier: MIT
# SQLite stays inside the store: no file outside common/store*.c may include
# <sqlite3.h>, call the SQLite API or include the store's private header.
top=${top_srcdir:-$(dirname "$0")/../..}
cd "$top" || exit 1
hits=$(grep -rnE 'sqlite3|store_sql\.h' fcgi runner shim ctl common --include='*.[ch]' |
	grep -vE '^common/store[a-z_]*\.[ch]:')
if [ -n "$hits" ]; then
	printf 'SQLite used outside common/store*.c:\n%s\n' "$hits"
	exit 1
fi
# the public header must not leak it either
if grep -nE '#include.*(sqlite3|store_sql)|sqlite3_?[a-z]*[ *]*\(|sqlite3_stmt' common/store.h; then
	echo 'common/store.h must stay sqlite-free'
	exit 1
fi
exit 0
