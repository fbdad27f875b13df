#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Kubernetes source against the API server STAND-IN serving TLSRoute only as
# v1alpha2 (Gateway API v1.4 experimental): v1 and v1alpha3 answer 404, the
# source falls back, compiles the routes and writes their status there.
. "$(dirname "$0")/../lib.sh"
. "$SNIGATE_ROOT/tests/k8s/lib-k8s.sh"
k8s_require
standin_start --tlsroute-versions v1alpha2
watch_start a --server "$STANDIN_URL" --token-file "$TMP/token" --identity node-a --lease-duration 3
l=$(wait_line "$TMP/a.jsonl" 'j["serial"] == 1' 10) || { cat "$TMP/a.err"; fail "no initial compile"; }
echo "$l" | grep -q '"default/foo-route"' || fail "v1alpha2 routes not compiled: $l"
ctl GET requests >"$TMP/req.json"
for v in v1 v1alpha3; do
	pyjson "[r for r in d if r['path'].startswith('/apis/gateway.networking.k8s.io/$v/tlsroutes?') and r['code'] == 404][0]" <"$TMP/req.json" >/dev/null ||
		fail "no 404 probe of $v"
done
pyjson "[r for r in d if r['path'].startswith('/apis/gateway.networking.k8s.io/v1alpha2/tlsroutes?') and r['code'] == 200][0]" <"$TMP/req.json" >/dev/null ||
	fail "no v1alpha2 list"
ok "TLSRoute v1 -> v1alpha3 -> v1alpha2 fallback"
for i in $(seq 50); do
	ctl GET patches | pyjson "[p for p in d if '/v1alpha2/namespaces/default/tlsroutes/foo-route/status' in p['path']][0]" >/dev/null 2>&1 && break
	sleep 0.1
done
ctl GET patches | pyjson "[p for p in d if '/v1alpha2/namespaces/default/tlsroutes/foo-route/status' in p['path']][0]" >/dev/null 2>&1 ||
	fail "route status not patched at v1alpha2"
ok "route status written at the served version"
