#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# End to end with the API server STAND-IN (tests/k8s/standin.py, not a real
# API server): `snigate run --kubernetes` serves the recorded objects, a
# TLSRoute added by a watch event is served within 1 s of that event, a
# deleted one stops accepting new connections within 1 s, an expired watch
# (410 -> relist) drops no established spliced connection, and the Lease
# holder's status patches equal `snigate check` of the same objects. Real
# sockets in a private netns; latencies from 1 ms probes (sng_routewait).
K8S_NO_UNSHARE=1
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/2x-lib.inc"
. "$SNIGATE_ROOT/tests/k8s/lib-k8s.sh"
k8s_require
[ -x "$SNIGATE" ] || skip "no $SNIGATE: run make"
"$SNIGATE" run --help 2>&1 | grep -q -- '--kubernetes' ||
	skip "snigate run has no --kubernetes option yet (agent/cmd_run.c wiring of agent/k8s.h pending)"
[ -x "$TOOLS/sng_mkhello" ] || skip "no sng_mkhello"
[ -x "$TOOLS/sng_routewait" ] || skip "no sng_routewait: run make tests"
command -v jq >/dev/null || skip "jq missing"
dp_setup k8se2e
K8S_EXEC="ip netns exec $NS"
standin_start
standin_local_agent_setup

# -f and --kubernetes are exclusive, with a clear error
out=$("$SNIGATE" run --kubernetes -f "$MANIFESTS" --pin-dir "$PIN" 2>&1)
rc=$?
[ $rc = 2 ] && echo "$out" | grep -q "exclusive" || fail "-f with --kubernetes: rc $rc: $out"
ok "-f with --kubernetes refused (exit 2): $(echo "$out" | head -n1)"

AGENT_LOG=$TMP/agent-k8s.log
STATUS=$TMP/status.json
ip netns exec "$NS" env POD_NAME=e2e-node "$SNIGATE" run --kubernetes --kubeconfig "$TMP/kubeconfig" \
	--address 127.0.0.1 --pin-dir "$PIN" --workers 2 --control-socket none \
	--status-file "$STATUS" >"$AGENT_LOG" 2>&1 &
AGENT_PID=$!
at_exit "kill -9 $AGENT_PID"
wait_port "$NS" 443 10 || { cat "$AGENT_LOG"; fail "agent did not listen on 443 after the initial list"; }
grep -q "policy reloaded (kubernetes)" "$AGENT_LOG" || fail "no reload from the Kubernetes source logged"
dp_backend echo
j=$(xfer --hello "$HELLO" --bytes 1m); expect_ok "recorded foo-route served" "$j"
# the Terminate listener's certificate comes from the watched Secret
want=$(openssl x509 -in "$TMP/bar.crt" -noout -fingerprint -sha256)
got=$(ip netns exec "$NS" timeout 10 openssl s_client -connect 127.0.0.1:8443 -servername bar.example.com \
	</dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null)
[ -n "$want" ] && [ "$got" = "$want" ] || fail "Terminate listener: served certificate '$got', Secret holds '$want'"
ok "Terminate listener serves the Secret's certificate (from the API objects)"

"$TOOLS/sng_mkhello" -s baz.example.com >"$TMP/baz.bin" || fail "sng_mkhello"
route='{"apiVersion":"gateway.networking.k8s.io/v1","kind":"TLSRoute","metadata":{"name":"baz-route","namespace":"default"},"spec":{"parentRefs":[{"name":"example-gateway","sectionName":"tls"}],"hostnames":["baz.example.com"],"rules":[{"backendRefs":[{"name":"foo-svc","port":443}]}]}}'
j=$(xfer --hello "$TMP/baz.bin" --bytes 64k --timeout 2)
echo "$j" | grep -q '"verdict":"ok"' && fail "baz.example.com served before its route exists"
# event_ms KEY TYPE: the stand-in's send time (ms, wall clock) of the last
# TYPE event of KEY (kind/ns/name as the stand-in names it)
event_ms() {
	ctl GET events | python3 -c 'import json,sys
ev=[e for e in json.load(sys.stdin) if e["key"].endswith(sys.argv[1]) and e["type"]==sys.argv[2] and e["sent"]]
print("%.1f" % (ev[-1]["sent"]*1000) if ev else "")' "$1" "$2"
}
# change served|gone JSON-CTL-ARGS...: trigger the stand-in change, probe baz
# every ms; prints "ms-from-event ms-from-request"
change() {
	local until=$1 j ev
	shift
	printf '%s' "$2" >"$TMP/ctl-body.json"
	j=$(ip netns exec "$NS" "$TOOLS/sng_routewait" --connect 127.0.0.1:443 --hello "$TMP/baz.bin" \
		--until "$until" --timeout-ms 3000 -- curl -sSf -X POST -H 'Content-Type: application/json' \
		--data-binary @"$TMP/ctl-body.json" -o /dev/null "$CTL/_standin/$1") || { echo "$j" >&2; return 1; }
	ev=$(event_ms default/baz-route "$3")
	[ -n "$ev" ] || { echo "no $3 event of baz-route recorded" >&2; return 1; }
	echo "$(jq -r --argjson ev "$ev" '.wall_ms - $ev | floor' <<<"$j") $(jq -r '.ms' <<<"$j")"
}
read -r ms req < <(change served apply "$route" ADDED) || fail "added route not served within 3 s"
[ "$ms" -le 1000 ] || fail "added TLSRoute served ${ms} ms after its watch event (> 1 s)"
ok "added TLSRoute served ${ms} ms after its watch event (${req} ms after the API request)"
j=$(xfer --hello "$TMP/baz.bin" --bytes 1m); expect_ok "baz-route carries data" "$j"

