#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Kubernetes source against the API server STAND-IN: an expired watch (ERROR
# event with a 410 Status, and an HTTP 410 on reconnect) relists, picks up
# what changed meanwhile, and never compiles a partial table. Watch events
# arrive split across chunks; lists are paginated.
. "$(dirname "$0")/../lib.sh"
. "$SNIGATE_ROOT/tests/k8s/lib-k8s.sh"
k8s_require
standin_start --split-events
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

# 4. A garbled event line on the stream: the watch is dropped and resumed
#    from the last good resourceVersion; nothing is lost.
for i in $(seq 50); do
	[ "$(ctl POST 'inject?plural=tlsroutes' $'{"type":"ADDED","object":{"metadata":{"name":garbage}\n' | pyjson 'd["watchers"]')" -ge 1 ] && break
	sleep 0.1
done
ctl POST apply "$(route r-after-garbage r2.example.com)" >/dev/null
wait_line "$TMP/a.jsonl" '"default/r-after-garbage" in j["routes"]' 5 >/dev/null ||
	{ cat "$TMP/a.err"; fail "route after a garbled event never compiled"; }
grep -q 'tlsroutes watch: bad event' "$TMP/a.err" || fail "garbled event not reported"
ok "garbled watch event: $(grep -o 'tlsroutes watch: bad event.*' "$TMP/a.err" | head -1)"

# 5. Paginated lists (limit=1): every page is followed through metadata.continue;
#    an expired continue token (410) restarts the list from the first page.
ctl POST expire_continue >/dev/null
watch_start p --server "$STANDIN_URL" --token-file "$TMP/token" --no-status --list-limit 1
l=$(wait_line "$TMP/p.jsonl" 'j["serial"] == 1' 10) || { cat "$TMP/p.err"; fail "paginated: no compile"; }
echo "$l" | grep -q '"default/foo-route"' && echo "$l" | grep -q '"default/bar-route"' ||
	fail "paginated list lost routes: $l"
ctl GET requests | pyjson "[r for r in d if 'continue=' in r['path'] and r['code'] == 410][0]" >/dev/null ||
	fail "the expired continue token was never answered with 410"
ctl GET requests | pyjson "[r for r in d if 'continue=' in r['path'] and r['code'] == 200][0]" >/dev/null ||
	fail "no continued page"
grep -q 'continue token expired: relisting' "$TMP/p.err" || fail "no continue-expiry log"
ok "paginated lists with continue; expired continue token restarts the list"
