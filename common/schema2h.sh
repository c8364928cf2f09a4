#!/bin/sh
# Turns schema.sql into a C string constant (common/schema.h).
set -eu
printf '/* generated from schema.sql: do not edit */\nstatic const char schema_v1_sql[] =\n'
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$/\\n"/' "$1"
printf ';\n'