# An established connection (paused 2 s after its hello) survives a relist.
xfer --hello "$HELLO" --bytes 16m --gap-ms 2000 >"$TMP/long.json" &
long=$!
sleep 0.5
nrel=$(grep -c "policy reloaded" "$AGENT_LOG")
ctl POST 'expire?mode=event' >/dev/null
wait "$long"
expect_ok "connection established across the 410 relist" "$(cat "$TMP/long.json")"
for ((i = 0; i < 50; i++)); do grep -q 'relisting' "$AGENT_LOG" && break; sleep 0.1; done
grep -q 'relisting' "$AGENT_LOG" || fail "agent did not relist"
j=$(xfer --hello "$TMP/baz.bin" --bytes 64k); expect_ok "baz-route served after the relist" "$j"
ok "relist: $(($(grep -c "policy reloaded" "$AGENT_LOG") - nrel)) reload(s), no connection dropped"

read -r ms req < <(change gone delete '{"kind":"TLSRoute","namespace":"default","name":"baz-route"}' DELETED) ||
	fail "deleted route still accepted after 3 s"
[ "$ms" -le 1000 ] || fail "deleted TLSRoute refused only ${ms} ms after its watch event (> 1 s)"
ok "deleted TLSRoute refused ${ms} ms after its watch event (${req} ms after the API request)"
j=$(xfer --hello "$HELLO" --bytes 1m); expect_ok "foo-route still served" "$j"

# Status: this (only) agent takes the Lease and patches; the patches must
# equal `snigate check` of the very objects the stand-in holds.
holder() { ctl GET leases | pyjson '[l["spec"]["holderIdentity"] for l in d if l["metadata"]["name"] == "snigate-status-leader"][0]' 2>/dev/null; }
for ((i = 0; i < 50; i++)); do [ "$(holder)" = e2e-node ] && break; sleep 0.1; done
[ "$(holder)" = e2e-node ] || fail "the agent did not take the status Lease (holder: $(holder))"
npatch() { ctl GET patches | pyjson 'len(d)'; }
a=-1
for ((i = 0; i < 30; i++)); do
	b=$(npatch)
	[ "$a" = "$b" ] && [ "$b" -gt 0 ] && break
	a=$b
	sleep 1
done
ctl GET dump >"$TMP/dump.json"
"$SNIGATE" check -o json --address 127.0.0.1 -f "$TMP/dump.json" >"$TMP/check.json" 2>"$TMP/check.err" ||
	{ cat "$TMP/check.err"; fail "snigate check of the stand-in's objects"; }
PYTHONPATH="$K8S_DIR" python3 - "$TMP/check.json" "$TMP/dump.json" <<'PY' || fail "status patches differ from snigate check"
import json, sys
from statuscmp import compare
ref, dump = (json.load(open(p)) for p in sys.argv[1:3])
checked, _ = compare(ref, dump)
print("%d objects: the agent's status patches equal snigate check" % checked)
PY
ok "leader's status patches ($(npatch)) equal snigate check of the same objects"
python3 - "$STATUS" "$TMP/check.json" <<'PY' || fail "--status-file differs from snigate check"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
keep = ("Gateway", "TLSRoute", "GatewayClass")
sa = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o.get("status") for o in a["items"] if o["kind"] in keep}
sb = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o.get("status") for o in b["items"] if o["kind"] in keep}
assert sa == sb, "status file %s\n check %s" % (sorted(sa), sorted(sb))
PY
ok "--status-file holds the same status"
dp_agent_stop
echo PASS
