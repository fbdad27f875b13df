#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Status write-back against the API server STAND-IN: the leader's /status
# merge patches equal `snigate check -o json` for the same objects, other
# controllers' objects and route parents are untouched, and nothing is
# written when the status did not change.
. "$(dirname "$0")/../lib.sh"
. "$SNIGATE_ROOT/tests/k8s/lib-k8s.sh"
k8s_require
standin_start
watch_start a --server "$STANDIN_URL" --token-file "$TMP/token" --identity node-a \
	--lease-duration 3 --status-out "$TMP/compiled-status.json"
wait_line "$TMP/a.jsonl" 'j["serial"] == 1' 10 >/dev/null || { cat "$TMP/a.err"; fail "no initial compile"; }
npatch() { ctl GET patches | pyjson 'len(d)'; }
settle() { # wait until the patch count is stable for 1 s; print it
	local a b=-1 i
	for ((i = 0; i < 40; i++)); do
		a=$(npatch)
		[ "$a" = "$b" ] && [ "$a" -gt 0 ] && break
		b=$a
		sleep 1
	done
	echo "$a"
}
n=$(settle)
[ "$n" -ge 4 ] || { cat "$TMP/a.err"; fail "expected >= 4 status patches, got $n"; }
ctl GET patches >"$TMP/patches1.json"
ctl GET dump >"$TMP/dump.json"

# The reference: `snigate check -o json` on exactly the objects the stand-in
# holds (the agent's own compile when snigate check cannot run).
ref="$TMP/check.json"
if [ -x "$SNIGATE" ] && "$SNIGATE" check -o json -f "$TMP/dump.json" >"$ref" 2>"$TMP/check.err"; then
	echo "reference: snigate check -o json"
else
	cat "$TMP/check.err" 2>/dev/null
	echo "reference: policy_compile status of the harness (snigate check not available)"
	cp "$TMP/compiled-status.json" "$ref"
fi
PYTHONPATH="$K8S_DIR" python3 - "$ref" "$TMP/dump.json" "$TMP/patches1.json" "$TMP/fixtures" <<'PY' || fail "status mismatch"
import json, os, sys
from statuscmp import CTRL, compare, key
ref, dump, patches, fixtures = [json.load(open(p)) if p.endswith(".json") else p for p in sys.argv[1:5]]
orig = {}
for fn in os.listdir(fixtures):
    lst = json.load(open(os.path.join(fixtures, fn)))
    for o in lst["items"]:
        o.setdefault("kind", lst["kind"][:-4])
        orig[key(o)] = o
def no_placeholder(k, lo):
    for c in json.dumps(lo.get("status")).split('"lastTransitionTime": ')[1:]:
        assert not c.startswith('"1970'), "%s: placeholder lastTransitionTime written" % (k,)
checked, live = compare(ref, dump, no_placeholder)
# Other controllers' objects and parent entries are untouched.
for k in [("Gateway", "default", "foreign-gateway"), ("GatewayClass", "", "other-class")]:
    assert live[k]["status"] == orig[k]["status"], "%s was written" % (k,)
fr = [p for p in live[("TLSRoute", "default", "foo-route")]["status"]["parents"]
      if p["controllerName"] != CTRL]
assert fr == orig[("TLSRoute", "default", "foo-route")]["status"]["parents"], "foreign parent changed"
for p in patches:
    assert p["content_type"] == "application/merge-patch+json" and "/status" in p["path"], p
    assert "foreign-gateway" not in p["path"] and "other-class" not in p["path"], p
print("%d objects' status equal the reference; foreign objects untouched" % checked)
PY
ok "leader's status patches match the reference ($n patches)"

# Status-only MODIFIED events (our own patches) must not trigger recompiles.
sleep 1
[ "$(wc -l <"$TMP/a.jsonl")" = 1 ] || fail "status-only updates caused recompiles: $(wc -l <"$TMP/a.jsonl") compiles"
ok "own status writes caused no recompile"

# A change that does not alter any status: recompiled, nothing written.
ctl POST apply "$(ctl GET dump | pyjson '[dict(o, metadata=dict(o["metadata"], annotations={"touched": "1"})) for o in d["items"] if o["kind"] == "Service" and o["metadata"]["name"] == "foo-svc"][0]')" >/dev/null
wait_line "$TMP/a.jsonl" 'j["serial"] == 2' 5 >/dev/null || fail "no recompile after the Service change"
sleep 1.5
[ "$(npatch)" = "$n" ] || fail "status rewritten although unchanged ($(npatch) != $n)"
ok "unchanged status not rewritten"

# A route spec change (new generation): exactly that route's status is written,
# with the lastTransitionTime of unchanged conditions kept.
ctl POST apply "$(ctl GET dump | pyjson '[dict(o, spec=dict(o["spec"], hostnames=["foo.example.com", "foo2.example.com"])) for o in d["items"] if o["kind"] == "TLSRoute" and o["metadata"]["name"] == "foo-route"][0]')" >/dev/null
wait_line "$TMP/a.jsonl" 'j["serial"] == 3' 5 >/dev/null || fail "no recompile after the route change"
m=$(settle)
ctl GET patches >"$TMP/patches2.json"
python3 - "$TMP/patches1.json" "$TMP/patches2.json" <<'PY' || fail "route change write-back"
import json, sys
p1, p2 = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
new = p2[len(p1):]
assert len(new) == 1 and new[0]["path"].endswith("/tlsroutes/foo-route/status"), new
old = [p for p in p1 if p["path"].endswith("/tlsroutes/foo-route/status")][-1]
def ours(p):
    return [x for x in json.loads(p["body"])["status"]["parents"]
            if x["controllerName"] == "snigate.io/gateway-controller"][0]
a, b = ours(old), ours(new[0])
assert b["conditions"][0]["observedGeneration"] == 2, b
assert [c["lastTransitionTime"] for c in a["conditions"]] == [c["lastTransitionTime"] for c in b["conditions"]]
print("one patch (foo-route), observedGeneration 2, transition times kept")
PY
ok "route change: only that route's status written"
