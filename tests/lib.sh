# SPDX-License-Identifier: GPL-2.0-only
# Shared helpers for tests/priv/*.sh. Source it: . "$SNIGATE_ROOT/tests/lib.sh"
# Each test runs in its own network namespaces; cleanup runs on exit.
set -u
: "${SNIGATE_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${BUILD:=build}"
SNIGATE="$SNIGATE_ROOT/$BUILD/snigate"
TOOLS="$SNIGATE_ROOT/$BUILD/tests/tools"
TMP=$(mktemp -d /tmp/snigate-test.XXXXXX)
# Cleanups go to a file, not only an array: at_exit called in a subshell
# (NS=$(new_netns x)) must still run, else every such netns leaks.
_cleanups=()
at_exit() { printf '%s\n' "$*" >>"$TMP/.cleanups"; }
_run_cleanups() {
	local i
	[ -f "$TMP/.cleanups" ] && mapfile -t _cleanups <"$TMP/.cleanups"
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[$i]}" >/dev/null 2>&1 || true; done
	rm -rf "$TMP"
}
trap _run_cleanups EXIT
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
# new_netns NAME: a private netns with lo up, removed at exit
new_netns() {
	local ns="sng-$1-$$"
	ip netns add "$ns" || fail "ip netns add $ns"
	at_exit "ip netns del $ns"
	ip -n "$ns" link set lo up
	echo "$ns"
}
# wait_port NS PORT [SECONDS]: wait until something listens on TCP PORT in NS
wait_port() {
	local ns=$1 port=$2 t=${3:-10} i
	for ((i = 0; i < t * 20; i++)); do
		ip netns exec "$ns" ss -Htln "sport = :$port" | grep -q . && return 0
		sleep 0.05
	done
	return 1
}
# known_bug ID WHAT: record that a known, documented bug (docs/reliability.md,
# "Open defects") showed up. The test goes on; if nothing else fails,
# run-priv.sh reports it as XFAIL with this text instead of PASS.
known_bug() {
	local id=$1; shift
	echo "XFAIL: known bug $id: $*"
	[ -n "${SNG_XFAIL_FILE:-}" ] && echo "$id: $*" >>"$SNG_XFAIL_FILE"
	return 0
}
# ms_now: wall clock in milliseconds
ms_now() { date +%s%3N; }
