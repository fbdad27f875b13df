#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Kubernetes source against the API server STAND-IN: initial list, added and
# deleted TLSRoutes reflected in a compile within 1 s of their watch event,
# bookmarks advance the resourceVersion, only referenced Secrets are read.
. "$(dirname "$0")/../lib.sh"
. "$SNIGATE_ROOT/tests/k8s/lib-k8s.sh"
k8s_require
standin_start
# Short server-side watch timeout: reconnects must resume from the last
# resourceVersion (advanced by BOOKMARK events) without relisting.
watch_start a --server "$STANDIN_URL" --token-file "$TMP/token" --no-status --watch-timeout 2

l=$(wait_line "$TMP/a.jsonl" 'j["serial"] == 1' 10) || { cat "$TMP/a.err"; fail "no initial compile"; }
echo "$l" | grep -q '"default/foo-route"' && echo "$l" | grep -q '"default/bar-route"' ||
	fail "initial compile lacks the recorded routes: $l"
ok "initial list compiled: $l"

# Added TLSRoute: served (compiled) within 1 s of the event on the wire.
rv=$(ctl POST apply '{"apiVersion":"gateway.networking.k8s.io/v1","kind":"TLSRoute",
  "metadata":{"name":"baz-route","namespace":"default"},
  "spec":{"parentRefs":[{"name":"example-gateway","sectionName":"tls"}],
  "hostnames":["baz.example.com"],"rules":[{"backendRefs":[{"name":"foo-svc","port":443}]}]}}' | pyjson 'd["rv"]')
l=$(wait_line "$TMP/a.jsonl" '"default/baz-route" in j["routes"]' 5) || { cat "$TMP/a.err"; fail "added route never compiled"; }
sent=$(ctl GET events | pyjson "[e['sent'] for e in d if e['rv'] == $rv][0]")
lat=$(python3 -c "import json,sys; print('%.1f' % (json.loads(sys.argv[1])['wall_ms'] - float(sys.argv[2]) * 1000))" "$l" "$sent")
echo "added TLSRoute: compile $lat ms after its watch event was sent"
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 1000 else 1)" "$lat" || fail "added route took $lat ms (> 1 s)"
ok "added route compiled in $lat ms"

# Deleted TLSRoute: gone from the next compile, also within 1 s.
rv=$(ctl POST delete '{"kind":"TLSRoute","namespace":"default","name":"baz-route"}' | pyjson 'd["rv"]')
l=$(wait_line "$TMP/a.jsonl" '"default/baz-route" not in j["routes"] and j["serial"] > 2' 5) ||
	fail "deleted route still compiled"
sent=$(ctl GET events | pyjson "[e['sent'] for e in d if e['rv'] == $rv][0]")
lat=$(python3 -c "import json,sys; print('%.1f' % (json.loads(sys.argv[1])['wall_ms'] - float(sys.argv[2]) * 1000))" "$l" "$sent")
echo "deleted TLSRoute: compile $lat ms after its watch event was sent"
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 1000 else 1)" "$lat" || fail "deleted route took $lat ms"
echo "$l" | grep -q '"default/foo-route"' || fail "delete dropped other routes: $l"
ok "deleted route gone in $lat ms"

# A burst of 20 routes (20 watch events back to back) is debounced into few
# compiles; the last has them all.
before=$(wc -l <"$TMP/a.jsonl")
r=$(ctl POST apply "$(python3 -c 'import json; print(json.dumps([{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "TLSRoute", "metadata": {"name": "burst-%d" % i, "namespace": "default"}, "spec": {"parentRefs": [{"name": "example-gateway", "sectionName": "tls"}], "hostnames": ["b%d.example.com" % i], "rules": [{"backendRefs": [{"name": "foo-svc", "port": 443}]}]}} for i in range(1, 21)]))')")
echo "$r" | grep -q '"rvs"' || fail "stand-in refused the burst: $r"
wait_line "$TMP/a.jsonl" 'all("default/burst-%d" % i in j["routes"] for i in range(1, 21))' 10 >/dev/null ||
	{ tail -5 "$TMP/a.err"; fail "burst not compiled"; }
sleep 0.3
burst=$(( $(wc -l <"$TMP/a.jsonl") - before ))
echo "20 route additions -> $burst compiles"
[ "$burst" -le 3 ] || fail "debounce did not coalesce: $burst compiles for 20 events"
ok "burst of 20 events coalesced into $burst compiles"

# A malformed object (the API server's schema would normally stop it) is
# skipped with its path named; every other object still compiles.
s0=$(wc -l <"$TMP/a.jsonl")
ctl POST apply '{"apiVersion":"gateway.networking.k8s.io/v1","kind":"TLSRoute","metadata":{"name":"bad-route","namespace":"default"},"spec":{"parentRefs":[{"name":"example-gateway"}],"hostnames":"not-a-list","rules":[{"backendRefs":[{"name":"foo-svc","port":443}]}]}}' >/dev/null
l=$(wait_line "$TMP/a.jsonl" "j['serial'] > $s0" 5) || fail "no compile after the malformed object"
echo "$l" | grep -q '"default/foo-route"' && echo "$l" | grep -q '"default/burst-20"' ||
	fail "a malformed object took others down: $l"
echo "$l" | grep -q 'bad-route' && fail "malformed route compiled"
grep -q 'k8s:TLSRoute/default/bad-route skipped: /spec/hostnames' "$TMP/a.err" ||
	{ grep bad-route "$TMP/a.err"; fail "no clear message for the malformed object"; }
ok "malformed object skipped: $(grep -o 'k8s:TLSRoute/default/bad-route skipped.*' "$TMP/a.err" | head -1)"

# Let a few watch timeouts (2-2.5 s) pass: every reconnect must carry a
# resourceVersion, and for namespaces (no events at all) a later one than
# its list: only BOOKMARK events can have moved it.
sleep 5
ctl GET requests >"$TMP/req.json"
python3 - "$TMP/req.json" <<'PY' || fail "watch resume check failed"
import json, sys, urllib.parse as up
reqs = json.load(open(sys.argv[1]))
def q(r): return dict(up.parse_qsl(up.urlsplit(r["path"]).query))
def res(r): return up.urlsplit(r["path"]).path.rstrip("/").split("/")[-1]
lists = [r for r in reqs if "watch" not in q(r) and r["method"] == "GET" and res(r) == "namespaces"]
watches = [r for r in reqs if q(r).get("watch") == "1" and res(r) == "namespaces"]
assert len(lists) == 1, "namespaces relisted: %d lists" % len(lists)
assert len(watches) >= 2, "expected several watch reconnects, got %d" % len(watches)
assert all(q(w).get("allowWatchBookmarks") == "true" and q(w).get("resourceVersion") for w in watches)
rvs = [int(q(w)["resourceVersion"]) for w in watches]
assert rvs[-1] > rvs[0], "resourceVersion never advanced by bookmarks: %s" % rvs
# Least privilege at run time: the deploy/ RBAC was enforced; nothing refused.
bad = [r for r in reqs if r["code"] in (401, 403)]
assert not bad, "refused requests: %s" % bad
# Secrets: only the referenced one, by name; never listed or watched.
sec = [r for r in reqs if "/secrets" in r["path"]]
assert sec and all(up.urlsplit(r["path"]).path ==
                   "/api/v1/namespaces/default/secrets/tls-terminate-certificate" for r in sec), sec
print("namespaces watch resourceVersions:", rvs)
PY
ok "watch reconnects resume from bookmarks; only the referenced Secret was read"
