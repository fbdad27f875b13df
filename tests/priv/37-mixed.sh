#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Mixed mode (upstream TLSRouteMixedTerminationSameNamespace): one Gateway,
# port 8883, a Terminate listener (tls.example.com) and a Passthrough
# listener (abc.example.com). The SNI decides per connection: terminated to
# the plain tcp-backend port (IS_TLS=false), or passed through untouched to
# its TLS port (IS_TLS=true, the backend saw SNI abc.example.com). The
# terminated hello is only peeked by the router and read by OpenSSL: a
# ClientHello split into many small TCP segments must still work.
. "$(dirname "$0")/../lib.sh"
. "$SNIGATE_ROOT/tests/terminate/lib.sh"
term_require

NS=$(new_netns mixed)
PKI=$TMP/pki MAN=$TMP/manifests
mkdir -p "$PKI" "$MAN"
mk_ca "$PKI" || fail "mk_ca"
mk_leaf "$PKI" terminate rsa tls.example.com || fail "mk_leaf terminate"
mk_leaf "$PKI" passthrough ec abc.example.com || fail "mk_leaf passthrough"

cat >"$MAN/gateway.yaml" <<YAML
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gateway-tlsroute-mixed-termination
  namespace: gateway-conformance-infra
spec:
  gatewayClassName: example-gateway-class
  listeners:
  - name: tls-terminate
    protocol: TLS
    port: 8883
    hostname: tls.example.com
    tls:
      mode: Terminate
      certificateRefs:
      - name: tls-terminate-checks-certificate
    allowedRoutes:
      namespaces: {from: Same}
      kinds: [{kind: TLSRoute}]
  - name: tls-passthrough
    protocol: TLS
    port: 8883
    hostname: abc.example.com
    tls:
      mode: Passthrough
    allowedRoutes:
      namespaces: {from: Same}
      kinds: [{kind: TLSRoute}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata:
  name: gateway-conformance-mixed-passthroughroute
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: gateway-tlsroute-mixed-termination
    sectionName: tls-passthrough
  hostnames: ["abc.example.com"]
  rules:
  - backendRefs:
    - name: tcp-backend
      port: 8443
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata:
  name: gateway-conformance-mixed-terminateroute
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: gateway-tlsroute-mixed-termination
    sectionName: tls-terminate
  hostnames: ["tls.example.com"]
  rules:
  - backendRefs:
    - name: tcp-backend
      port: 3000
---
apiVersion: v1
kind: Service
metadata:
  name: tcp-backend
  namespace: gateway-conformance-infra
spec:
  ports:
  - name: echo-tcp-plain
    port: 3000
    targetPort: 3000
  - name: echo-tcp-tls
    port: 8443
    targetPort: 8443
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: tcp-backend-1
  namespace: gateway-conformance-infra
  labels:
    kubernetes.io/service-name: tcp-backend
addressType: IPv4
ports:
- name: echo-tcp-plain
  port: 3000
- name: echo-tcp-tls
  port: 8443
endpoints:
- addresses: ["127.0.0.1"]
  conditions:
    ready: true
YAML
secret_yaml tls-terminate-checks-certificate "$PKI/terminate" |
	sed 's/^metadata:$/metadata:\n  namespace: gateway-conformance-infra/' >"$MAN/secret.yaml"

# the tcp-backend pod: plain on 3000, TLS (abc.example.com) on 8443
start_tcpserver "$NS" 127.0.0.1:3000 tcp-backend
start_tcpserver "$NS" 127.0.0.1:8443 tcp-backend "$PKI/passthrough.crt" "$PKI/passthrough.key"
start_snigate "$NS" "$MAN" 8883
out=$TMP/out

for v in -tls1_3 -tls1_2; do
	# terminated: the gateway's tls.example.com certificate, plaintext backend
	tls_ask "$NS" 8883 tls.example.com "$out" $v || { show "$out"; fail "terminate $v: s_client"; }
	verified "$out" || { show "$out"; fail "terminate $v: not verified"; }
	[ "$(leaf_cn "$out")" = tls.example.com ] || { show "$out"; fail "terminate $v: leaf $(leaf_cn "$out")"; }
	[ "$(backend_name "$out")" = tcp-backend ] || { show "$out"; fail "terminate $v: no backend"; }
	[ "$(backend_tls "$out")" = false ] || { show "$out"; fail "terminate $v: IS_TLS not false"; }
	ok "tls.example.com $v: terminated, IS_TLS=false"
	# passthrough: the backend's own abc.example.com certificate, SNI intact
	tls_ask "$NS" 8883 abc.example.com "$out" $v || { show "$out"; fail "passthrough $v: s_client"; }
	verified "$out" || { show "$out"; fail "passthrough $v: not verified"; }
	[ "$(leaf_cn "$out")" = abc.example.com ] || { show "$out"; fail "passthrough $v: leaf $(leaf_cn "$out")"; }
	[ "$(backend_tls "$out")" = true ] || { show "$out"; fail "passthrough $v: IS_TLS not true"; }
	[ "$(backend_sni "$out")" = abc.example.com ] || { show "$out"; fail "passthrough $v: backend saw SNI '$(backend_sni "$out")'"; }
	ok "abc.example.com $v: passed through, IS_TLS=true, backend saw SNI abc.example.com"
done

# neither hostname: rejected without a certificate
tls_ask "$NS" 8883 other.example.com "$out"
grep -q 'no peer certificate available' "$out" || { show "$out"; fail "other SNI got a certificate"; }
no_app_data "$out" || fail "other SNI got data"
ok "other.example.com rejected"

# a ClientHello dribbled in small segments to the terminate listener: the
# router peeks until it has the SNI, then OpenSSL reads the very same bytes
if command -v python3 >/dev/null; then
	ip netns exec "$NS" timeout 20 python3 - "$PKI/ca.crt" >"$out" 2>&1 <<'PY'
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[1])
inc, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
obj = ctx.wrap_bio(inc, outb, server_hostname="tls.example.com")
s = socket.create_connection(("127.0.0.1", 8883))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def flush(slow):
    data = outb.read()
    step = 7 if slow else len(data) or 1
    for i in range(0, len(data), step):
        s.sendall(data[i:i + step]); time.sleep(0.002 if slow else 0)
first = True
while True:
    try:
        obj.do_handshake(); flush(False); break
    except ssl.SSLWantReadError:
        flush(first); first = False
        d = s.recv(65536)
        if not d: print("EOF during handshake"); sys.exit(1)
        inc.write(d)
obj.write(b"IS_TLS\nQUIT\n"); flush(False)
buf = b""
while b"\nfalse\n" not in buf and b"\ntrue\n" not in buf:
    try:
        buf += obj.read(4096)
    except ssl.SSLWantReadError:
        d = s.recv(65536)
        if not d: break
        inc.write(d)
    except ssl.SSLZeroReturnError:
        break
print(obj.version(), obj.getpeercert()["subject"], repr(buf))
PY
	grep -q "false" "$out" || { show "$out"; fail "dribbled hello: no plaintext answer"; }
	ok "ClientHello in 7-byte segments: terminated, nothing lost or duplicated"
fi
kill -0 "$SNG_PID" || fail "snigate died"
