#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Referenced objects against the API server STAND-IN: listener Secrets and
# BackendTLSPolicy ConfigMaps are fetched by name only, re-fetched when the
# reference set changes and periodically (rotation); a missing one is retried.
. "$(dirname "$0")/../lib.sh"
. "$SNIGATE_ROOT/tests/k8s/lib-k8s.sh"
k8s_require
standin_start
watch_start a --server "$STANDIN_URL" --token-file "$TMP/token" --no-status --ref-resync 1
l=$(wait_line "$TMP/a.jsonl" 'j["serial"] == 1' 10) || { cat "$TMP/a.err"; fail "no initial compile"; }
[ "$(echo "$l" | pyjson 'd["certs"]')" -ge 1 ] || fail "Terminate listener has no certificate: $l"
ok "referenced Secret fetched before the first compile: $l"
gets() { ctl GET requests | pyjson "len([r for r in d if r['path'] == '/api/v1/namespaces/default/$1'])"; }
gw() { # CERT-SECRET-NAME: the recorded Gateway with another certificateRef
	ctl GET dump | pyjson "[dict(o, spec=dict(o['spec'], listeners=[dict(l, tls=dict(l['tls'], certificateRefs=[{'name': '$1'}])) if l['name'] == 'tls-terminate' else l for l in o['spec']['listeners']])) for o in d['items'] if o['kind'] == 'Gateway' and o['metadata']['name'] == 'example-gateway'][0]"
}

# The reference set changes to a Secret that does not exist yet.
ctl POST apply "$(gw new-cert)" >/dev/null
wait_line "$TMP/a.jsonl" 'j["serial"] >= 2 and j["certs"] == 0' 5 >/dev/null || fail "missing Secret still served"
[ "$(gets secrets/new-cert)" -ge 1 ] || fail "new reference not fetched"
ok "reference change: new-cert fetched at once (404), listener without certificate"
# It appears: picked up by the retry (no watch on Secrets).
ctl POST apply "$(ctl GET dump | pyjson "[dict(o, metadata={'name': 'new-cert', 'namespace': 'default'}) for o in d['items'] if o['kind'] == 'Secret' and o['metadata']['name'] == 'tls-terminate-certificate'][0]")" >/dev/null
wait_line "$TMP/a.jsonl" 'j["certs"] >= 1 and j["serial"] >= 3' 5 >/dev/null || fail "created Secret not picked up"
ok "created Secret picked up by the retry"
# The old Secret is no longer referenced: no more gets of it.
n=$(gets secrets/tls-terminate-certificate)
sleep 2.5
[ "$(gets secrets/tls-terminate-certificate)" = "$n" ] || fail "unreferenced Secret still fetched"
[ "$(gets secrets/new-cert)" -ge 3 ] || fail "referenced Secret not re-fetched periodically"
ok "unreferenced Secret dropped; referenced one re-fetched every second"

# Rotation: new content of the referenced Secret -> recompile.
s=$(wc -l <"$TMP/a.jsonl")
ctl POST apply "$(ctl GET dump | pyjson "[dict(o, metadata=dict(o['metadata'], annotations={'rotated': '1'}), data=dict(o['data'])) for o in d['items'] if o['kind'] == 'Secret' and o['metadata']['name'] == 'new-cert'][0]")" >/dev/null
wait_line "$TMP/a.jsonl" "j['serial'] > $s" 5 >/dev/null || fail "Secret change not recompiled"
ok "Secret change picked up by the periodic re-fetch"

# BackendTLSPolicy -> its CA ConfigMap, by name, never listed.
ctl POST apply '{"apiVersion":"gateway.networking.k8s.io/v1","kind":"BackendTLSPolicy","metadata":{"name":"bar-tls","namespace":"default"},"spec":{"targetRefs":[{"group":"","kind":"Service","name":"bar-svc"}],"validation":{"caCertificateRefs":[{"group":"","kind":"ConfigMap","name":"kube-root-ca.crt"}],"hostname":"bar.internal"}}}' >/dev/null
for i in $(seq 50); do [ "$(gets configmaps/kube-root-ca.crt)" -ge 1 ] && break; sleep 0.1; done
[ "$(gets configmaps/kube-root-ca.crt)" -ge 1 ] || fail "CA ConfigMap not fetched"
ctl GET requests | pyjson "[r for r in d if r['path'].split('?')[0].endswith('/configmaps') or r['path'].split('?')[0].endswith('/secrets')]" | grep -q '^\[\]$' ||
	fail "Secrets or ConfigMaps were listed"
ok "BackendTLSPolicy CA ConfigMap fetched by name; no Secret/ConfigMap list ever"
