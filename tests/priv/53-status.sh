#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `snigate status` and --status-file against `snigate check` of the same
# manifests (tests/priv/5x-manifests, with rejected listeners and routes):
# status -o json and the status file are byte-identical to check -o json,
# -o yaml to check -o yaml; -o text names the serial and every object; the
# control socket is mode 0600 and refuses non-root peers; no agent is a
# clear error, and the socket is gone after the agent stops.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/5x-lib.inc"
"$SNIGATE" run --help | grep -q -- --control-socket || skip "snigate run has no --control-socket yet (not wired)"
ops_setup status
"$SNIGATE" check -f "$MANIFESTS" -o json >"$TMP/check.json" 2>/dev/null || fail "check -o json"
"$SNIGATE" check -f "$MANIFESTS" -o yaml >"$TMP/check.yaml" 2>/dev/null || fail "check -o yaml"

"$SNIGATE" status --control-socket "$CTL" >/dev/null 2>"$TMP/err" && fail "status without an agent succeeded"
grep -q "is snigate run serving" "$TMP/err" || fail "no-agent error: $(cat "$TMP/err")"
ok "no agent: $(cat "$TMP/err")"

ops_agent sockmap --control-socket "$CTL" --status-file "$TMP/status.json"
for i in $(seq 50); do [ -S "$CTL" ] && break; sleep 0.1; done
[ -S "$CTL" ] || fail "no control socket at $CTL"
[ "$(stat -c %a "$CTL")" = 600 ] || fail "control socket mode $(stat -c %a "$CTL")"
"$SNIGATE" status --control-socket "$CTL" >"$TMP/status-live.json" || fail "status"
cmp "$TMP/status-live.json" "$TMP/check.json" || { diff "$TMP/status-live.json" "$TMP/check.json" | head; fail "status -o json differs from check -o json"; }
ok "snigate status = snigate check -o json ($(wc -c <"$TMP/check.json") bytes)"
"$SNIGATE" status --control-socket "$CTL" -o yaml >"$TMP/status-live.yaml" || fail "status -o yaml"
cmp "$TMP/status-live.yaml" "$TMP/check.yaml" || fail "status -o yaml differs from check -o yaml"
ok "snigate status -o yaml = snigate check -o yaml"
cmp "$TMP/status.json" "$TMP/check.json" || fail "--status-file differs from check -o json"
ls "$TMP" | grep -q 'status.json.tmp' && fail "a temporary status file was left behind"
ok "--status-file = snigate check -o json"
"$SNIGATE" status --control-socket "$CTL" -o text >"$TMP/status.txt" || fail "status -o text"
for want in "^policy serial [1-9]" "^Gateway infra/edge: served" "listener http: NOT SERVED" \
	"^TLSRoute app/refused" "REJECTED" "^  bind 1: 127.0.0.1 port 18443 passthrough"; do
	grep -q "$want" "$TMP/status.txt" || { cat "$TMP/status.txt"; fail "status -o text lacks '$want'"; }
done
ok "status -o text: serial, Gateways, rejected listener and route, binds"
if command -v setpriv >/dev/null; then
	out=$(setpriv --reuid 65534 --regid 65534 --clear-groups "$SNIGATE" status --control-socket "$CTL" 2>&1) &&
		fail "a non-root user got the status: $out"
	ok "non-root: $out"
fi
"$SNIGATE" status --control-socket "$CTL" -o bogus >/dev/null 2>&1; [ $? = 2 ] || fail "bad -o is not exit 2"
ops_agent_stop
[ -e "$CTL" ] && fail "control socket left after the agent stopped"
ok "socket removed on stop"
echo PASS
