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
