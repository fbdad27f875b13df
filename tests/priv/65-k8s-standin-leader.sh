#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Leader election against the API server STAND-IN: two agents serve (compile)
# alike, only the Lease holder writes status, the other takes over when the
# holder dies (after leaseDurationSeconds) and a stopped leader releases.
. "$(dirname "$0")/../lib.sh"
. "$SNIGATE_ROOT/tests/k8s/lib-k8s.sh"
k8s_require
standin_start
common=(--server "$STANDIN_URL" --token-file "$TMP/token" --lease-duration 2 --renew-ms 400)
watch_start a "${common[@]}" --identity node-a
wait_line "$TMP/a.jsonl" 'j["serial"] == 1' 10 >/dev/null || { cat "$TMP/a.err"; fail "a: no compile"; }
holder() { ctl GET leases | pyjson '[l["spec"]["holderIdentity"] for l in d if l["metadata"]["name"] == "snigate-status-leader"][0]' 2>/dev/null; }
for i in $(seq 50); do [ "$(holder)" = node-a ] && break; sleep 0.1; done
[ "$(holder)" = node-a ] || fail "node-a did not take the Lease"
watch_start b "${common[@]}" --identity node-b
wait_line "$TMP/b.jsonl" 'j["serial"] == 1' 10 >/dev/null || { cat "$TMP/b.err"; fail "b: no compile"; }
by() { ctl GET patches | pyjson "len([p for p in d if '($1)' in p['agent']])"; }
route() {
	printf '{"apiVersion":"gateway.networking.k8s.io/v1","kind":"TLSRoute","metadata":{"name":"%s","namespace":"default"},"spec":{"parentRefs":[{"name":"example-gateway","sectionName":"tls"}],"hostnames":["%s"],"rules":[{"backendRefs":[{"name":"foo-svc","port":443}]}]}}' "$1" "$2"
}
patched_by() { # ROUTE AGENT: wait for a status patch of ROUTE from AGENT
	local i
	for ((i = 0; i < 100; i++)); do
		ctl GET patches | pyjson "[p for p in d if p['path'].endswith('/tlsroutes/$1/status') and '($2)' in p['agent']][0]" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# Both agents compile a new route (every node serves the data path); only
# the leader writes its status.
ctl POST apply "$(route r3 r3.example.com)" >/dev/null
wait_line "$TMP/a.jsonl" '"default/r3" in j["routes"]' 5 >/dev/null || fail "a did not compile r3"
wait_line "$TMP/b.jsonl" '"default/r3" in j["routes"] and not j["leader"]' 5 >/dev/null || fail "b did not compile r3 (as non-leader)"
patched_by r3 node-a || fail "leader node-a did not write r3's status"
sleep 1
[ "$(by node-b)" = 0 ] || fail "non-leader node-b wrote status: $(by node-b) patches"
ok "both agents compile; only node-a ($(by node-a) patches) writes, node-b wrote 0"

# The leader dies without releasing: node-b takes over once the Lease has
# not changed for leaseDurationSeconds (2 s), measured.
t0=$(date +%s.%N)
kill -9 "$WPID_a"; wait "$WPID_a" 2>/dev/null
for i in $(seq 100); do [ "$(holder)" = node-b ] && break; sleep 0.1; done
[ "$(holder)" = node-b ] || fail "node-b never took over"
took=$(echo "$(date +%s.%N) - $t0" | bc)
echo "failover after SIGKILL of the leader: $took s (lease 2 s, renew 0.4 s)"
ctl POST apply "$(route r4 r4.example.com)" >/dev/null
patched_by r4 node-b || fail "new leader node-b did not write r4's status"
trans=$(ctl GET leases | pyjson '[l["spec"]["leaseTransitions"] for l in d][0]')
[ "$trans" -ge 1 ] || fail "leaseTransitions not incremented ($trans)"
ok "node-b took over in $took s and writes status (leaseTransitions $trans)"

# A stopped leader releases the Lease (holderIdentity ""), for fast rolling updates.
kill -TERM "$WPID_b"
for i in $(seq 50); do kill -0 "$WPID_b" 2>/dev/null || break; sleep 0.1; done
[ -z "$(holder)" ] || fail "Lease not released: holder $(holder)"
grep -q 'released Lease' "$TMP/b.err" || fail "no release log"
ok "SIGTERM released the Lease"
