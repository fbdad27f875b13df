#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# End to end with the API server STAND-IN: `snigate run --kubernetes` serves a
# TLSRoute added by a watch event within 1 s, stops accepting new connections
# for a deleted one within 1 s, and an expired watch (410 -> relist) does not
# drop an established spliced connection.
K8S_NO_UNSHARE=1
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/2x-lib.inc"
. "$SNIGATE_ROOT/tests/k8s/lib-k8s.sh"
k8s_require
[ -x "$SNIGATE" ] || skip "no $SNIGATE: run make"
"$SNIGATE" run --help 2>&1 | grep -q -- '--kubernetes' ||
	skip "snigate run has no --kubernetes option yet (agent/cmd_run.c wiring of agent/k8s.h pending)"
[ -x "$TOOLS/sng_mkhello" ] || skip "no sng_mkhello"
dp_setup k8se2e
K8S_EXEC="ip netns exec $NS"
standin_start
# The recorded foo-svc endpoints are pod IPs; here the backend is local.
ctl POST apply '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"foo-svc-abcde","namespace":"default","labels":{"kubernetes.io/service-name":"foo-svc"}},"addressType":"IPv4","ports":[{"name":"tls","protocol":"TCP","port":9443}],"endpoints":[{"addresses":["127.0.0.1"],"conditions":{"ready":true}}]}' >/dev/null
cat >"$TMP/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: s, cluster: {server: "$STANDIN_URL"}}]
users: [{name: u, user: {tokenFile: "$TMP/token"}}]
contexts: [{name: c, context: {cluster: s, user: u}}]
current-context: c
KC
dp_agent auto --kubernetes --kubeconfig "$TMP/kubeconfig" --address 127.0.0.1
dp_backend echo
j=$(xfer --hello "$HELLO" --bytes 1m); expect_ok "recorded foo-route served" "$j"

"$TOOLS/sng_mkhello" -s baz.example.com >"$TMP/baz.bin" || fail "sng_mkhello"
route='{"apiVersion":"gateway.networking.k8s.io/v1","kind":"TLSRoute","metadata":{"name":"baz-route","namespace":"default"},"spec":{"parentRefs":[{"name":"example-gateway","sectionName":"tls"}],"hostnames":["baz.example.com"],"rules":[{"backendRefs":[{"name":"foo-svc","port":443}]}]}}'
j=$(xfer --hello "$TMP/baz.bin" --bytes 64k --timeout 2)
echo "$j" | grep -q '"verdict":"ok"' && fail "baz.example.com served before its route exists"
# serve_within MS EXPECT(ok|fail) HELLO: poll until the outcome, print ms
serve_within() {
	local t0 now j
	t0=$(date +%s%N)
	while :; do
		j=$(xfer --hello "$3" --bytes 64k --timeout 1)
		if [ "$2" = ok ]; then echo "$j" | grep -q '"verdict":"ok"' && break
		else echo "$j" | grep -q '"verdict":"ok"' || break; fi
		now=$(date +%s%N)
		[ $(( (now - t0) / 1000000 )) -gt "$1" ] && return 1
		sleep 0.02
	done
	echo $(( ($(date +%s%N) - t0) / 1000000 ))
}
ctl POST apply "$route" >/dev/null
ms=$(serve_within 1000 ok "$TMP/baz.bin") || fail "added route not served within 1 s"
ok "added TLSRoute served ${ms} ms after the watch event"

# An established connection (paused 2 s after its hello) survives a relist.
xfer --hello "$HELLO" --bytes 16m --gap-ms 2000 >"$TMP/long.json" &
long=$!
sleep 0.5
ctl POST 'expire?mode=event' >/dev/null
wait "$long"
expect_ok "connection established across the 410 relist" "$(cat "$TMP/long.json")"
grep -q 'relisting' "$AGENT_LOG" || fail "agent did not relist"

ctl POST delete '{"kind":"TLSRoute","namespace":"default","name":"baz-route"}' >/dev/null
ms=$(serve_within 1000 fail "$TMP/baz.bin") || fail "deleted route still accepted after 1 s"
ok "deleted TLSRoute refused ${ms} ms after the watch event"
j=$(xfer --hello "$HELLO" --bytes 1m); expect_ok "foo-route still served" "$j"
