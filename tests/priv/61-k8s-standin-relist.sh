#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Kubernetes source against the API server STAND-IN: an expired watch (ERROR
# event with a 410 Status, and an HTTP 410 on reconnect) relists, picks up
# what changed meanwhile, and never compiles a partial table.
. "$(dirname "$0")/../lib.sh"
. "$SNIGATE_ROOT/tests/k8s/lib-k8s.sh"
k8s_require
standin_start
watch_start a --server "$STANDIN_URL" --token-file "$TMP/token" --no-status
wait_line "$TMP/a.jsonl" 'j["serial"] == 1' 10 >/dev/null || { cat "$TMP/a.err"; fail "no initial compile"; }

route() { # NAME HOST
	printf '{"apiVersion":"gateway.networking.k8s.io/v1","kind":"TLSRoute","metadata":{"name":"%s","namespace":"default"},"spec":{"parentRefs":[{"name":"example-gateway","sectionName":"tls"}],"hostnames":["%s"],"rules":[{"backendRefs":[{"name":"foo-svc","port":443}]}]}}' "$1" "$2"
}
lists() { ctl GET requests | pyjson "len([r for r in d if r['method'] == 'GET' and r['path'].split('?')[0].endswith('/tlsroutes') and 'watch=1' not in r['path'] and r['code'] == 200])"; }
[ "$(lists)" = 1 ] || fail "expected 1 TLSRoute list before expiry"

# 1. Compaction while watching: the open watch gets {"type":"ERROR"} with a
#    410 Expired Status; the route added after it is only visible to a relist.
ctl POST 'expire?mode=event' >/dev/null
ctl POST apply "$(route r-after-event r1.example.com)" >/dev/null
wait_line "$TMP/a.jsonl" '"default/r-after-event" in j["routes"]' 5 >/dev/null ||
	{ cat "$TMP/a.err"; fail "route added after the ERROR 410 event never compiled"; }
[ "$(lists)" -ge 2 ] || fail "no relist after the ERROR 410 event"
grep -q 'watch expired.*410.*relisting' "$TMP/a.err" || fail "no relist log line"
ok "ERROR 410 event -> relist ($(lists) lists so far)"

# 2. The watch is closed and the reconnect is answered with HTTP 410.
n=$(lists)
ctl POST 'expire?mode=http' >/dev/null
ctl POST delete '{"kind":"TLSRoute","namespace":"default","name":"r-after-event"}' >/dev/null
wait_line "$TMP/a.jsonl" '"default/r-after-event" not in j["routes"] and j["serial"] > 2' 5 >/dev/null ||
	fail "route deleted during the expiry still compiled"
[ "$(lists)" -gt "$n" ] || fail "no relist after HTTP 410"
ctl GET requests | pyjson "[r for r in d if r['code'] == 410 and 'watch=1' in r['path']][0]['path']" >/dev/null ||
	fail "the stand-in never answered a watch with 410"
grep -q '410 Gone: relisting' "$TMP/a.err" || fail "no HTTP 410 log line"
ok "HTTP 410 on reconnect -> relist"

# 3. No compile ever lost the routes that existed throughout (a relist
#    replaces the cache in one step, so there is no empty intermediate table).
python3 - "$TMP/a.jsonl" <<'PY' || fail "a compile during relisting lost routes"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
for j in lines:
    assert "default/foo-route" in j["routes"] and "default/bar-route" in j["routes"], j
print("%d compiles, all with foo-route and bar-route" % len(lines))
PY
ok "no partial table during relists"
